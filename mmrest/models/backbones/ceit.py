"""CeiT: "Incorporating Convolution Designs into Visual Transformers" (Yuan et al., ICCV 2021).

A DeiT-style isotropic transformer with three convolutional changes:

- I2T (Image-to-Tokens): conv 7x7 s2 -> BN -> max-pool 3x3 s2 turns the image into a
  stride-4 map of low-level features, and the patches (4x4, i.e. 16x16 image pixels, so the
  token count matches ViT/16) are embedded from it instead of from raw pixels.
- LeFF (Locally-enhanced Feed-Forward, :class:`~mmrest.models.layers.LeFF`) replaces the MLP:
  a depth-wise conv between the two projections mixes neighbouring patch tokens.
- LCA (Layer-wise Class-token Attention): the class tokens of all layers form a sequence; one
  more transformer block, whose attention only queries with the last one, merges them into
  the representation the classifier sees.
"""
import contextlib
import math
import re
from collections import OrderedDict
from typing import (
    Any,
    Callable,
    ClassVar,
    ContextManager,
    Dict,
    Iterator,
    List,
    Sequence,
    Tuple,
    Union,
)

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmengine.logging import print_log
from torch.nn.modules.batchnorm import _BatchNorm

from ...registry import register_model
from ..layers import LeFF, Mlp, MultiheadAttention, PreNormBlock, Size2d, resize_pos_embed
from ..validation import (
    check_batch,
    check_choice,
    check_frozen_stages,
    check_out_indices,
    check_rate,
)
from .base import InitCfg, MMRestBackbone

ArchSpec = Union[str, Dict[str, int]]


@contextlib.contextmanager
def _keep_bn_statistics(module: nn.Module) -> Iterator[None]:
    """Undo the running-statistics update of BatchNorms while ``module`` is recomputed.

    Activation checkpointing runs a block's forward twice; a training-mode BatchNorm would
    otherwise move its running mean/var (and count) twice per step.
    """
    saved = [(m, m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone())
             for m in module.modules()
             if isinstance(m, _BatchNorm) and m.training and m.track_running_stats]
    try:
        yield
    finally:
        with torch.no_grad():
            for m, mean, var, count in saved:
                m.running_mean.copy_(mean)
                m.running_var.copy_(var)
                m.num_batches_tracked.copy_(count)


class CeiTBlock(PreNormBlock):
    """Pre-norm encoder block with LeFF: x + MSA(LN(x)), then x + LeFF(LN(x)).

    The class token (first) attends and is attended to like in ViT, but bypasses the LeFF
    (which returns zero for it), so it leaves the block as it left the attention.
    """

    def __init__(self,
                 dim: int,
                 num_heads: int,
                 feedforward_channels: int,
                 leff_kernel_size: int = 3,
                 qkv_bias: bool = True,
                 drop: float = 0.0,
                 attn_drop: float = 0.0,
                 drop_path: float = 0.0,
                 norm_eps: float = 1e-6) -> None:
        super().__init__(
            dim, MultiheadAttention(dim, num_heads, qkv_bias, attn_drop=attn_drop,
                                    proj_drop=drop),
            LeFF(dim, feedforward_channels, drop=drop, kernel_size=leff_kernel_size,
                 with_cls_token=True), drop_path=drop_path, norm_eps=norm_eps, ffn_name='ffn')


class LCABlock(PreNormBlock):
    """Layer-wise Class-token Attention: a transformer block over the L class tokens in
    which only the last one queries (single-directional: it gathers from all layers; the
    others are not updated and are dropped). The class tokens carry no spatial layout, so
    the feed-forward is a plain MLP.

    (B, L, C) class tokens -> (B, C).
    """

    def __init__(self,
                 dim: int,
                 num_heads: int,
                 feedforward_channels: int,
                 qkv_bias: bool = True,
                 drop: float = 0.0,
                 attn_drop: float = 0.0,
                 norm_eps: float = 1e-6) -> None:
        super().__init__(
            dim, MultiheadAttention(dim, num_heads, qkv_bias, attn_drop=attn_drop,
                                    proj_drop=drop),
            Mlp(dim, feedforward_channels, drop=drop), norm_eps=norm_eps)

    def forward(self, cls_tokens: torch.Tensor) -> torch.Tensor:
        tokens = self.norm1(cls_tokens)
        x = cls_tokens[:, -1:] + self.attn(tokens, query=tokens[:, -1:])
        x = x + self.mlp(self.norm2(x))
        return x[:, 0]


