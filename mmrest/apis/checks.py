"""Pre-run checks of ``tools/train.py`` and ``tools/test.py``: everything that can be checked
before the (slow) runner build fails here with a :class:`ConfigError` that says what is wrong
and how to fix it: a missing data root, annotation file or checkpoint, ``--amp`` without a GPU."""
import os.path as osp
from typing import Any, Iterator, Mapping, Tuple

from mmengine.config import Config, ConfigDict
from mmengine.device import is_cuda_available, is_mlu_available, is_musa_available, is_npu_available

from ..checkpoint import is_local_path, missing_checkpoint
from ..utils.errors import ConfigError


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


def accelerator_available() -> bool:
    """A GPU-like device (CUDA, NPU, MLU or MUSA) that mmengine can run on."""
    return (is_cuda_available() or is_npu_available() or is_mlu_available()
            or is_musa_available())


def check_amp(cfg: Config) -> None:
    """mmengine's AmpOptimWrapper (float16 with a GradScaler) asserts a GPU-like device.

    No CPU fallback: under bfloat16 autocast on CPU mmdet's detectors stop in mmcv's CPU NMS,
    which takes float32 only (``speed_suite.py --device cpu --amp`` shows it, docs/benchmarks.md).
    """
    optim_wrapper = cfg.get('optim_wrapper') or {}
    if optim_wrapper.get('type') == 'AmpOptimWrapper' and not accelerator_available():
        raise ConfigError('mixed precision (--amp, or optim_wrapper.type=AmpOptimWrapper) '
                          'needs a GPU (CUDA, NPU, MLU or MUSA) and none is available; train '
                          'in float32 without --amp on CPU')

