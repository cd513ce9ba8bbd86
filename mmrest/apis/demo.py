"""The built-in demo (the README's first command, ``python tools/demo.py``).

Offline, on the CPU, in a few minutes:

1. generate the synthetic instance-segmentation set of the demo config
   (:func:`mmrest.datasets.prepare_synthetic_coco`; reused when it is there with the same
   parameters);
2. initialise the Mask R-CNN + ResTv2 of ``configs/demo/mask_rcnn_restv2_synthetic.py``, save
   the weights (``iter_0.pth``) and evaluate them with mmdet's COCO metric (bbox and segm)
   through :func:`mmrest.apis.test`, the code path of ``tools/test.py``;
3. train from those weights through :func:`mmrest.apis.train` (``tools/train.py``);
4. evaluate the trained model the same way and draw its predictions on the val images;
5. print and save (``demo_summary.json``) a before/after summary.

Its command line is ``tools/demo.py``. Tests run :func:`run_demo` with ``quick=True``: every
stage on a handful of images.
"""
import copy
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from mmengine.config import Config

from ..datasets import SyntheticCocoInfo, prepare_synthetic_coco
from ..utils.aliases import PathLike
from ..utils.build import build_model, count_parameters
from ..utils.config_loading import load_config
from ..utils.configs import config_dir
from ..utils.errors import ConfigError
from .runner import test, train

__all__ = [
    'DEFAULT_CONFIG', 'DEFAULT_WORK_DIR', 'QUICK_DATA', 'QUICK_ITERS', 'DemoSummary',
    'demo_data_params', 'default_data_root', 'configure_demo', 'set_train_iters',
    'save_initial_checkpoint', 'evaluate', 'run_demo'
]

# mmrest::demo/mask_rcnn_restv2_synthetic.py: the checkout's configs/ or a wheel's copy.
DEFAULT_CONFIG = str(config_dir() / 'demo' / 'mask_rcnn_restv2_synthetic.py')
DEFAULT_WORK_DIR = 'work_dirs/demo'
# ``quick``: every stage once on a few images; far too short to learn anything.
QUICK_DATA = dict(num_train=8, num_val=4)
QUICK_ITERS = 4
QUICK_BATCH_SIZE = 2

SUMMARY_FILE = 'demo_summary.json'
# Rows of the printed table: mmdet CocoMetric results, under their 'coco/' prefix.
SUMMARY_METRICS = ('bbox_mAP', 'bbox_mAP_50', 'bbox_mAP_75', 'segm_mAP', 'segm_mAP_50',
                   'segm_mAP_75')


def _say(message: str) -> None:
    # Flushed, so that the stage messages appear in order with mmengine's log lines.
    print(f'\n[demo] {message}', flush=True)


def _shown(path: PathLike) -> str:
    """``path`` relative to the working directory when it is under it, else absolute."""
    path = Path(os.path.abspath(path))
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


# --------------------------------------------------------------------------------------------
# Config
# --------------------------------------------------------------------------------------------
def demo_data_params(cfg: Config, quick: bool = False) -> Dict[str, Any]:
    """The config's ``synthetic_data`` dict (arguments of :func:`prepare_synthetic_coco`),
    with a handful of images for ``quick``."""
    params = dict(cfg.get('synthetic_data') or {})
    if not {'num_train', 'num_val', 'image_size'} <= set(params):
        raise ConfigError('the demo config needs a synthetic_data dict with num_train, num_val '
                          'and image_size (optionally seed and classes)')
    if quick:
        params.update(QUICK_DATA)
    return params


def default_data_root(cfg: Config, quick: bool = False) -> str:
    """The config's ``data_root``; a sibling folder for ``quick``, so that a quick run never
    replaces the full set (nor the other way round)."""
    root = str(cfg.get('data_root') or 'data/synthetic_coco').rstrip('/')
    return root + '_quick' if quick else root


