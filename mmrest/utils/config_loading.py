"""Reading a config the way every mmrest tool does: ``mmrest::NAME`` / ``pkg::dir/NAME`` paths,
checked ``--cfg-options`` and the runner options of ``tools/train.py`` and ``tools/test.py``,
with a :class:`ConfigError` that says what is wrong and how to fix it."""
import copy
import os.path as osp
from typing import TYPE_CHECKING, Any, Mapping, Optional, Union

from .cfg_options import check_cfg_options
from .configs import resolve_config_path, scope_of
from .errors import ConfigError
from .packages import TASK_PACKAGES, require
from .paths import missing_checkpoint

if TYPE_CHECKING:  # mmengine is imported where it is used: mmrest.utils needs torch alone
    from mmengine.config import Config


def read_config(path: str) -> 'Config':
    """``Config.fromfile``; a base config of a task package that is not installed
    (``_base_ = 'mmseg::...'``) raises :class:`MissingPackageError` naming the extra."""
    from mmengine.config import Config

    try:
        return Config.fromfile(path)
    except ModuleNotFoundError as error:
        # mmengine: '<distribution> is not installed, please install ...'
        named = str(error).split(' ', 1)[0]
        missing = next((package for package, info in TASK_PACKAGES.items()
                        if named in (package, info.distribution)), None)
        if missing is None:
            raise
        require(missing, f'the config {path}')
        raise


def load_config(config: Union[str, 'Config'],
                work_dir: Optional[str] = None,
                cfg_options: Optional[Mapping[str, Any]] = None,
                amp: bool = False,
                resume: Optional[str] = None,
                launcher: str = 'none',
                auto_scale_lr: bool = False) -> 'Config':
    """Read ``config`` (a path, ``mmrest::NAME`` / ``mmdet::dir/NAME``, or a loaded Config,
    which is copied) and apply the command-line options the tools offer.

    ``resume``: ``'auto'`` for the latest checkpoint of the work dir (none yet: start from the
    beginning), or a checkpoint path.
    """
    from mmengine.config import Config

    if isinstance(config, Config):
        cfg, path = copy.deepcopy(config), config.filename or 'config'
    else:
        try:
            path = resolve_config_path(str(config))
        except FileNotFoundError as error:
            raise ConfigError(str(error)) from error
        if not osp.isfile(path):
            raise ConfigError(f'config file not found: {str(config)!r}')
        cfg = read_config(path)
    require(scope_of(cfg), f'the config {path}')
    if cfg_options:
        options = check_cfg_options(cfg, cfg_options)
        try:
            cfg.merge_from_dict(options)
        except (TypeError, KeyError) as error:
            raise ConfigError(f'cannot apply --cfg-options: {error}') from error
    cfg.launcher = launcher
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(path))[0])
    if amp:
        _enable_amp(cfg)
    if resume is not None:
        _set_resume(cfg, resume)
    if auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.auto_scale_lr:
            raise ConfigError('--auto-scale-lr needs auto_scale_lr.base_batch_size in the config')
        cfg.auto_scale_lr.enable = True
    return cfg


def _enable_amp(cfg: 'Config') -> None:
    from mmengine.logging import print_log

    optim_wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if optim_wrapper == 'AmpOptimWrapper':
        print_log('AMP is already enabled in the config', logger='current')
    elif optim_wrapper != 'OptimWrapper':
        raise ConfigError(f'--amp needs optim_wrapper.type OptimWrapper, got {optim_wrapper}')
    else:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')


def _set_resume(cfg: 'Config', resume: str) -> None:
    if resume == 'auto':
        from mmengine.logging import print_log
        from mmengine.runner import find_latest_checkpoint

        latest = find_latest_checkpoint(cfg.work_dir)
        if latest is not None:
            cfg.resume = True
            cfg.load_from = latest
        else:
            # A first launch with --resume (preemptible jobs always pass it) starts afresh,
            # from the config's load_from if any (e.g. the 224 model of a 384 fine-tuning).
            cfg.resume = False
            print_log(f'--resume: no checkpoint in {cfg.work_dir} yet, training starts from '
                      'the beginning', logger='current')
        return
    if not osp.isfile(resume):
        raise ConfigError(missing_checkpoint(resume, '--resume checkpoint'))
    cfg.resume = True
    cfg.load_from = resume
