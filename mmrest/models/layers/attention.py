"""Attention and windowing.

:class:`MultiheadAttention` is the core every mmrest model shares: query and key/value
projections (``q``, ``kv``, ``proj``, the parameter names of the authors' checkpoints) and
softmax(q k^T / sqrt(d)) v, through ``F.scaled_dot_product_attention`` unless the attention
matrix itself is needed. CeiT uses it as it is (its class-token attention queries with some
tokens only); :class:`EfficientMultiheadAttention` (ResT's EMSA, ResTv2's EMSAv2) adds the
key/value reduction, head interaction, the upsample branch and relative positions.
:func:`window_attention` runs any of them inside windows (ResTv2's fine-tuning styles).
"""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...utils.compat import scaled_dot_product_attention
from ..validation import check_choice
from .helpers import Size2d, is_tracing, map_to_tokens, tokens_to_map

INTERACTIONS = ('none', 'conv', 'conv_in')
UPSAMPLES = ('pixel_shuffle', 'nearest', 'bilinear', 'none')
UPSAMPLE_TARGETS = ('v', 'k', 'tokens')
SR_TYPES = ('conv', 'avgpool', 'maxpool')


class MultiheadAttention(nn.Module):
    """Multi-head attention with a query and a joint key/value projection.

    Args:
        dim: channels. num_heads: heads (``dim`` must divide).
        qkv_bias: bias of the q and kv projections.
        attn_drop: dropout on the attention weights. proj_drop: after the output projection.
        fused_attn: compute softmax(QK^T)V with ``F.scaled_dot_product_attention`` (same
            result, less memory and time); the explicit form is kept as a reference and for
            subclasses that transform the attention matrix.
    """

    def __init__(self,
                 dim: int,
                 num_heads: int,
                 qkv_bias: bool = True,
                 attn_drop: float = 0.0,
                 proj_drop: float = 0.0,
                 fused_attn: bool = True) -> None:
        super().__init__()
        if dim % num_heads != 0:
            raise ValueError(f'dim {dim} is not divisible by num_heads {num_heads}')
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.fused_attn = fused_attn
        self.q = nn.Linear(dim, dim, bias=qkv_bias)
        self.kv = nn.Linear(dim, dim * 2, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def project_query(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, C) -> (B, heads, N, d)."""
        B, N, _ = x.shape
        return self.q(x).reshape(B, N, self.num_heads, self.head_dim).transpose(1, 2)

    def project_key_value(self, x: torch.Tensor):
        """(B, M, C) -> keys and values, (B, heads, M, d) each."""
        B, M, _ = x.shape
        kv = self.kv(x).reshape(B, M, 2, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        return kv.unbind(0)

    @property
    def transforms_attention(self) -> bool:
        """Whether :meth:`normalize` needs the explicit attention matrix."""
        return False

    def normalize(self, attn: torch.Tensor) -> torch.Tensor:
        """Scaled logits (B, heads, N, M) -> attention weights."""
        return attn.softmax(dim=-1)

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """softmax(q k^T * scale) v -> (B, N, heads * d)."""
        if self.fused_attn and not self.transforms_attention:
            # One kernel: the N x M matrix is never materialised.
            out = scaled_dot_product_attention(
                q, k, v, dropout_p=self.attn_drop.p if self.training else 0.0,
                scale=self.scale)
        else:
            attn = self.normalize((q @ k.transpose(-2, -1)) * self.scale)
            out = self.attn_drop(attn) @ v
        B, _, N, _ = out.shape
        return out.transpose(1, 2).reshape(B, N, self.num_heads * self.head_dim)

    def forward(self, x: torch.Tensor, query: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Keys and values from ``x`` (B, M, C); queries from ``query`` (B, N, C), by default
        ``x`` itself. Returns (B, N, C)."""
        q = self.project_query(x if query is None else query)
        k, v = self.project_key_value(x)
        return self.proj_drop(self.proj(self.attend(q, k, v)))


class EfficientMultiheadAttention(MultiheadAttention):
    """EMSA of ResT (v1) and EMSAv2 of ResTv2, with the design space the papers ablate.

    Queries come from every token; keys and values from the map reduced by a depth-wise
    conv (kernel sr+1, stride sr) and a LayerNorm.

    Args:
        dim, num_heads, qkv_bias, attn_drop, proj_drop, fused_attn: see
            :class:`MultiheadAttention`.
        sr_ratio: spatial reduction of keys/values.
        interaction: multi-head interaction on the attention logits (ResT v1 / ResTv2 MHIM,
            only when num_heads > 1): 'conv_in' = 1x1 conv over heads, softmax,
            InstanceNorm (v1 default); 'conv' = without the InstanceNorm; 'none'.
        upsample: ResTv2's branch that restores what the reduction lost: 'pixel_shuffle' =
            DWConv3x3 (C -> sr^2 C) + PixelShuffle(sr) (v2 default); 'nearest' / 'bilinear'
            interpolation; 'none'. Followed by a LayerNorm, added before the projection.
        upsample_target: what the branch upsamples: 'v' (default), 'k', or 'tokens' (the
            reduced map before the key/value projection).
        sr_type: key/value reduction: 'conv' (default), 'avgpool' or 'maxpool' (ResT v1
            Table 6), same kernel/stride/padding.
        rel_pos_grid: relative position embedding (ResTv2 App. E, "RPE"): learned per-head
            height and width embeddings on this key grid, added to the keys (so q.r^T joins
            the logits), bilinearly resized for other grids. None: no RPE.
        norm_eps: epsilon of the LayerNorms.
    """

    def __init__(self,
                 dim: int,
                 num_heads: int,
                 sr_ratio: int,
                 qkv_bias: bool = True,
                 interaction: str = 'none',
                 upsample: str = 'none',
                 upsample_target: str = 'v',
                 sr_type: str = 'conv',
                 rel_pos_grid: Optional[Size2d] = None,
                 norm_eps: float = 1e-6,
                 attn_drop: float = 0.0,
                 proj_drop: float = 0.0,
                 fused_attn: bool = True) -> None:
        super().__init__(dim, num_heads, qkv_bias=qkv_bias, attn_drop=attn_drop,
                         proj_drop=proj_drop, fused_attn=fused_attn)
        check_choice('interaction', interaction, INTERACTIONS)
        check_choice('upsample', upsample, UPSAMPLES)
        check_choice('upsample_target', upsample_target, UPSAMPLE_TARGETS)
        check_choice('sr_type', sr_type, SR_TYPES)
        self.sr_ratio = sr_ratio
        if sr_ratio > 1:
            reduce = dict(kernel_size=sr_ratio + 1, stride=sr_ratio, padding=sr_ratio // 2)
            if sr_type == 'conv':
                self.sr = nn.Conv2d(dim, dim, groups=dim, **reduce)
            elif sr_type == 'avgpool':
                self.sr = nn.AvgPool2d(count_include_pad=False, **reduce)
            else:
                self.sr = nn.MaxPool2d(**reduce)
            self.sr_norm = nn.LayerNorm(dim, eps=norm_eps)
        self.interaction = interaction if num_heads > 1 else 'none'
        if self.interaction != 'none':
            self.transform_conv = nn.Conv2d(num_heads, num_heads, kernel_size=1)
            if self.interaction == 'conv_in':
                self.transform_norm = nn.InstanceNorm2d(num_heads)
        self.upsample = upsample
        self.upsample_target = upsample_target
        if upsample == 'pixel_shuffle':
            self.up = nn.Sequential(
                nn.Conv2d(dim, sr_ratio * sr_ratio * dim, 3, 1, 1, groups=dim),
                nn.PixelShuffle(sr_ratio))
        if upsample != 'none':
            self.up_norm = nn.LayerNorm(dim, eps=norm_eps)
        self.rel_pos_grid = rel_pos_grid
        if rel_pos_grid is not None:
            self.rel_h = nn.Parameter(torch.zeros(num_heads, rel_pos_grid[0], 1, self.head_dim))
            self.rel_w = nn.Parameter(torch.zeros(num_heads, 1, rel_pos_grid[1], self.head_dim))
            nn.init.trunc_normal_(self.rel_h, std=0.02)
            nn.init.trunc_normal_(self.rel_w, std=0.02)

    @property
    def head_interaction(self) -> bool:
        return self.interaction != 'none'

    @property
    def transforms_attention(self) -> bool:
        return self.head_interaction  # mixing across heads needs the explicit matrix

    def normalize(self, attn: torch.Tensor) -> torch.Tensor:
        if not self.head_interaction:
            return attn.softmax(dim=-1)
        attn = self.transform_conv(attn).softmax(dim=-1)
        return self.transform_norm(attn) if self.interaction == 'conv_in' else attn

    def _rel_pos(self, kv_hw: Size2d) -> torch.Tensor:
        """(heads, N', d) position embeddings of the key grid ``kv_hw``."""
        rel = (self.rel_h + self.rel_w).permute(0, 3, 1, 2)  # heads, d, gh, gw
        if tuple(rel.shape[2:]) != tuple(kv_hw) or is_tracing():
            rel = F.interpolate(rel, size=kv_hw, mode='bilinear', align_corners=False)
        return rel.flatten(2).transpose(1, 2)

    def _upsample(self, src: torch.Tensor, kv_hw: Size2d, hw: Size2d) -> torch.Tensor:
        """(B, C, h', w') reduced map -> (B, H*W, C) tokens of the full grid."""
        if self.upsample == 'pixel_shuffle':
            # PixelShuffle and the move to token layout in one permute (one copy, not two):
            # channel c * r^2 + i * r + j of the expansion goes to pixel (y * r + i, x * r + j).
            r = self.sr_ratio
            expanded = self.up[0](src)
            B, C, h, w = src.shape
            up = expanded.reshape(B, C, r, r, h, w).permute(0, 4, 2, 5, 3, 1).reshape(
                B, h * r, w * r, C)[:, :hw[0], :hw[1]]
            return self.up_norm(up.reshape(B, hw[0] * hw[1], C))
        if self.sr_ratio > 1:
            up = F.interpolate(src, scale_factor=self.sr_ratio, mode=self.upsample,
                               align_corners=False if self.upsample == 'bilinear' else None)
        else:
            up = src
        # sr * ceil(H / sr) >= H: crop the upsampled map back to the token grid.
        return self.up_norm(map_to_tokens(up[:, :, :hw[0], :hw[1]]))

    def forward(self, x: torch.Tensor, hw: Size2d) -> torch.Tensor:  # type: ignore[override]
        B, N, C = x.shape
        q = self.project_query(x)
        if self.sr_ratio > 1:
            reduced = self.sr(tokens_to_map(x, hw))
            kv_hw = (reduced.shape[2], reduced.shape[3])
            x = self.sr_norm(map_to_tokens(reduced))
        else:
            kv_hw = hw
        k, v = self.project_key_value(x)
        if self.rel_pos_grid is not None:
            k = k + self._rel_pos(kv_hw)
        out = self.attend(q, k, v)
        if self.upsample != 'none':
            if self.upsample_target == 'tokens':
                src = tokens_to_map(x, kv_hw)
            else:  # heads-major channel order, as the kv projection lays them out
                src = (v if self.upsample_target == 'v' else k).transpose(-1, -2).reshape(
                    B, C, kv_hw[0], kv_hw[1])
            out = out + self._upsample(src, kv_hw, hw)
        return self.proj_drop(self.proj(out))


def _size_min(a: int,
              b: int | torch.SymInt | torch.Tensor) -> int | torch.SymInt | torch.Tensor:
    """``min(a, b)`` of a size that stays symbolic in traced graphs: ``b`` is a 0-dim tensor
    under the TorchScript tracer and a SymInt under torch.export, where Python's ``min``
    would bake the export-time answer in."""
    if isinstance(b, torch.Tensor):
        return torch.clamp(b, max=a)
    return torch.sym_min(a, b)


def window_attention(attn: nn.Module, x: torch.Tensor, hw: Size2d,
                     window_size: int) -> torch.Tensor:
    """Run ``attn`` inside non-overlapping ``window_size`` x ``window_size`` windows.

    The map is zero-padded to a multiple of the window and cropped back, so any size works;
    each window reduces its own keys/values (a 64x64 window at sr 8 gives 8x8 keys). A window
    at least as large as the map is clipped to it, which is exactly global attention.
    """
    B, N, C = x.shape
    H, W = hw
    # A traced or exported graph keeps no Python branch: it takes the general path (which
    # gives the same result) at every size, so that it stays right at sizes other than the
    # export size; eager and torch.compile keep the shortcuts.
    traced = is_tracing()
    wh, ww = _size_min(window_size, H), _size_min(window_size, W)
    if not traced and (wh, ww) == (H, W):
        return attn(x, hw)
    pad_h, pad_w = (-H) % wh, (-W) % ww
    x = x.view(B, H, W, C)
    if traced or pad_h or pad_w:
        x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
    nh, nw = (H + pad_h) // wh, (W + pad_w) // ww
    windows = x.view(B, nh, wh, nw, ww, C).transpose(2, 3).reshape(B * nh * nw, wh * ww, C)
    out = attn(windows, (wh, ww))
    out = out.view(B, nh, nw, wh, ww, C).transpose(2, 3).reshape(B, nh * wh, nw * ww, C)
    return out[:, :H, :W].reshape(B, N, C)


class IdentityInitDWConv(nn.Module):
    """Depth-wise 3x3 conv on the token map that starts as the identity (CWin: lets the
    windows of a stage exchange information), so that ImageNet weights keep their meaning at
    the start of fine-tuning."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(dim, dim, 3, 1, 1, groups=dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.conv.weight.zero_()
            self.conv.weight[:, :, 1, 1] = 1.0
            self.conv.bias.zero_()

    def forward(self, x: torch.Tensor, hw: Size2d) -> torch.Tensor:
        return map_to_tokens(self.conv(tokens_to_map(x, hw)))