def set_train_iters(cfg: Config, iters: int) -> None:
    """Change the length of an iteration-based schedule and what is tied to it: schedulers
    ending at the last iteration (others are cut there), the final checkpoint and
    validation."""
    if cfg.train_cfg.get('type') != 'IterBasedTrainLoop':
        raise ConfigError('the number of iterations can only be set for an IterBasedTrainLoop')
    if not isinstance(iters, int) or iters < 1:
        raise ConfigError(f'the number of iterations must be a positive int, got {iters!r}')
    old = cfg.train_cfg.max_iters
    cfg.train_cfg.max_iters = iters
    if cfg.train_cfg.get('val_interval') == old:
        cfg.train_cfg.val_interval = iters
    schedulers = cfg.get('param_scheduler') or []
    for scheduler in schedulers if isinstance(schedulers, list) else [schedulers]:
        if scheduler.get('by_epoch', True) or 'end' not in scheduler:
            continue
        scheduler.end = iters if scheduler.end == old else min(scheduler.end, iters)
        if scheduler.get('T_max') is not None:
            scheduler.T_max = scheduler.end - scheduler.get('begin', 0)
    checkpoint = cfg.default_hooks.get('checkpoint')
    if checkpoint is not None and checkpoint.get('interval') == old:
        checkpoint.interval = iters


def _set_dataset(dataloader_cfg: Config, info: SyntheticCocoInfo, split: str) -> None:
    dataset = dataloader_cfg.dataset
    while 'dataset' in dataset:  # through wrappers such as RepeatDataset
        dataset = dataset.dataset
    dataset.update(info.dataset_kwargs(split))


def configure_demo(cfg: Config, info: SyntheticCocoInfo, iters: Optional[int] = None,
                   quick: bool = False) -> Config:
    """Point the demo config at ``info``'s data (test split: its val split) and set the
    schedule; in place, ``cfg`` is returned.

    In-training validation is switched off: the demo evaluates the final model itself, with
    prediction images, and validating would do the same work once more.
    """
    heads = cfg.model.roi_head
    num_classes = {heads.bbox_head.num_classes, heads.mask_head.num_classes}
    if num_classes != {len(info.classes)}:
        raise ConfigError(f'the heads of the demo config have {sorted(num_classes)} classes, '
                          f'the data {len(info.classes)} ({", ".join(info.classes)})')
    _set_dataset(cfg.train_dataloader, info, 'train')
    _set_dataset(cfg.test_dataloader, info, 'val')
    cfg.test_evaluator.ann_file = str(info.ann_files['val'])
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    if quick:
        iters = iters or QUICK_ITERS
        cfg.train_dataloader.batch_size = QUICK_BATCH_SIZE
        cfg.default_hooks.logger.interval = 1
        for phase in ('train', 'test'):  # no worker start-up for a handful of images
            cfg[f'{phase}_dataloader'].num_workers = 0
            cfg[f'{phase}_dataloader'].persistent_workers = False
    if iters is not None:
        set_train_iters(cfg, iters)
    return cfg


# --------------------------------------------------------------------------------------------
# Stages
# --------------------------------------------------------------------------------------------
def save_initial_checkpoint(cfg: Config, path: PathLike) -> str:
    """Build the model of ``cfg`` under its seed, initialise it as training would and save it.

    This is the untrained model evaluated before training; training then starts from it
    (``load_from``), so "before" is exactly where training began.
    """
    from mmengine.runner import save_checkpoint, set_random_seed, weights_to_cpu

    seed = cfg.get('randomness', {}).get('seed')
    if seed is not None:
        set_random_seed(seed)
    model, _ = build_model(cfg)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(
        dict(meta=dict(epoch=0, iter=0, seed=seed, note='untrained weights (mmrest demo)'),
             state_dict=weights_to_cpu(model.state_dict())), str(path))
    return str(path)


