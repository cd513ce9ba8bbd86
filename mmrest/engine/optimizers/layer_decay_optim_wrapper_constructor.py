"""Stage-wise / layer-wise learning-rate decay for mmrest's backbones (ResT, ResTv2, CeiT).

The ResTv2 paper fine-tunes UperNet on ADE20K with a stage-wise lr decay of 0.9 (App. C.2),
the recipe of ConvNeXt. mmseg's and mmdet's ``LearningRateDecayOptimizerConstructor`` only
know the parameter names of ConvNeXt, BEiT and MAE; here each backbone names its own ids
(:meth:`~mmrest.models.backbones.MMRestBackbone.layer_id`).
"""
from collections import OrderedDict
from typing import Dict, List, Optional

import torch.nn as nn
from mmengine.dist import get_dist_info
from mmengine.logging import print_log
from mmengine.optim import DefaultOptimWrapperConstructor

from ...models.backbones.base import DECAY_TYPES, MMRestBackbone
from ...registry import register_optim_wrapper_constructor

PARAMWISE_KEYS = ('decay_rate', 'decay_type', 'num_layers')


@register_optim_wrapper_constructor
class ResTLayerDecayOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """Learning-rate decay from the top of an mmrest backbone down to its stem.

    Each parameter gets an id; its lr is ``base_lr * decay_rate ** (num_layers - id)``. The
    backbone gives the ids of its parameters (``layer_id``):

    - ResT / ResTv2, ``stage_wise``: ``stem`` -> 0, ``patch_{i}``, ``stage{i}.*`` and
      ``cwin{i}`` -> i (1-4), the output norm ``norm{i}`` (after stage i + 1) -> i + 1.
    - ResT / ResTv2, ``layer_wise``: ``stem`` -> 0, the k-th block of the backbone (counted
      over all stages from 1) -> k, ``patch_{i}`` -> the id of the first block of stage i,
      ``cwin{i}`` and ``norm{i - 1}`` -> the id of the last block of stage i.
    - CeiT, ``layer_wise`` only: the stem and embeddings -> 0, encoder layer i -> i + 1,
      the class-token attention and final norms -> the number of layers + 1.
    - everything outside the backbone (neck, heads) -> ``num_layers``: the full lr.

    1-D parameters and biases (norms, biases) get no weight decay, as in the backbone's
    ImageNet training. Frozen parameters (``requires_grad=False``) are left out.

    The model may be a whole detector / segmentor / classifier (backbone parameters under
    ``backbone.``) or a bare backbone. Other backbones are rejected rather than silently left
    undecayed.

    ``paramwise_cfg`` keys:

    - ``decay_rate`` (float, required): e.g. 0.9.
    - ``decay_type`` (str): ``'stage_wise'`` (default) or ``'layer_wise'``.
    - ``num_layers`` (int, optional): id of the top; must be at least the largest backbone
      id (for ResT 4 stage-wise, the number of blocks layer-wise) so that no scale exceeds 1.
      Defaults to that largest id + 1. ConvNeXt's and ResTv2's ADE20K recipe uses 6,
      stage-wise.

    Example:
        >>> optim_wrapper = dict(
        >>>     type='OptimWrapper',
        >>>     optimizer=dict(type='AdamW', lr=1.5e-4, weight_decay=0.05),
        >>>     constructor='ResTLayerDecayOptimWrapperConstructor',
        >>>     paramwise_cfg=dict(decay_rate=0.9, decay_type='stage_wise', num_layers=6))
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: Optional[dict] = None) -> None:
        paramwise_cfg = dict(paramwise_cfg or {})
        unknown = sorted(set(paramwise_cfg) - set(PARAMWISE_KEYS))
        if unknown:
            # custom_keys, norm_decay_mult, ... would be silently ignored: say so instead.
            raise ValueError(f'{type(self).__name__} does not support paramwise_cfg keys '
                             f'{unknown}; supported: {list(PARAMWISE_KEYS)}')
        if 'decay_rate' not in paramwise_cfg:
            raise ValueError(f'{type(self).__name__} needs paramwise_cfg.decay_rate '
                             '(e.g. 0.9)')
        decay_rate = float(paramwise_cfg['decay_rate'])
        if not 0.0 < decay_rate <= 1.0:
            raise ValueError(f'decay_rate must be in (0, 1], got {decay_rate}')
        paramwise_cfg.setdefault('decay_type', 'stage_wise')
        if paramwise_cfg['decay_type'] not in DECAY_TYPES:
            raise ValueError(f'Unknown decay_type {paramwise_cfg["decay_type"]!r} for '
                             f'{type(self).__name__}; valid: {", ".join(DECAY_TYPES)}')
        super().__init__(optim_wrapper_cfg, paramwise_cfg)
        self.decay_rate = decay_rate
        self.decay_type: str = paramwise_cfg['decay_type']
        self.num_layers: Optional[int] = paramwise_cfg.get('num_layers')

    # -- groups -----------------------------------------------------------------------------------
    def add_params(self, params: List[dict], module: nn.Module, **kwargs) -> None:
        """Append one param group per (layer id, decay / no decay) to ``params``."""
        backbone = getattr(module, 'backbone', None)
        prefix = 'backbone.' if isinstance(backbone, nn.Module) else ''
        backbone = backbone if prefix else module
        if not isinstance(backbone, MMRestBackbone):
            raise ValueError(f'{type(self).__name__} supports the backbones of mmrest only '
                             f'(ResT / ResTV2 / CeiT), not {type(backbone).__name__}')
        named = list(module.named_parameters())
        # Ids come from the whole backbone, frozen stages included, so that freezing does
        # not shift the numbering.
        ids = {name: backbone.layer_id(name[len(prefix):], self.decay_type)
               for name, _ in named if name.startswith(prefix)}
        max_backbone_id = max(ids.values())
        num_layers = self.num_layers if self.num_layers is not None else max_backbone_id + 1
        if num_layers < max_backbone_id:
            raise ValueError(f'num_layers={num_layers} is below the largest {self.decay_type} '
                             f'backbone id {max_backbone_id}: lr scales would exceed 1')

        groups: Dict[str, dict] = OrderedDict()
        for name, param in named:
            if not param.requires_grad:
                continue  # frozen: nothing to optimise
            layer_id = ids.get(name, num_layers)
            no_decay = param.ndim <= 1 or name.endswith('.bias')
            group_name = f'layer_{layer_id}_{"no_decay" if no_decay else "decay"}'
            if group_name not in groups:
                scale = self.decay_rate**(num_layers - layer_id)
                group = dict(params=[], param_names=[], group_name=group_name, lr_scale=scale)
                if self.base_lr is not None:
                    group['lr'] = self.base_lr * scale
                if self.base_wd is not None:
                    group['weight_decay'] = 0.0 if no_decay else self.base_wd
                groups[group_name] = group
            groups[group_name]['params'].append(param)
            groups[group_name]['param_names'].append(name)

        # Order the groups bottom-up so that the log reads like the network.
        ordered = sorted(groups.values(),
                         key=lambda g: (int(g['group_name'].split('_')[1]), g['group_name']))
        if get_dist_info()[0] == 0:
            print_log(self._summary(ordered, num_layers, prefix), logger='current')
        params.extend(ordered)

    def _summary(self, groups: List[dict], num_layers: int, prefix: str) -> str:
        lines = [f'{type(self).__name__}: {self.decay_type} lr decay {self.decay_rate}, '
                 f'num_layers {num_layers}, base lr {self.base_lr}, base wd {self.base_wd}',
                 f'{"group":<22}{"lr_scale":>10}{"lr":>12}{"wd":>8}{"tensors":>9}  modules']
        for g in groups:
            prefixes = list(
                OrderedDict.fromkeys(
                    _module_prefix(n, prefix, with_block=self.decay_type == 'layer_wise')
                    for n in g['param_names']))
            lr = f'{g["lr"]:.3e}' if 'lr' in g else '-'
            wd = f'{g["weight_decay"]:g}' if 'weight_decay' in g else '-'
            lines.append(f'{g["group_name"]:<22}{g["lr_scale"]:>10.4f}{lr:>12}{wd:>8}'
                         f'{len(g["params"]):>9}  {", ".join(prefixes)}')
        return '\n'.join(lines)


def _module_prefix(name: str, prefix: str, with_block: bool) -> str:
    """Short module path for the log: ``backbone.stage3`` (``backbone.stage3.2`` or
    ``backbone.layers.2`` with ``with_block``), ``backbone.stem``, ``neck``."""
    if not name.startswith(prefix):
        return name.split('.')[0]  # outside the backbone: the top-level module is enough
    parts = name[len(prefix):].split('.')
    depth = 2 if with_block and len(parts) > 2 and parts[1].isdigit() else 1
    return prefix + '.'.join(parts[:depth])
