"""The ResT (NeurIPS 2021) and ResTv2 (NeurIPS 2022) networks, with torch alone.

One implementation serves both versions: :class:`ResTNetBase` builds the stages and output
norms and runs them; :class:`ResTNet` and :class:`ResTV2Net` choose stems, patch embeddings,
attention flavour and presets. Every face subclasses one of them: the OpenMMLab backbones
(:mod:`mmrest.models.backbones`) and the classifiers of plain PyTorch and timm
(:mod:`.classifier`).
"""
import math
from typing import Any, ClassVar, Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp

from ...checkpoint import LoadReport, StateDict, adapt_rest_state_dict, describe_arch
from ...utils.aliases import Size2d
from ..layers import (
    ConvStem,
    IdentityInitDWConv,
    PatchEmbed,
    PatchifyStem,
    ResNetStem,
    ResTBlock,
    build_pos_embed,
    tokens_to_map,
)
from ..validation import check_batch, check_choice, check_out_indices, check_rate
from .base import NetworkBase

ArchSpec = Union[str, Dict[str, Sequence[int]]]

NUM_STAGES = 4
ATTN_STYLES = ('global', 'win', 'cwin', 'hwin')
STEM_TYPES = ('rest', 'pvt', 'resnet')


class Stage(NamedTuple):
    """The modules of stage i (0-based): what ``ResTNetBase.stage(i)`` returns."""
    embed: nn.Module  # the stem (stage 0) or the patch embedding that starts the stage
    blocks: nn.ModuleList
    mixer: Optional[nn.Module]  # attn_style='cwin': the conv that mixes windows after it
    norm: Optional[nn.Module]  # the LayerNorm on its output, when it is an output


def stage_module_names(index: int) -> Dict[str, str]:
    """The attribute (and checkpoint key) names of stage ``index``'s modules: the authors' and
    mmrest's files name them stem / patch_2..4, stage1..4, cwin1..4 and norm0..3."""
    return dict(embed='stem' if index == 0 else f'patch_{index + 1}',
                blocks=f'stage{index + 1}', mixer=f'cwin{index + 1}', norm=f'norm{index}')