def evaluate(cfg: Config, checkpoint: PathLike, work_dir: PathLike,
             show_dir: Optional[PathLike] = None) -> Dict[str, float]:
    """COCO metrics of ``checkpoint`` on the test split through :func:`mmrest.apis.test` (the
    code path of ``tools/test.py``); its log goes to ``work_dir``, drawings to ``show_dir``."""
    cfg = copy.deepcopy(cfg)
    cfg.work_dir = str(work_dir)
    # The config and environment dumps of every further runner would bury the demo's output;
    # warnings still show, and pycocotools prints its tables.
    cfg.log_level = 'WARNING'
    if show_dir is not None and Path(show_dir).is_dir():
        shutil.rmtree(show_dir)  # drawings of an earlier run would be counted with these
    metrics = test(cfg, str(checkpoint), show_dir=None if show_dir is None else str(show_dir))
    return {k: float(v) for k, v in metrics.items()}


def _last_checkpoint(work_dir: Path, iters: int) -> str:
    # CheckpointHook writes the path of the checkpoint it saved last to ``last_checkpoint``.
    pointer = work_dir / 'last_checkpoint'
    if pointer.is_file() and Path(pointer.read_text().strip()).is_file():
        return pointer.read_text().strip()
    path = work_dir / f'iter_{iters}.pth'
    if not path.is_file():
        raise FileNotFoundError(f'training saved no checkpoint in {work_dir}')
    return str(path)


# --------------------------------------------------------------------------------------------
# Summary
# --------------------------------------------------------------------------------------------
@dataclass
class DemoSummary:
    """What the demo did and measured; saved as ``demo_summary.json`` in the work dir.

    ``before`` and ``after`` hold mmdet's CocoMetric results (``'coco/bbox_mAP'``,
    ``'coco/segm_mAP'``, ...) of the untrained and the trained model on the val split.
    """

    config: str
    data_root: str
    classes: List[str]
    image_size: List[int]
    num_train_images: int
    num_val_images: int
    iters: int
    batch_size: int
    num_params: int
    before: Dict[str, float]
    after: Dict[str, float]
    train_time_s: float
    total_time_s: float
    work_dir: str
    initial_checkpoint: str
    checkpoint: str
    log_dir: str
    show_dir: str
    num_prediction_images: int
    data_generated: bool
    quick: bool

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    def format(self) -> str:
        """The report printed at the end of the demo."""
        h, w = self.image_size
        rule = '=' * 78
        lines = [
            rule,
            'mmrest demo: Mask R-CNN + ResTv2 trained from scratch on synthetic shapes (CPU)',
            rule,
            f'data         {self.data_root}: {self.num_train_images} train / '
            f'{self.num_val_images} val images of {h}x{w}; {", ".join(self.classes)}',
            f'model        {self.config} ({self.num_params / 1e6:.2f}M parameters)',
            f'training     {self.iters} iterations x {self.batch_size} images in '
            f'{_duration(self.train_time_s)}',
            '',
            f'{"COCO metric (val)":<20}{"untrained":>12}{"trained":>12}',
        ]
        for name in SUMMARY_METRICS:
            key = f'coco/{name}'
            if key in self.before or key in self.after:
                lines.append(f'{name:<20}{_fmt(self.before.get(key)):>12}'
                             f'{_fmt(self.after.get(key)):>12}')
        lines += [
            '',
            f'checkpoints  {self.checkpoint} (untrained: {self.initial_checkpoint})',
            f'logs         {self.log_dir}',
            f'predictions  {self.show_dir} ({self.num_prediction_images} images: ground truth '
            'left, prediction right)',
            f'summary      {os.path.join(self.work_dir, SUMMARY_FILE)}',
            f'total time   {_duration(self.total_time_s)}',
        ]
        if self.quick:
            lines.append('(--quick: every stage on a few images, too short to learn anything)')
        lines.append(rule)
        return '\n'.join(lines)


def _fmt(value: Optional[float]) -> str:
    return '-' if value is None else f'{value:.3f}'


def _duration(seconds: float) -> str:
    minutes, sec = divmod(int(round(seconds)), 60)
    return f'{minutes} min {sec:02d} s' if minutes else f'{seconds:.1f} s'


