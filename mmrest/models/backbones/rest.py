"""ResT (NeurIPS 2021) and ResTv2 (NeurIPS 2022) backbones for OpenMMLab: the OpenMMLab face
(:class:`~.base.MMRestBackbone`) of the networks of :mod:`mmrest.models.networks.rest`, which
hold the construction, the forward and the checkpoint translation."""
from typing import List

import torch.nn as nn

from ...registry import register_model
from ..networks.rest import (
    ATTN_STYLES,
    NUM_STAGES,
    STEM_TYPES,
    ArchSpec,
    ResTNet,
    ResTNetBase,
    ResTV2Net,
    Stage,
    stage_module_names,
)
from ..validation import check_choice
from .base import DECAY_TYPES, BaseModule, MMRestBackbone

__all__ = ['ATTN_STYLES', 'ArchSpec', 'NUM_STAGES', 'ResT', 'ResTBase', 'ResTV2', 'STEM_TYPES',
           'Stage', 'stage_module_names']

# top-level module name -> (stage, role), for the decay ids (cwin{i}: the window-mixing conv
# after stage i)
_MODULE_ROLES = {name: (i, role) for i in range(NUM_STAGES)
                 for role, name in stage_module_names(i).items()}


class ResTBase(MMRestBackbone, ResTNetBase, BaseModule):
    """Common machinery of the ResT and ResTv2 backbones (not registered; use a subclass).

    Args: those of :class:`~mmrest.models.networks.rest.ResTNetBase` (``arch``,
    ``in_channels``, ``out_indices``, ``drop_path_rate``, the attention styles and the papers'
    ablation switches) and of :class:`~.base.MMRestBackbone` (``frozen_stages``,
    ``norm_eval``, ``with_cp``, ``init_cfg``). ``frozen_stages``: -1 freezes nothing, 0 the
    stem, k >= 1 the stem and stages 1..k (their patch embeddings, blocks and output norms).
    """
    num_stages = NUM_STAGES

    # -- training-mode contract ---------------------------------------------------------------
    def frozen_modules(self) -> List[nn.Module]:
        modules: List[nn.Module] = []
        if self.frozen_stages >= 0:
            modules.append(self.stage(0).embed)  # the stem
        for i in range(self.frozen_stages):
            stage = self.stage(i)
            modules += [m for m in (stage.embed if i > 0 else None, stage.blocks, stage.mixer,
                                    stage.norm) if m is not None]
        return modules

    # -- learning-rate decay ----------------------------------------------------------------------
    def layer_id(self, name: str, decay_type: str) -> int:
        """By the stage (0-based i) a parameter belongs to. ``stage_wise``: the stem 0,
        everything else of stage i i + 1. ``layer_wise``: the stem 0, the k-th block over all
        stages k, the patch embedding of stage i the id of its first block, its CWin conv and
        output norm that of its last one."""
        check_choice('decay_type', decay_type, DECAY_TYPES)
        top, _, rest = name.partition('.')
        if top not in _MODULE_ROLES or not rest:
            raise ValueError(f'{type(self).__name__} has no decay id for {name!r}')
        stage, role = _MODULE_ROLES[top]
        if role == 'embed' and stage == 0:
            return 0  # the stem
        if decay_type == 'stage_wise':
            return stage + 1
        before = sum(self.depths[:stage])
        if role == 'blocks':
            return before + int(rest.split('.')[0]) + 1
        return before + (1 if role == 'embed' else self.depths[stage])



@register_model
class ResT(ResTBase, ResTNet):
    """ResT (v1): "ResT: An Efficient Transformer for Visual Recognition", NeurIPS 2021.

    Stem conv3x3 s2 / conv3x3 s1 / conv3x3 s2 + PA, patch embeddings conv -> BN -> PA, EMSA
    with multi-head interaction (1x1 conv + InstanceNorm over heads), LayerNorm eps 1e-5.
    Presets ``lite``, ``small`` (default), ``base``, ``large`` (ImageNet 10.51M / 13.68M /
    30.33M / 51.68M parameters with the classifier).
    """


@register_model
class ResTV2(ResTBase, ResTV2Net):
    """ResTv2: "ResT V2: Simpler, Faster and Stronger", NeurIPS 2022.

    Stem conv3x3 s2 / conv3x3 s2 / conv1x1 + PA + LN, patch embeddings conv -> PA -> LN,
    EMSAv2 (no head interaction, upsample branch on V), LayerNorm eps 1e-6.
    Presets ``tiny`` (default), ``small``, ``base``, ``large`` (ImageNet 30.43M / 41.21M /
    55.97M / 86.53M parameters with the classifier).
    """
