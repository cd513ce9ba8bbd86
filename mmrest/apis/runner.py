"""Library side of ``tools/train.py`` and ``tools/test.py`` (one code path for mmdet, mmseg and
mmpretrain configs), so that tests call exactly what users run.

Everything that can be checked before the (slow) runner build is checked here and reported as
a :class:`ConfigError` that says what is wrong and how to fix it: a missing config, data root,
annotation file or checkpoint, an unknown ``--cfg-options`` key, ``--amp`` without a GPU, a
checkpoint of another model.
"""
import copy
import difflib
import functools
import os.path as osp
import sys
import time
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Tuple, Union

from mmengine.config import Config, ConfigDict
from mmengine.device import is_cuda_available, is_mlu_available, is_musa_available, is_npu_available
from mmengine.logging import print_log
from mmengine.runner import Runner, find_latest_checkpoint

import mmrest  # noqa: F401  (registries, weights_only-safe checkpoint loading)
from mmrest.checkpoint import (
    CheckpointFileError,
    CheckpointMismatchError,
    is_local_path,
    missing_checkpoint,
)
from mmrest.converters import check_model_fits
from mmrest.utils.configs import resolve_config_path
from mmrest.utils.packages import TASK_PACKAGES, MissingPackageError, require

from .model import scope_of

DELETE_KEY = '_delete_'
# Norm layers that synchronise over the process group: CUDA only in torch.
SYNC_NORMS = ('SyncBN', 'MMSyncBN', 'SyncBatchNorm')


class ConfigError(ValueError):
    """A config, option or path that cannot work, explained."""


# What a user can fix (config, paths, checkpoint files): the tools print it and exit with 2.
USER_ERRORS = (ConfigError, CheckpointMismatchError, CheckpointFileError, MissingPackageError)


