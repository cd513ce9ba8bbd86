"""Library side of ``tools/train.py`` and ``tools/test.py`` (one code path for mmdet, mmseg and
mmpretrain configs), so that tests call exactly what users run."""
import difflib
import os
import os.path as osp
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple

import torch
from mmengine.config import Config, ConfigDict
from mmengine.runner import Runner

import mmrest  # noqa: F401  (registries, weights_only-safe checkpoint loading)
from mmrest.utils.checkpoint_io import load_from_local


class ConfigError(ValueError):
    """A config, option or path that cannot work, explained."""


def _lookup(cfg: Any, path: List[str]) -> Tuple[bool, Any]:
    node = cfg
    for part in path:
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, (list, tuple)) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False, None
    return True, node


def check_cfg_options(cfg: Config, options: Mapping[str, Any]) -> None:
    """Every ``--cfg-options`` key must hang off a part of the config that exists: a typo in
    the path (``model.backone.arch``) would otherwise add a dead key silently. New leaf keys
    are fine (``model.backbone.with_cp=True``)."""
    for key in options:
        parts = key.split('.')
        for depth in range(len(parts) - 1):
            found, node = _lookup(cfg, parts[:depth + 1])
            if found:
                continue
            parent = '.'.join(parts[:depth]) or '<config root>'
            _, parent_node = _lookup(cfg, parts[:depth])
            choices = list(parent_node.keys()) if isinstance(parent_node, Mapping) else []
            close = difflib.get_close_matches(parts[depth], choices, n=3)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ''
            raise ConfigError(f'unknown config key {key!r}: {parent} has no {parts[depth]!r}'
                              f'{hint}')


def load_config(config: str,
                work_dir: Optional[str] = None,
                cfg_options: Optional[Dict[str, Any]] = None,
                amp: bool = False,
                resume: Optional[str] = None,
                launcher: str = 'none',
                auto_scale_lr: bool = False) -> Config:
    """Read ``config`` and apply the command-line options the tools offer."""
    if not osp.isfile(config):
        raise ConfigError(f'config file not found: {config!r}')
    cfg = Config.fromfile(config)
    if cfg_options:
        check_cfg_options(cfg, cfg_options)
        cfg.merge_from_dict(cfg_options)
    cfg.launcher = launcher
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(config))[0])
    if amp:
        optim_wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if optim_wrapper == 'AmpOptimWrapper':
            print('AMP is already enabled in the config')
        else:
            if optim_wrapper != 'OptimWrapper':
                raise ConfigError(f'--amp needs optim_wrapper.type OptimWrapper, got '
                                  f'{optim_wrapper}')
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif resume is not None:
        cfg.resume = True
        cfg.load_from = resume
    if auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.auto_scale_lr:
            raise ConfigError('--auto-scale-lr needs auto_scale_lr.base_batch_size in the config')
        cfg.auto_scale_lr.enable = True
    return cfg


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
        if root and not osp.isdir(root):
            raise ConfigError(
                f'dataset root not found: {root!r} ({name}.data_root, from the config). '
                'Put the data there (OpenMMLab layout) or point the config at it, e.g. '
                f'--cfg-options {name}.data_root=/path/to/data/. For a quick offline run, '
                'tools/demo.py generates a synthetic dataset.')
        ann = dataset.get('ann_file')
        if ann and not osp.exists(osp.join(root, ann)):
            raise ConfigError(f'annotation file not found: {osp.join(root, ann)!r} '
                              f'({name}.ann_file under data_root)')


def setup_distributed(cfg: Config) -> None:
    """CPU-only machines: torchrun works too, with gloo instead of nccl.

    mmengine's launcher insists on ``torch.cuda.set_device``; when no GPU is present the
    process group is created here and the model is wrapped without device ids.
    """
    if cfg.launcher == 'none' or torch.cuda.is_available():
        return
    import torch.distributed as dist
    cfg.env_cfg = cfg.get('env_cfg', ConfigDict())
    cfg.env_cfg.dist_cfg = dict(backend='gloo')
    cfg.model_wrapper_cfg = dict(type='MMDistributedDataParallel', device_ids=None,
                                 broadcast_buffers=False,
                                 find_unused_parameters=cfg.get('find_unused_parameters', False))
    if cfg.launcher == 'pytorch' and not dist.is_initialized():
        dist.init_process_group(backend='gloo')


def train(cfg: Config) -> Runner:
    """Build the runner of ``cfg`` and train; returns the runner (for its metrics)."""
    check_data_roots(cfg, ('train', 'val') if cfg.get('val_cfg') else ('train', ))
    setup_distributed(cfg)
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner


def check_checkpoint_fits(model: torch.nn.Module, checkpoint: str) -> None:
    """Refuse a checkpoint that belongs to another model, instead of testing random weights
    (mmengine only warns about missing keys and shape mismatches)."""
    if not osp.isfile(checkpoint):
        raise ConfigError(f'checkpoint not found: {checkpoint!r}')
    loaded = load_from_local(checkpoint, map_location='cpu')
    state = loaded.get('state_dict', loaded) if isinstance(loaded, Mapping) else None
    if not isinstance(state, Mapping):
        raise ConfigError(f'{checkpoint} holds no state dict')
    own = getattr(model, 'module', model).state_dict()
    state = {k[len('module.'):] if k.startswith('module.') else k: v for k, v in state.items()}
    mismatched = [k for k, v in state.items()
                  if k in own and hasattr(v, 'shape') and v.shape != own[k].shape]
    missing = [k for k in own if k not in state]
    if mismatched or len(missing) > len(own) // 2:
        detail = (f'{len(mismatched)} tensors have other shapes (e.g. {mismatched[:3]})'
                  if mismatched else f'{len(missing)} of {len(own)} tensors are missing '
                  f'(e.g. {missing[:3]})')
        raise ConfigError(f'{checkpoint} does not fit the model of this config: {detail}. '
                          'Is it the checkpoint of another config?')


def test(cfg: Config, checkpoint: str, show_dir: Optional[str] = None,
         out: Optional[str] = None) -> Dict[str, float]:
    """Evaluate ``checkpoint`` with the test split of ``cfg``; returns the metrics."""
    check_data_roots(cfg, ('test', ))
    cfg.load_from = checkpoint
    if show_dir is not None:
        _enable_visualization(cfg, show_dir)
    if out is not None:
        cfg.test_evaluator = _with_dump(cfg.test_evaluator, out)
    setup_distributed(cfg)
    runner = Runner.from_cfg(cfg)
    check_checkpoint_fits(runner.model, checkpoint)
    return runner.test()


def _enable_visualization(cfg: Config, show_dir: str) -> None:
    """Write prediction images, the way each downstream package's own test tool does it."""
    hook = cfg.get('default_hooks', {}).get('visualization')
    if hook is None:
        raise ConfigError('--show-dir needs default_hooks.visualization in the config')
    show_dir = osp.abspath(show_dir)
    scope = cfg.get('default_scope', 'mmdet')
    if scope == 'mmseg':
        hook.draw = True
        hook.interval = 1
        cfg.visualizer.save_dir = show_dir
    elif scope == 'mmpretrain':
        hook.enable = True
        hook.out_dir = show_dir
    else:  # mmdet: test_out_dir is joined to work_dir/timestamp; absolute paths win
        hook.draw = True
        hook.test_out_dir = show_dir


def _with_dump(evaluator: Any, out: str) -> list:
    evaluators = list(evaluator) if isinstance(evaluator, (list, tuple)) else [evaluator]
    return evaluators + [dict(type='DumpResults', out_file_path=out)]