@register_model
class CeiT(MMRestBackbone):
    """CeiT backbone ("Incorporating Convolution Designs into Visual Transformers").

    Args:
        arch: ``'tiny'``, ``'small'``, ``'base'`` (paper Table 1) or a dict with
            ``embed_dims``, ``num_layers``, ``num_heads`` and optionally
            ``feedforward_channels`` (LeFF width; default 4 x embed_dims).
        img_size: training image size; sets the size of the learned positional embedding.
            Other sizes work: the embedding is interpolated bicubically (also when loading a
            checkpoint trained at another size). Sides that are multiples of 16 map exactly
            onto the token grid (side / 16 tokens).
        in_channels: image channels.
        stem_channels: channels of the I2T feature map (paper: 32).
        patch_size: patch side on the stride-4 I2T map (paper: 4, i.e. 16 image pixels).
        leff_kernel_size: depth-wise conv kernel of LeFF (paper: 3).
        out_type: ``'cls_token'`` (default): the LCA output after the final LayerNorm, (B, C),
            for the classifier. Dense outputs, taken from the layers in ``out_indices`` (LCA
            is then not built): ``'featmap'`` (B, C, H, W) patch tokens, ``'avg_featmap'``
            their mean followed by a LayerNorm, ``'raw'`` (B, 1 + H*W, C) all tokens. As in
            mmpretrain's VisionTransformer, ``final_norm`` normalises the last layer's tokens.
        out_indices: layers (0-based, negative from the end) whose outputs are returned; with
            ``out_type='cls_token'`` only the last layer (the LCA sees every layer anyway).
        final_norm: LayerNorm before the output (the classifier's input norm).
        drop_rate: dropout after the positional embedding and the projections.
        attn_drop_rate: dropout on the attention weights.
        drop_path_rate: stochastic depth, rising linearly to this value over the encoder
            blocks. The LCA block has none: it is the only path to the head (as CaiT's
            class-attention blocks).
        qkv_bias: bias of the query/key/value projections.
        norm_eps: LayerNorm epsilon.
        interpolate_mode: interpolation of the positional embedding.
        frozen_stages: -1 freezes nothing; 0 the I2T stem, patch embedding, class token and
            positional embedding; k >= 1 also layers 1..k; ``num_layers`` everything,
            including LCA and the final norms. Frozen parts have no gradient and stay in
            eval mode.
        norm_eval: keep all BatchNorms (I2T and LeFF) in eval mode while training, e.g. for
            small-batch detection fine-tuning.
        with_cp: activation checkpointing of each encoder block (less memory, same results
            and the same BatchNorm running statistics).
        init_cfg: e.g. ``dict(type='Pretrained', checkpoint=PATH)`` (a CeiT or a whole
            classifier's checkpoint; its ``backbone.`` tensors are taken and the positional
            embedding is resized to ``img_size``), possibly in a list with mmengine
            initialisers. Always first: DeiT's initialisation (truncated normal 0.02 for
            linear layers, class token and positional embedding) and He initialisation for
            the conv layers.
    """
    arch_keys = ('embed_dims', 'num_layers', 'num_heads')
    arch_optional_keys = ('feedforward_channels', )
    resizable_keys = ('pos_embed', )  # to img_size, by _prepare_pos_embed
    arch_zoo: ClassVar[Dict[str, Dict[str, int]]] = {
        'tiny': dict(embed_dims=192, num_layers=12, num_heads=3, feedforward_channels=768),
        'small': dict(embed_dims=384, num_layers=12, num_heads=6, feedforward_channels=1536),
        'base': dict(embed_dims=768, num_layers=12, num_heads=12, feedforward_channels=3072),
    }
    OUT_TYPES: ClassVar[Tuple[str, ...]] = ('cls_token', 'featmap', 'avg_featmap', 'raw')
    num_extra_tokens: ClassVar[int] = 1  # the class token

    def __init__(self,
                 arch: ArchSpec = 'tiny',
                 img_size: Union[int, Sequence[int]] = 224,
                 in_channels: int = 3,
                 stem_channels: int = 32,
                 patch_size: int = 4,
                 leff_kernel_size: int = 3,
                 out_type: str = 'cls_token',
                 out_indices: Union[int, Sequence[int]] = -1,
                 final_norm: bool = True,
                 drop_rate: float = 0.0,
                 attn_drop_rate: float = 0.0,
                 drop_path_rate: float = 0.0,
                 qkv_bias: bool = True,
                 norm_eps: float = 1e-6,
                 interpolate_mode: str = 'bicubic',
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 init_cfg: InitCfg = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.arch_settings = self.resolve_arch(arch)
        self.embed_dims: int = self.arch_settings['embed_dims']
        self.num_layers: int = self.arch_settings['num_layers']
        dim = self.embed_dims

        check_choice('out_type', out_type, self.OUT_TYPES)
        self.out_type = out_type
        self.out_indices = check_out_indices(out_indices, self.num_layers, 'layers')
        if out_type == 'cls_token' and self.out_indices != (self.num_layers - 1, ):
            raise ValueError("out_type='cls_token' is the LCA output, computed after the "
                             f'last layer: out_indices must be -1, got {out_indices}')
        check_frozen_stages(frozen_stages, self.num_layers)
        check_rate('drop_path_rate', drop_path_rate)
        self.stem_channels = stem_channels
        self.patch_size = patch_size
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.with_cp = with_cp
        self.final_norm = final_norm
        self.interpolate_mode = interpolate_mode

        img_size = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
        self.img_size: Size2d = (int(img_size[0]), int(img_size[1]))
        self.patch_resolution: Size2d = self.token_grid(self.img_size)
        if min(self.patch_resolution) < 1:
            raise ValueError(f'img_size {img_size} is smaller than one {4 * patch_size}-pixel '
                             'patch')

        # I2T: low-level features at stride 4 (the paper's best ablation: k7s2 conv, BN,
        # k3s2 max-pool, 32 channels), then patches of them as tokens.
        self.i2t = nn.Sequential(OrderedDict([
            ('conv', nn.Conv2d(in_channels, stem_channels, 7, 2, 3)),
            ('bn', nn.BatchNorm2d(stem_channels)),
            ('pool', nn.MaxPool2d(3, 2, 1)),
        ]))
        self.patch_embed = nn.Conv2d(stem_channels, dim, patch_size, patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        num_patches = self.patch_resolution[0] * self.patch_resolution[1]
        self.pos_embed = nn.Parameter(torch.zeros(1, self.num_extra_tokens + num_patches, dim))
        self._register_load_state_dict_pre_hook(self._prepare_pos_embed)
        self.drop_after_pos = nn.Dropout(drop_rate)

        heads = self.arch_settings['num_heads']
        ffn_channels = self.arch_settings['feedforward_channels']
        # Python floats, not torch.linspace: the model can then be built on the meta device.
        rates = [drop_path_rate * i / max(self.num_layers - 1, 1)
                 for i in range(self.num_layers)]
        self.layers = nn.ModuleList([
            CeiTBlock(dim, heads, ffn_channels, leff_kernel_size=leff_kernel_size,
                      qkv_bias=qkv_bias, drop=drop_rate, attn_drop=attn_drop_rate,
                      drop_path=rates[i], norm_eps=norm_eps)
            for i in range(self.num_layers)
        ])
        # Only the classifier output needs LCA; dense outputs would leave it without
        # gradients (an error under DDP), so it is not built for them.
        self.lca = (LCABlock(dim, heads, ffn_channels, qkv_bias=qkv_bias, drop=drop_rate,
                             attn_drop=attn_drop_rate, norm_eps=norm_eps)
                    if out_type == 'cls_token' else None)
        self.ln1 = nn.LayerNorm(dim, eps=norm_eps) if final_norm else None
        self.ln2 = nn.LayerNorm(dim, eps=norm_eps) if out_type == 'avg_featmap' else None
        self._freeze_stages()

    # -- configuration ---------------------------------------------------------------------
    @classmethod
    def complete_arch(cls, settings: Dict[str, Any]) -> Dict[str, Any]:
        settings = {k: int(v) for k, v in settings.items()}
        settings.setdefault('feedforward_channels', 4 * settings['embed_dims'])
        if settings['embed_dims'] % settings['num_heads']:
            raise ValueError(f'embed_dims {settings["embed_dims"]} must be divisible by '
                             f'num_heads {settings["num_heads"]}')
        return settings

    def token_grid(self, image_hw: Size2d) -> Size2d:
        """Token grid of an image: conv s2 and max-pool s2 (both 'same' padded, so ceil),
        then non-overlapping patches (floor)."""
        h, w = (math.ceil(math.ceil(s / 2) / 2) // self.patch_size for s in image_hw)
        return h, w

    # -- forward -----------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        check_batch('CeiT', x)
        x = self.patch_embed(self.i2t(x))
        hw: Size2d = (x.shape[2], x.shape[3])
        x = x.flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        x = x + resize_pos_embed(self.pos_embed, self.patch_resolution, hw,
                                 self.interpolate_mode, self.num_extra_tokens)
        x = self.drop_after_pos(x)

        cls_tokens: List[torch.Tensor] = []
        outs = []
        for i, layer in enumerate(self.layers):
            if self.with_cp and torch.is_grad_enabled():
                x = cp.checkpoint(layer, x, hw, use_reentrant=False,
                                  context_fn=self._checkpoint_contexts(layer))
            else:
                x = layer(x, hw)
            if self.lca is not None:
                cls_tokens.append(x[:, 0])
            elif i in self.out_indices:
                if i == self.num_layers - 1 and self.ln1 is not None:
                    x = self.ln1(x)
                outs.append(self._format_dense(x, hw))
        if self.lca is not None:
            x = self.lca(torch.stack(cls_tokens, dim=1))
            outs.append(self.ln1(x) if self.ln1 is not None else x)
        return tuple(outs)

    @staticmethod
    def _checkpoint_contexts(
            layer: nn.Module) -> Callable[[], Tuple[ContextManager, ContextManager]]:
        """``context_fn`` of the checkpoint: plain forward, statistics-preserving recompute."""
        return lambda: (contextlib.nullcontext(), _keep_bn_statistics(layer))

    def _format_dense(self, x: torch.Tensor, hw: Size2d) -> torch.Tensor:
        if self.out_type == 'raw':
            return x
        patches = x[:, self.num_extra_tokens:]
        if self.out_type == 'avg_featmap':
            return self.ln2(patches.mean(dim=1))
        return patches.transpose(1, 2).reshape(x.shape[0], -1, *hw).contiguous()

    # -- training-mode contract ---------------------------------------------------------------
    def frozen_modules(self) -> List[nn.Module]:
        if self.frozen_stages < 0:
            return []
        modules: List[nn.Module] = [self.i2t, self.patch_embed, self.drop_after_pos]
        modules += list(self.layers[:self.frozen_stages])
        if self.frozen_stages == self.num_layers:
            modules += [m for m in (self.lca, self.ln1, self.ln2) if m is not None]
        return modules

    def frozen_parameters(self) -> List[nn.Parameter]:
        return [self.cls_token, self.pos_embed] if self.frozen_stages >= 0 else []

    # -- weights ------------------------------------------------------------------------------
    def init_special_parameters(self) -> None:
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)

    def describe_state(self, state: Dict[str, torch.Tensor]) -> str:
        layers = {int(m[1]) for k in state for m in [re.match(r'^layers\.(\d+)\.', k)] if m}
        dim = state['cls_token'].shape[-1] if 'cls_token' in state else '?'
        return f'embed_dims={dim}, num_layers={max(layers) + 1 if layers else 0}'

    def _prepare_pos_embed(self, state_dict: dict, prefix: str, *args, **kwargs) -> None:
        """Resize a checkpoint's positional embedding to this model's grid (e.g. 224 -> 384
        fine-tuning), as mmpretrain's VisionTransformer does."""
        name = prefix + 'pos_embed'
        if name not in state_dict or state_dict[name].shape == self.pos_embed.shape:
            return
        src = state_dict[name]
        side = math.isqrt(src.shape[1] - self.num_extra_tokens)
        if side * side != src.shape[1] - self.num_extra_tokens:
            return  # not a square grid: let load_state_dict report the mismatch
        print_log(f'CeiT: resizing pos_embed from a {side}x{side} to a '
                  f'{self.patch_resolution[0]}x{self.patch_resolution[1]} grid',
                  logger='current')
        state_dict[name] = resize_pos_embed(src, (side, side), self.patch_resolution,
                                            self.interpolate_mode, self.num_extra_tokens)

    def layer_id(self, name: str, decay_type: str) -> int:
        """Layer-wise ids (CeiT has no stages): the stem (I2T, patch embedding, class token,
        positional embedding) 0, encoder layer i (0-based) i + 1, LCA and the final norms
        ``num_layers + 1``."""
        if decay_type != 'layer_wise':
            raise ValueError(f"CeiT has no stages: use decay_type='layer_wise', not "
                             f'{decay_type!r}')
        if name in ('cls_token', 'pos_embed') or name.startswith(('i2t.', 'patch_embed.')):
            return 0
        if name.startswith('layers.'):
            return int(name.split('.')[1]) + 1
        if name.startswith(('lca.', 'ln1.', 'ln2.')):
            return self.num_layers + 1
        raise ValueError(f'CeiT has no decay id for {name!r}')
