"""The CeiT network, with torch alone: "Incorporating Convolution Designs into Visual
Transformers" (Yuan et al., ICCV 2021).

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
from typing import Any, Callable, ClassVar, ContextManager, Dict, Iterator, List, Tuple, Union

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from torch.nn.modules.batchnorm import _BatchNorm

from ...utils.aliases import Size2d
from ..layers import LeFF, Mlp, MultiheadAttention, PreNormBlock, resize_pos_embed
from ..validation import check_batch, check_choice, check_out_indices, check_rate
from .base import NetworkBase

ArchSpec = Union[str, Dict[str, int]]
ImageSize = Union[int, Tuple[int, int], List[int]]


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


class CeiTNet(NetworkBase):
    """The CeiT network (arguments: see :class:`~mmrest.models.backbones.CeiT`)."""
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
                 img_size: ImageSize = 224,
                 in_channels: int = 3,
                 stem_channels: int = 32,
                 patch_size: int = 4,
                 leff_kernel_size: int = 3,
                 out_type: str = 'cls_token',
                 out_indices: Union[int, List[int], Tuple[int, ...]] = -1,
                 final_norm: bool = True,
                 drop_rate: float = 0.0,
                 attn_drop_rate: float = 0.0,
                 drop_path_rate: float = 0.0,
                 qkv_bias: bool = True,
                 norm_eps: float = 1e-6,
                 interpolate_mode: str = 'bicubic') -> None:
        super().__init__()
        self.arch_settings = self.resolve_arch(arch)
        self.embed_dims: int = self.arch_settings['embed_dims']
        self.num_layers: int = self.arch_settings['num_layers']
        check_choice('out_type', out_type, self.OUT_TYPES)
        self.out_type = out_type
        self.out_indices = check_out_indices(out_indices, self.num_layers, 'layers')
        if out_type == 'cls_token' and self.out_indices != (self.num_layers - 1, ):
            raise ValueError("out_type='cls_token' is the LCA output, computed after the "
                             f'last layer: out_indices must be -1, got {out_indices}')
        check_rate('drop_path_rate', drop_path_rate)
        self.stem_channels = stem_channels
        self.patch_size = patch_size
        self.final_norm = final_norm
        self.interpolate_mode = interpolate_mode
        self._build_tokens(img_size, in_channels, drop_rate)
        options = dict(qkv_bias=qkv_bias, drop=drop_rate, attn_drop=attn_drop_rate,
                       norm_eps=norm_eps)
        self._build_layers(leff_kernel_size, drop_path_rate, options)

    def _build_tokens(self, img_size: ImageSize, in_channels: int, drop_rate: float) -> None:
        """I2T, the patch embedding, the class token and the positional embedding."""
        img_size = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
        self.img_size: Size2d = (int(img_size[0]), int(img_size[1]))
        self.patch_resolution: Size2d = self.token_grid(self.img_size)
        if min(self.patch_resolution) < 1:
            raise ValueError(f'img_size {img_size} is smaller than one '
                             f'{4 * self.patch_size}-pixel patch')
        # I2T: low-level features at stride 4 (the paper's best ablation: k7s2 conv, BN,
        # k3s2 max-pool, 32 channels), then patches of them as tokens.
        self.i2t = nn.Sequential(OrderedDict([
            ('conv', nn.Conv2d(in_channels, self.stem_channels, 7, 2, 3)),
            ('bn', nn.BatchNorm2d(self.stem_channels)),
            ('pool', nn.MaxPool2d(3, 2, 1)),
        ]))
        dim = self.embed_dims
        self.patch_embed = nn.Conv2d(self.stem_channels, dim, self.patch_size, self.patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        num_patches = self.patch_resolution[0] * self.patch_resolution[1]
        self.pos_embed = nn.Parameter(torch.zeros(1, self.num_extra_tokens + num_patches, dim))
        self._register_load_state_dict_pre_hook(self._prepare_pos_embed)
        self.drop_after_pos = nn.Dropout(drop_rate)

    def _build_layers(self, leff_kernel_size: int, drop_path_rate: float,
                      options: Dict[str, Any]) -> None:
        """The encoder layers, LCA and the final norms."""
        dim, heads = self.embed_dims, self.arch_settings['num_heads']
        ffn_channels = self.arch_settings['feedforward_channels']
        # Python floats, not torch.linspace: the model can then be built on the meta device.
        rates = [drop_path_rate * i / max(self.num_layers - 1, 1)
                 for i in range(self.num_layers)]
        self.layers = nn.ModuleList([
            CeiTBlock(dim, heads, ffn_channels, leff_kernel_size=leff_kernel_size,
                      drop_path=rates[i], **options)
            for i in range(self.num_layers)
        ])
        # Only the classifier output needs LCA; dense outputs would leave it without
        # gradients (an error under DDP), so it is not built for them.
        self.lca = (LCABlock(dim, heads, ffn_channels, **options)
                    if self.out_type == 'cls_token' else None)
        norm_eps = options['norm_eps']
        self.ln1 = nn.LayerNorm(dim, eps=norm_eps) if self.final_norm else None
        self.ln2 = nn.LayerNorm(dim, eps=norm_eps) if self.out_type == 'avg_featmap' else None

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
            if self.grad_checkpointing and torch.is_grad_enabled():
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
        self.log(f'CeiT: resizing pos_embed from a {side}x{side} to a '
                 f'{self.patch_resolution[0]}x{self.patch_resolution[1]} grid')
        state_dict[name] = resize_pos_embed(src, (side, side), self.patch_resolution,
                                            self.interpolate_mode, self.num_extra_tokens)
