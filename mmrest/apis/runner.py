"""Library side of ``tools/train.py`` and ``tools/test.py`` (one code path for mmdet, mmseg and
mmpretrain configs), so that tests call exactly what users run.

The config comes from :func:`mmrest.utils.config_loading.load_config`; what can be checked
before the (slow) runner build is checked first (:mod:`.checks`), and a checkpoint of another
model is refused before training resumes from it or testing reads it.
"""
import os.path as osp
import time
from typing import Any, Dict, List, Mapping, Optional

from mmengine.config import Config, ConfigDict
from mmengine.runner import Runner, find_latest_checkpoint

from ..checkpoint import missing_checkpoint
from ..converters import check_model_fits
from ..utils.configs import scope_of
from ..utils.errors import ConfigError
from .checks import check_amp, check_checkpoints_exist, check_data_roots
from .distributed import setup_distributed


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