class ResTNetBase(NetworkBase):
    """The network of ResT and ResTv2 (not used alone; use a version's subclass).

    Args:
        arch: preset name (see ``arch_zoo``) or a dict with ``embed_dims``, ``depths`` and
            ``num_heads`` (optionally ``sr_ratios`` and ``mlp_ratio``), four entries each.
        in_channels: image channels.
        out_indices: stages (0-3; negative ones count from the end) whose outputs are
            returned, each as an NCHW map after its own LayerNorm over channels.
        drop_path_rate: stochastic depth, rising linearly from 0 over all blocks.
        drop_rate, attn_drop_rate: dropout after projections / on attention weights.
        qkv_bias: bias of the query and key/value projections.
        attn_style: 'global' (as trained on ImageNet), or for fine-tuning at high resolution
            (ResTv2 paper Sec. 5.1): 'win' (every block attends within windows), 'cwin' (win +
            a depth-wise 3x3 conv after each stage, initialised as identity), 'hwin' (windows
            except in the last block of each stage).
        window_size: window side in tokens per stage (or one int for all stages).
        fused_attn: use ``F.scaled_dot_product_attention`` where the math allows (same
            results; False keeps the explicit softmax(QK^T)V).
        norm_in_trunk: the output LayerNorm of a stage also normalises what the next stage
            receives, as in the authors' detectron2 ResT (v1) detectors; False (default): it
            only normalises the output, as in the classifiers and every ResTv2 model.

        The papers' ablation switches (defaults: the published models, whose checkpoints load):
        stem_type: 'rest' (the version's stem), 'pvt' (conv 4x4 stride 4 + LN) or 'resnet'
            (conv 7x7 stride 2 + BN + ReLU + max-pool), ResT v1 Table 6.
        pos_embed: 'pa' (pixel attention), 'peg' (x + DWConv), 'gl' (ResT v1's group linear),
            'abs' (learned absolute, resized), 'rpe' (relative position embedding of the keys,
            in the attention) or 'none'; applied in the stem and patch embeddings.
        interaction: multi-head interaction 'conv_in' (v1 default, ResTv2's MHIM), 'conv'
            (without InstanceNorm) or 'none' (v2 default).
        upsample: 'pixel_shuffle' (v2 default), 'nearest', 'bilinear' or 'none' (v1 default);
            upsample_target: 'v' (default), 'k' or 'tokens'.
        sr_type: key/value reduction by 'conv' (default), 'avgpool' or 'maxpool'.
        ffn: 'mlp' (default) or 'leff' (CeiT's locally-enhanced feed-forward).
        pretrain_size: image size the size-bound encodings ('abs', 'rpe') are laid out for.
    """
    arch_keys = ('embed_dims', 'depths', 'num_heads')
    arch_optional_keys = ('sr_ratios', 'mlp_ratio')
    version: ClassVar[str] = ''
    norm_eps: ClassVar[float] = 1e-6
    default_sr_ratios: ClassVar[Tuple[int, ...]] = (8, 4, 2, 1)

    def __init__(self,
                 arch: ArchSpec,
                 in_channels: int = 3,
                 out_indices: Union[int, Sequence[int]] = (0, 1, 2, 3),
                 drop_path_rate: float = 0.0,
                 drop_rate: float = 0.0,
                 attn_drop_rate: float = 0.0,
                 qkv_bias: bool = True,
                 attn_style: str = 'global',
                 window_size: Union[int, Sequence[int]] = (64, 32, 16, 8),
                 fused_attn: bool = True,
                 norm_in_trunk: bool = False,
                 stem_type: str = 'rest',
                 pos_embed: str = 'pa',
                 interaction: Optional[str] = None,
                 upsample: Optional[str] = None,
                 upsample_target: str = 'v',
                 sr_type: str = 'conv',
                 ffn: str = 'mlp',
                 pretrain_size: int = 224) -> None:
        super().__init__()
        self.arch_settings = self.resolve_arch(arch)
        self.embed_dims: List[int] = list(self.arch_settings['embed_dims'])
        self.depths: List[int] = list(self.arch_settings['depths'])
        self.num_heads: List[int] = list(self.arch_settings['num_heads'])
        self.sr_ratios: List[int] = list(self.arch_settings['sr_ratios'])
        self.out_indices = check_out_indices(out_indices, NUM_STAGES)
        check_rate('drop_path_rate', drop_path_rate)
        check_choice('attn_style', attn_style, ATTN_STYLES)
        check_choice('stem_type', stem_type, STEM_TYPES)
        if isinstance(window_size, int):
            window_size = (window_size, ) * NUM_STAGES
        if len(window_size) != NUM_STAGES or any(int(w) < 1 for w in window_size):
            raise ValueError(f'window_size needs {NUM_STAGES} positive entries (tokens per '
                             f'stage), got {window_size}')
        self.attn_style = attn_style
        self.window_size = tuple(int(w) for w in window_size)
        self.stem_type = stem_type
        self.pos_embed = pos_embed
        self.norm_in_trunk = bool(norm_in_trunk)

        # Map grids at the pre-training size, for the size-bound encodings ('abs', 'rpe').
        grids = [(math.ceil(pretrain_size / 2**(i + 2)), ) * 2 for i in range(NUM_STAGES)]
        dims = self.embed_dims
        pos = [build_pos_embed(pos_embed, dims[i], grids[i]) for i in range(NUM_STAGES)]
        for i in range(NUM_STAGES):
            self.add_module(stage_module_names(i)['embed'],
                            self.build_stem(in_channels, dims[0], pos[0]) if i == 0 else
                            self.make_patch_embed(dims[i - 1], dims[i], pos[i]))
        attn_options = dict(self.block_options(), sr_type=sr_type,
                            upsample_target=upsample_target)
        if interaction is not None:
            attn_options['interaction'] = interaction
        if upsample is not None:
            attn_options['upsample'] = upsample
        block_options = dict(mlp_ratio=float(self.arch_settings['mlp_ratio']),
                             qkv_bias=qkv_bias, drop=drop_rate, attn_drop=attn_drop_rate,
                             norm_eps=self.norm_eps, fused_attn=fused_attn, ffn=ffn,
                             **attn_options)
        self.build_stages(drop_path_rate, block_options, grids if pos_embed == 'rpe' else None)

    def build_stages(self, drop_path_rate: float, block_options: Dict[str, Any],
                     rpe_grids: Optional[List[Size2d]]) -> None:
        """The blocks of each stage, the CWin mixers and the output norms. (The norms are
        registered last: parameter order, and so the optimizer state of saved checkpoints,
        stays as it was.)"""
        rates = torch.linspace(0, drop_path_rate, sum(self.depths)).tolist()
        for i in range(NUM_STAGES):
            start = sum(self.depths[:i])
            rel_pos_grid = (None if rpe_grids is None else
                            (math.ceil(rpe_grids[i][0] / self.sr_ratios[i]), ) * 2)
            blocks = nn.ModuleList([
                ResTBlock(self.embed_dims[i], self.num_heads[i], self.sr_ratios[i],
                          drop_path=rates[start + j], window_size=self.block_window(i, j),
                          rel_pos_grid=rel_pos_grid, **block_options)
                for j in range(self.depths[i])
            ])
            self.add_module(stage_module_names(i)['blocks'], blocks)
            if self.attn_style == 'cwin':
                self.add_module(stage_module_names(i)['mixer'],
                                IdentityInitDWConv(self.embed_dims[i]))
        # A LayerNorm on every stage output: the blocks are pre-norm, so their raw output is
        # not normalised (ResT paper, Table 10).
        for i in self.out_indices:
            self.add_module(stage_module_names(i)['norm'],
                            nn.LayerNorm(self.embed_dims[i], eps=self.norm_eps))

    # -- what a version chooses -------------------------------------------------------------
    def make_stem(self, in_channels: int, out_channels: int, pos: nn.Module) -> nn.Module:
        """The version's own stem (stem_type='rest')."""
        raise NotImplementedError

    def make_patch_embed(self, in_channels: int, out_channels: int,
                         pos: nn.Module) -> nn.Module:
        raise NotImplementedError

    def block_options(self) -> dict:
        """The version's attention defaults (interaction, upsample)."""
        return {}

    def build_stem(self, in_channels: int, out_channels: int, pos: nn.Module) -> nn.Module:
        """The stems compared in ResT v1's Table 6, all of stride 4."""
        if self.stem_type == 'pvt':
            return PatchifyStem(in_channels, out_channels, self.norm_eps, pos)
        if self.stem_type == 'resnet':
            return ResNetStem(in_channels, out_channels, pos)
        return self.make_stem(in_channels, out_channels, pos)

    def block_window(self, stage: int, block: int) -> Optional[int]:
        """Window of a block for the attention style (None: global attention)."""
        if self.attn_style == 'global':
            return None
        if self.attn_style == 'hwin' and block == self.depths[stage] - 1:
            return None  # HWin: the last block of each stage, which feeds the neck, is global
        return self.window_size[stage]

    # -- arch presets -------------------------------------------------------------------------
    @classmethod
    def complete_arch(cls, settings: Dict[str, Any]) -> Dict[str, Any]:
        settings.setdefault('sr_ratios', cls.default_sr_ratios)
        settings.setdefault('mlp_ratio', 4)
        for name in ('embed_dims', 'depths', 'num_heads', 'sr_ratios'):
            if len(settings[name]) != NUM_STAGES:
                raise ValueError(f'arch {name} needs {NUM_STAGES} entries, got {settings[name]}')
        for dim, heads in zip(settings['embed_dims'], settings['num_heads']):
            if dim % heads:
                raise ValueError(f'embed_dims {settings["embed_dims"]} must be divisible by '
                                 f'num_heads {settings["num_heads"]}')
        return settings

    # -- forward -------------------------------------------------------------------------------
    def stage(self, index: int) -> Stage:
        """The modules of stage ``index`` (0-based), the one way the code reaches them."""
        names = stage_module_names(index)
        return Stage(*(getattr(self, names[role], None) for role in Stage._fields))

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """The LayerNorm outputs of the stages in ``out_indices``, NCHW, for any input size.
        (Every stage runs, so that each parameter gets a gradient.)"""
        return tuple(self.forward_stages(x, self.out_indices, NUM_STAGES - 1))

    def forward_stages(self, x: torch.Tensor, indices: Sequence[int],
                       last: int) -> List[torch.Tensor]:
        """Run the stages up to ``last`` (0-based) and return the LayerNorm outputs of those in
        ``indices`` (sorted, each with its output norm), NCHW."""
        check_batch(type(self).__name__, x)
        outs = []
        hw: Size2d = (x.shape[2], x.shape[3])
        for i in range(last + 1):
            stage = self.stage(i)
            x, hw = stage.embed(x if i == 0 else tokens_to_map(x, hw))
            for block in stage.blocks:
                if self.grad_checkpointing and torch.is_grad_enabled():
                    x = cp.checkpoint(block, x, hw, use_reentrant=False)
                else:
                    x = block(x, hw)
            if stage.mixer is not None:  # lets the windows of a stage exchange information
                x = stage.mixer(x, hw)
            if stage.norm is not None and (self.norm_in_trunk or i in indices):
                out = stage.norm(x)
                if self.norm_in_trunk:
                    x = out
                if i in indices:
                    outs.append(tokens_to_map(out, hw).contiguous())
        return outs

    # -- weights ---------------------------------------------------------------------------------
    def init_special_parameters(self) -> None:
        for module in self.modules():
            if isinstance(module, IdentityInitDWConv):
                module.reset_parameters()

    def adapt_state_dict(self, state: StateDict,
                         report: LoadReport) -> Tuple[StateDict, Sequence[str]]:
        """The authors' files (ResT v1 names and the downstream output norms ``norm_{i}``
        renamed, a classifier's final norm as ``norm3`` and its head skipped) and mmrest's own;
        the other ResT version is refused."""
        return adapt_rest_state_dict(state, self.state_dict(), self.version, report)

    def describe_state(self, state: Dict[str, torch.Tensor]) -> str:
        return describe_arch(state, self.arch_zoo)