def exit_on_user_error(main: Callable[..., int]) -> Callable[..., int]:
    """For a tool's ``main``: an error the user can fix (:data:`USER_ERRORS`) is printed as
    ``error: ...`` without a traceback, and the tool exits with 2."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs) -> int:
        try:
            return main(*args, **kwargs)
        except USER_ERRORS as error:
            print(f'error: {error}', file=sys.stderr)
            return 2
    return wrapper


# ------------------------------------------------------------------------------ config options
def _root(cfg: Any) -> Any:
    # mmengine's Config is no Mapping; its ConfigDict is.
    return cfg._cfg_dict if isinstance(cfg, Config) else cfg


def _lookup(cfg: Any, path: List[str]) -> Tuple[bool, Any]:
    node = _root(cfg)
    for part in path:
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, (list, tuple)) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False, None
    return True, node


def _is_container(node: Any) -> bool:
    return isinstance(node, (Mapping, list, tuple))


def check_cfg_options(cfg: Config, options: Mapping[str, Any]) -> Dict[str, Any]:
    """Check ``--cfg-options`` against ``cfg`` and return them ready for ``merge_from_dict``.

    Every key must hang off a part of the config that exists: a typo in the path
    (``model.backone.arch``) would otherwise add a dead key silently. New leaf keys are fine
    (``model.backbone.with_cp=True``). A key that goes into a plain value replaces it
    (``model.backbone.arch.embed_dims=[...]`` turns ``arch='tiny'`` into a dict), as does a
    dict given for a plain value; mmengine would refuse both with a TypeError.
    """
    prepared: Dict[str, Any] = {}
    for key, value in options.items():
        parts = key.split('.')
        for depth in range(len(parts) - 1):
            found, node = _lookup(cfg, parts[:depth + 1])
            if not found:
                parent = '.'.join(parts[:depth]) or '<config root>'
                _, parent_node = _lookup(cfg, parts[:depth])
                choices = [str(k) for k in parent_node] if isinstance(parent_node,
                                                                     Mapping) else []
                close = difflib.get_close_matches(parts[depth], choices, n=3)
                hint = (f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else
                        ' (--cfg-options adds keys to existing sections only; add new '
                        'sections in a config file that inherits this one)')
                raise ConfigError(f'unknown config key {key!r}: {parent} has no '
                                  f'{parts[depth]!r}{hint}')
            if not _is_container(node):
                prepared['.'.join(parts[:depth + 1] + [DELETE_KEY])] = True
                break
        if isinstance(value, Mapping):
            found, node = _lookup(cfg, parts)
            if found and not isinstance(node, Mapping):
                value = {DELETE_KEY: True, **value}
        prepared[key] = value
    return prepared


def _read_config(path: str) -> Config:
    """``Config.fromfile``; a base config of a task package that is not installed
    (``_base_ = 'mmseg::...'``) raises :class:`MissingPackageError` naming the extra."""
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


def load_config(config: Union[str, Config],
                work_dir: Optional[str] = None,
                cfg_options: Optional[Mapping[str, Any]] = None,
                amp: bool = False,
                resume: Optional[str] = None,
                launcher: str = 'none',
                auto_scale_lr: bool = False) -> Config:
    """Read ``config`` (a path, ``mmrest::NAME`` / ``mmdet::dir/NAME``, or a loaded Config,
    which is copied) and apply the command-line options the tools offer.

    ``resume``: ``'auto'`` for the latest checkpoint of the work dir (none yet: start from the
    beginning), or a checkpoint path.
    """
    if isinstance(config, Config):
        cfg, path = copy.deepcopy(config), config.filename or 'config'
    else:
        try:
            path = resolve_config_path(str(config))
        except FileNotFoundError as error:
            raise ConfigError(str(error)) from error
        if not osp.isfile(path):
            raise ConfigError(f'config file not found: {str(config)!r}')
        cfg = _read_config(path)
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
        optim_wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if optim_wrapper == 'AmpOptimWrapper':
            print_log('AMP is already enabled in the config', logger='current')
        elif optim_wrapper != 'OptimWrapper':
            raise ConfigError(f'--amp needs optim_wrapper.type OptimWrapper, got '
                              f'{optim_wrapper}')
        else:
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if resume == 'auto':
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
    elif resume is not None:
        if not osp.isfile(resume):
            raise ConfigError(missing_checkpoint(resume, '--resume checkpoint'))
        cfg.resume = True
        cfg.load_from = resume
    if auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.auto_scale_lr:
            raise ConfigError('--auto-scale-lr needs auto_scale_lr.base_batch_size in the config')
        cfg.auto_scale_lr.enable = True
    return cfg


# ----------------------------------------------------------------------------- early checks
def _dataset_cfgs(cfg: Config, phases: Tuple[str, ...]) -> Iterator[Tuple[str, ConfigDict]]:
    for phase in phases:
        loader = cfg.get(f'{phase}_dataloader')
        if not loader:
            continue
        stack = [(f'{phase}_dataloader.dataset', loader.get('dataset'))]
        while stack:  # wrappers (RepeatDataset, ConcatDataset, ...) nest datasets
            name, dataset = stack.pop()
            if not isinstance(dataset, Mapping):
                continue
            if 'dataset' in dataset:
                stack.append((f'{name}.dataset', dataset['dataset']))
            for i, sub in enumerate(dataset.get('datasets', []) or []):
                stack.append((f'{name}.datasets.{i}', sub))
            if 'data_root' in dataset or 'ann_file' in dataset:
                yield name, dataset


def check_data_roots(cfg: Config, phases: Tuple[str, ...] = ('train', 'val', 'test')) -> None:
    """Fail before the (slow) model build when a dataset path does not exist."""
    for name, dataset in _dataset_cfgs(cfg, phases):
        root = dataset.get('data_root') or ''
        if is_local_path(root) and not osp.isdir(root):
            raise ConfigError(
                f'dataset root not found: {root!r} ({name}.data_root). Put the data there '
                '(OpenMMLab layout) or point the config at it, e.g. '
                f'--cfg-options {name}.data_root=/path/to/data/. For an offline run, '
                'mmrest.datasets.synthetic writes small COCO- and ADE20K-style sets.')
        if not (root == '' or is_local_path(root)):
            continue
        ann = dataset.get('ann_file')
        if is_local_path(ann) and not osp.isfile(osp.join(root, ann)):
            raise ConfigError(f'annotation file not found: {osp.join(root, ann)!r} '
                              f'({name}.ann_file under data_root)')
        prefix = dataset.get('data_prefix') or {}
        prefixes = prefix.items() if isinstance(prefix, Mapping) else [('', prefix)]
        if not prefix and dataset.get('split'):  # mmpretrain's ImageNet: root/<split>/
            prefixes = [('', dataset['split'])]
        for key, sub in prefixes:
            if is_local_path(sub) and not osp.isdir(osp.join(root, sub)):
                where = f'{name}.data_prefix' + (f'.{key}' if key else '')
                raise ConfigError(f'data folder not found: {osp.join(root, sub)!r} ({where} '
                                  'under data_root)')
    for phase in phases:
        evaluators = cfg.get(f'{phase}_evaluator') or []
        for i, evaluator in enumerate(
                evaluators if isinstance(evaluators, (list, tuple)) else [evaluators]):
            ann = evaluator.get('ann_file') if isinstance(evaluator, Mapping) else None
            if is_local_path(ann) and not osp.isfile(ann):
                where = f'{phase}_evaluator' + (f'.{i}' if isinstance(evaluators, list) else '')
                raise ConfigError(f'annotation file not found: {ann!r} ({where}.ann_file); '
                                  f'point it at the annotations of the {phase} split')


def _pretrained_checkpoints(node: Any, path: str = 'model') -> Iterator[Tuple[str, str]]:
    if isinstance(node, Mapping):
        if node.get('type') == 'Pretrained' and isinstance(node.get('checkpoint'), str):
            yield f'{path}.checkpoint', node['checkpoint']
        for key, value in node.items():
            yield from _pretrained_checkpoints(value, f'{path}.{key}')
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from _pretrained_checkpoints(value, f'{path}.{i}')


def check_checkpoints_exist(cfg: Config) -> None:
    """Pretrained weights (``init_cfg``) and ``load_from`` must exist before training."""
    for where, checkpoint in _pretrained_checkpoints(cfg.get('model')):
        if is_local_path(checkpoint) and not osp.isfile(checkpoint):
            raise ConfigError(missing_checkpoint(checkpoint, 'pretrained checkpoint', where,
                                                 where.rsplit('.', 1)[0]))
    load_from = cfg.get('load_from')
    if is_local_path(load_from) and not osp.isfile(load_from):
        raise ConfigError(missing_checkpoint(load_from) + ' (load_from'
                          f'{", to resume from" if cfg.get("resume") else ""})')


def _accelerator_available() -> bool:
    return (is_cuda_available() or is_npu_available() or is_mlu_available()
            or is_musa_available())


def check_amp(cfg: Config) -> None:
    """mmengine's AmpOptimWrapper (float16 with a GradScaler) asserts a GPU-like device.

    No CPU fallback: under bfloat16 autocast on CPU mmdet's detectors stop in mmcv's CPU NMS,
    which takes float32 only (``speed_suite.py --device cpu --amp`` shows it, docs/benchmarks.md).
    """
    optim_wrapper = cfg.get('optim_wrapper') or {}
    if optim_wrapper.get('type') == 'AmpOptimWrapper' and not _accelerator_available():
        raise ConfigError('mixed precision (--amp, or optim_wrapper.type=AmpOptimWrapper) '
                          'needs a GPU (CUDA, NPU, MLU or MUSA) and none is available; train '
                          'in float32 without --amp on CPU')


# ----------------------------------------------------------------------------- distribution
def _replace_sync_norms(node: Any) -> int:
    count = 0
    if isinstance(node, Mapping):
        if node.get('type') in SYNC_NORMS:
            node['type'] = 'BN'
            count += 1
        for value in node.values():
            count += _replace_sync_norms(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            count += _replace_sync_norms(value)
    return count


def setup_distributed(cfg: Config) -> None:
    """Make ``--launcher pytorch`` (torchrun, ``tools/dist_*.sh``) work without GPUs too.

    mmengine's launcher calls ``torch.cuda.set_device`` and wraps the model with
    ``device_ids=[LOCAL_RANK]``; on CPU the gloo process group is created here (the runner
    then skips its own ``init_dist``), the model is wrapped without device ids, and SyncBN,
    which torch implements for GPUs only, becomes per-process BN.
    """
    if cfg.launcher == 'none' or _accelerator_available():
        return
    if cfg.launcher != 'pytorch':
        raise ConfigError(f'--launcher {cfg.launcher} needs GPUs; without them use '
                          '--launcher pytorch (tools/dist_train.sh, tools/dist_test.sh), which '
                          'runs CPU processes on the gloo backend')
    import torch.distributed as dist
    cfg.env_cfg = cfg.get('env_cfg') or ConfigDict()
    cfg.env_cfg.dist_cfg = dict(backend='gloo')
    cfg.model_wrapper_cfg = dict(type='MMDistributedDataParallel', device_ids=None,
                                 broadcast_buffers=False,
                                 find_unused_parameters=cfg.get('find_unused_parameters', False))
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    replaced = _replace_sync_norms(cfg.get('model'))
    if replaced and dist.get_rank() == 0:
        print_log(f'no GPU: {replaced} SyncBN layer config(s) replaced by BN (statistics per '
                  'process)', logger='current')


def close_distributed() -> None:
    """End the process group of a distributed run (torchrun, slurm, mpi) once its work is done.

    Left to interpreter shutdown, gloo's worker threads can outlive the interpreter and abort the
    process (``terminate called without an active exception``, exit code -6) after a run that
    succeeded; NCCL warns that the group was not destroyed. Every rank calls this, at the end of
    the tools' ``main`` (after rank 0 has printed): a no-op where no group exists.
    """
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _build_runner(cfg: Config) -> Runner:
    visualizer = cfg.get('visualizer')
    if isinstance(visualizer, Mapping) and 'name' in visualizer:
        # mmdet/mmseg name theirs 'visualizer'; visualizers are singletons by name, so a
        # second runner in the same process (train, then test) would get the first one and
        # its save_dir (--show-dir ignored). Hooks find it as the latest instance, not by name.
        visualizer.name = f'{visualizer.name}_{time.time_ns()}'
    if 'runner_type' in cfg:  # mmdet/mmseg configs may name another runner
        from mmengine.registry import RUNNERS
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)


# ------------------------------------------------------------------------------ train / test
def train(cfg: Config) -> Runner:
    """Build the runner of ``cfg`` and train; returns the runner (for its metrics)."""
    phases = ('train', 'val') if cfg.get('val_cfg') is not None else ('train', )
    check_data_roots(cfg, phases)
    check_checkpoints_exist(cfg)
    check_amp(cfg)
    setup_distributed(cfg)
    runner = _build_runner(cfg)
    if cfg.get('resume'):
        # torch's optimizer would otherwise fail on another model's checkpoint with "loaded
        # state dict has a different number of parameter groups".
        checkpoint = cfg.get('load_from') or find_latest_checkpoint(cfg.work_dir)
        if checkpoint is not None:
            check_model_fits(runner.model, checkpoint)
    runner.train()
    return runner


def test(cfg: Config, checkpoint: str, show_dir: Optional[str] = None,
         out: Optional[str] = None, tta: bool = False) -> Dict[str, Any]:
    """Evaluate ``checkpoint`` with the test split of ``cfg``; returns the metrics."""
    if not osp.isfile(checkpoint):
        raise ConfigError(missing_checkpoint(checkpoint))
    check_data_roots(cfg, ('test', ))
    cfg.load_from = checkpoint
    # A config dumped by a resumed training says resume=True: testing loads weights only.
    cfg.resume = False
    if tta:
        _enable_tta(cfg)
    if show_dir is not None:
        _enable_visualization(cfg, show_dir)
    if out is not None:
        if not out.endswith(('.pkl', '.pickle')):
            raise ConfigError(f'--out must be a .pkl or .pickle file, got {out!r}')
        cfg.test_evaluator = _with_dump(cfg, out)
    setup_distributed(cfg)
    runner = _build_runner(cfg)
    check_model_fits(runner.model, checkpoint)
    return runner.test()


def _enable_tta(cfg: Config) -> None:
    """Test-time augmentation as the downstream test tools do it: the config's
    ``tta_pipeline`` feeds its ``tta_model``, which wraps the model."""
    absent = [key for key in ('tta_model', 'tta_pipeline') if key not in cfg]
    if absent:
        raise ConfigError(f'--tta needs {" and ".join(absent)} in the config')
    cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
    cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)


def _enable_visualization(cfg: Config, show_dir: str) -> None:
    """Write prediction images, the way each downstream package's own test tool does it."""
    hook = cfg.get('default_hooks', {}).get('visualization')
    if hook is None:
        raise ConfigError('--show-dir needs default_hooks.visualization in the config')
    show_dir = osp.abspath(show_dir)
    scope = scope_of(cfg)
    if scope == 'mmseg':  # SegVisualizationHook draws through the visualizer's backends
        hook.draw = True
        hook.interval = 1
        cfg.visualizer.save_dir = show_dir
    elif scope == 'mmpretrain':
        hook.enable = True
        hook.interval = 1
        hook.out_dir = show_dir
    else:  # mmdet: test_out_dir is joined to work_dir/timestamp; absolute paths win
        hook.draw = True
        hook.test_out_dir = show_dir


def _with_dump(cfg: Config, out: str) -> List[Any]:
    evaluator = cfg.test_evaluator
    evaluators = list(evaluator) if isinstance(evaluator, (list, tuple)) else [evaluator]
    # mmdet's variant encodes masks as RLE, as mmdet's own test tool writes them.
    dump = 'DumpDetResults' if scope_of(cfg) == 'mmdet' else 'DumpResults'
    return evaluators + [dict(type=dump, out_file_path=out)]