# --------------------------------------------------------------------------------------------
# The whole demo
# --------------------------------------------------------------------------------------------
def run_demo(work_dir: PathLike = DEFAULT_WORK_DIR,
             data_root: Optional[PathLike] = None,
             iters: Optional[int] = None,
             quick: bool = False,
             config: PathLike = DEFAULT_CONFIG,
             say: Callable[[str], None] = _say) -> DemoSummary:
    """Run the demo (see the module docstring) and return its summary.

    Args:
        work_dir: Checkpoints, logs, evaluation logs, prediction images and the summary.
        data_root: The synthetic set, generated if missing; default: the config's
            ``data_root`` (``data/synthetic_coco``; ``..._quick`` with ``quick``).
        iters: Training iterations; default: the config's (:data:`QUICK_ITERS` with
            ``quick``).
        quick: Every stage on a few images (tests); too short to learn anything.
        config: The demo config, with a ``synthetic_data`` dict describing its data.
        say: Prints the stage messages.
    """
    start = time.perf_counter()
    work_dir = Path(work_dir)
    cfg = load_config(str(config), work_dir=str(work_dir))
    data_params = demo_data_params(cfg, quick)
    data_root = default_data_root(cfg, quick) if data_root is None else data_root

    say(f'1/4 Synthetic data: {data_params["num_train"]} train and {data_params["num_val"]} val '
        f'images in {_shown(data_root)}')
    info, generated = prepare_synthetic_coco(data_root, **data_params)
    say(f'{"Generated" if generated else "Reused (same parameters)"}: {info.summary()}')
    configure_demo(cfg, info, iters=iters, quick=quick)
    iters = cfg.train_cfg.max_iters
    batch_size = cfg.train_dataloader.batch_size

    initial = save_initial_checkpoint(cfg, work_dir / 'iter_0.pth')
    say(f'2/4 Evaluating the untrained model (random weights, saved as {_shown(initial)}) on '
        f'the {info.num_images["val"]} val images: COCO bbox and segm mAP')
    before = evaluate(cfg, initial, work_dir / 'eval_untrained')

    say(f'3/4 Training it on the CPU: {iters} iterations of {batch_size} images (the code path '
        f'of tools/train.py; losses logged every {cfg.default_hooks.logger.interval} '
        'iterations)')
    train_cfg = copy.deepcopy(cfg)
    train_cfg.load_from = initial  # start exactly from the weights evaluated above
    train_start = time.perf_counter()
    runner = train(train_cfg)
    train_time = time.perf_counter() - train_start
    num_params = count_parameters(runner.model)
    log_dir = runner.log_dir
    del runner
    checkpoint = _last_checkpoint(work_dir, iters)

    show_dir = work_dir / 'predictions'
    say(f'4/4 Evaluating the trained model ({_shown(checkpoint)}) and drawing its predictions '
        f'into {_shown(show_dir)}')
    after = evaluate(cfg, checkpoint, work_dir / 'eval_trained', show_dir=show_dir)

    summary = DemoSummary(
        config=_shown(config), data_root=_shown(info.root), classes=list(info.classes),
        image_size=list(info.image_size), num_train_images=info.num_images['train'],
        num_val_images=info.num_images['val'], iters=iters, batch_size=batch_size,
        num_params=num_params, before=before, after=after, train_time_s=round(train_time, 1),
        total_time_s=round(time.perf_counter() - start, 1), work_dir=_shown(work_dir),
        initial_checkpoint=_shown(initial), checkpoint=_shown(checkpoint),
        log_dir=_shown(log_dir), show_dir=_shown(show_dir),
        num_prediction_images=sum(1 for p in show_dir.iterdir() if p.is_file())
        if show_dir.is_dir() else 0,
        data_generated=generated, quick=quick)
    (work_dir / SUMMARY_FILE).write_text(json.dumps(summary.to_dict(), indent=2) + '\n')
    return summary