class ResTNet(ResTNetBase):
    """The ResT (v1) network: "ResT: An Efficient Transformer for Visual Recognition",
    NeurIPS 2021.

    Stem conv3x3 s2 / conv3x3 s1 / conv3x3 s2 + PA, patch embeddings conv -> BN -> PA, EMSA
    with multi-head interaction (1x1 conv + InstanceNorm over heads), LayerNorm eps 1e-5.
    Presets ``lite``, ``small``, ``base``, ``large`` (ImageNet 10.51M / 13.68M / 30.33M /
    51.68M parameters with the classifier).
    """
    arch_zoo = {
        'lite': dict(embed_dims=(64, 128, 256, 512), depths=(2, 2, 2, 2), num_heads=(1, 2, 4, 8)),
        'small': dict(embed_dims=(64, 128, 256, 512), depths=(2, 2, 6, 2), num_heads=(1, 2, 4, 8)),
        'base': dict(embed_dims=(96, 192, 384, 768), depths=(2, 2, 6, 2), num_heads=(1, 2, 4, 8)),
        'large': dict(embed_dims=(96, 192, 384, 768), depths=(2, 2, 18, 2),
                      num_heads=(1, 2, 4, 8)),
    }
    version = 'v1'
    norm_eps = 1e-5

    def __init__(self, arch: ArchSpec = 'small', **kwargs) -> None:
        super().__init__(arch=arch, **kwargs)

    def make_stem(self, in_channels: int, out_channels: int, pos: nn.Module) -> nn.Module:
        return ConvStem(in_channels, out_channels, hidden_channels=(out_channels // 2, ) * 2,
                        strides=(2, 1, 2), last_kernel_size=3, last_bias=False, pos=pos)

    def make_patch_embed(self, in_channels: int, out_channels: int,
                         pos: nn.Module) -> nn.Module:
        return PatchEmbed(in_channels, out_channels, stride=2, norm='bn', pos=pos)

    def block_options(self) -> dict:
        return dict(interaction='conv_in', upsample='none')


class ResTV2Net(ResTNetBase):
    """The ResTv2 network: "ResT V2: Simpler, Faster and Stronger", NeurIPS 2022.

    Stem conv3x3 s2 / conv3x3 s2 / conv1x1 + PA + LN, patch embeddings conv -> PA -> LN,
    EMSAv2 (no head interaction, upsample branch on V), LayerNorm eps 1e-6.
    Presets ``tiny``, ``small``, ``base``, ``large`` (ImageNet 30.43M / 41.21M / 55.97M /
    86.53M parameters with the classifier).
    """
    arch_zoo = {
        'tiny': dict(embed_dims=(96, 192, 384, 768), depths=(1, 2, 6, 2), num_heads=(1, 2, 4, 8)),
        'small': dict(embed_dims=(96, 192, 384, 768), depths=(1, 2, 12, 2),
                      num_heads=(1, 2, 4, 8)),
        'base': dict(embed_dims=(96, 192, 384, 768), depths=(1, 3, 16, 3),
                     num_heads=(1, 2, 4, 8)),
        'large': dict(embed_dims=(128, 256, 512, 1024), depths=(2, 3, 16, 2),
                      num_heads=(2, 4, 8, 16)),
    }
    version = 'v2'
    norm_eps = 1e-6

    def __init__(self, arch: ArchSpec = 'tiny', **kwargs) -> None:
        super().__init__(arch=arch, **kwargs)

    def make_stem(self, in_channels: int, out_channels: int, pos: nn.Module) -> nn.Module:
        return ConvStem(in_channels, out_channels,
                        hidden_channels=(out_channels // 2, out_channels), strides=(2, 2, 1),
                        last_kernel_size=1, last_bias=True, token_norm_eps=self.norm_eps,
                        pos=pos)

    def make_patch_embed(self, in_channels: int, out_channels: int,
                         pos: nn.Module) -> nn.Module:
        return PatchEmbed(in_channels, out_channels, stride=2, norm='ln', ln_eps=self.norm_eps,
                          pos=pos)

    def block_options(self) -> dict:
        return dict(interaction='none', upsample='pixel_shuffle')
