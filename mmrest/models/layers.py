"""Building blocks shared by ResT (v1) and ResTv2.

Module and parameter names follow the authors' ResTv2 code so that their checkpoints load as
they are; ResT v1 checkpoints are renamed on load (see :mod:`mmrest.models.checkpoint`).
"""
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

Size2d = Tuple[int, int]


class DropPath(nn.Module):
    """Stochastic depth per sample (the residual branch is dropped for a whole sample)."""

    def __init__(self, drop_prob: float = 0.0) -> None:
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.drop_prob == 0.0 or not self.training:
            return x
        keep_prob = 1.0 - self.drop_prob
        mask = x.new_empty((x.shape[0], ) + (1, ) * (x.ndim - 1)).bernoulli_(keep_prob)
        return x * mask / keep_prob

    def extra_repr(self) -> str:
        return f'drop_prob={self.drop_prob}'


def tokens_to_map(x: torch.Tensor, hw: Size2d) -> torch.Tensor:
    """(B, N, C) tokens -> (B, C, H, W) map."""
    return x.transpose(1, 2).reshape(x.shape[0], x.shape[2], hw[0], hw[1])


def map_to_tokens(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) map -> (B, N, C) tokens."""
    return x.flatten(2).transpose(1, 2)


class PA(nn.Module):
    """Pixel attention positional encoding: ``x * sigmoid(DWConv3x3(x))`` on an NCHW map."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.pa_conv = nn.Conv2d(dim, dim, kernel_size=3, padding=1, groups=dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.pa_conv(x))


class ConvStem(nn.Module):
    """Stride-4 convolutional stem: (conv3x3-BN-ReLU) x 2 -> conv -> PA [-> LayerNorm].

    ResT v1: strides (2, 1, 2), widths (C/2, C/2), last conv 3x3 without bias, no LayerNorm.
    ResTv2: strides (2, 2, 1), widths (C/2, C), last conv 1x1 with bias, then LayerNorm.
    ``proj`` indices 0/1, 3/4 and 6 are the conv/BN pairs and the last conv, as in the
    authors' ResTv2 checkpoints.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 hidden_channels: Tuple[int, int],
                 strides: Tuple[int, int, int],
                 last_kernel_size: int,
                 last_bias: bool,
                 token_norm_eps: Optional[float] = None) -> None:
        super().__init__()
        layers = []
        dims = (in_channels, ) + tuple(hidden_channels)
        for i in range(2):
            layers += [
                nn.Conv2d(dims[i], dims[i + 1], 3, strides[i], 1, bias=False),
                nn.BatchNorm2d(dims[i + 1]),
                nn.ReLU(inplace=True),
            ]
        layers.append(
            nn.Conv2d(dims[2], out_channels, last_kernel_size, strides[2],
                      last_kernel_size // 2, bias=last_bias))
        self.proj = nn.Sequential(*layers)
        self.pos = PA(out_channels)
        self.norm = (nn.LayerNorm(out_channels, eps=token_norm_eps)
                     if token_norm_eps is not None else None)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, Size2d]:
        x = self.pos(self.proj(x))
        hw = (x.shape[2], x.shape[3])
        x = map_to_tokens(x)
        if self.norm is not None:
            x = self.norm(x)
        return x, hw


class PatchEmbed(nn.Module):
    """Overlapping patch embedding between stages: conv(k=s+1, stride s) -> norm/PA.

    ``norm='bn'`` (ResT v1): conv -> BatchNorm -> PA. ``norm='ln'`` (ResTv2): conv -> PA ->
    LayerNorm over the tokens. Output size is ceil(H / stride) for any H.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 stride: int = 2,
                 norm: str = 'ln',
                 ln_eps: float = 1e-6) -> None:
        super().__init__()
        if norm not in ('bn', 'ln'):
            raise ValueError(f"PatchEmbed norm must be 'bn' or 'ln', got {norm!r}")
        self.norm_type = norm
        self.proj = nn.Conv2d(in_channels, out_channels, stride + 1, stride, stride // 2)
        self.norm = (nn.BatchNorm2d(out_channels)
                     if norm == 'bn' else nn.LayerNorm(out_channels, eps=ln_eps))
        self.pos = PA(out_channels)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, Size2d]:
        x = self.proj(x)
        if self.norm_type == 'bn':
            x = self.norm(x)
        x = self.pos(x)
        hw = (x.shape[2], x.shape[3])
        x = map_to_tokens(x)
        if self.norm_type == 'ln':
            x = self.norm(x)
        return x, hw


class EfficientMultiheadAttention(nn.Module):
    """EMSA of ResT (v1) and EMSAv2 of ResTv2.

    Queries come from every token; keys and values from the map reduced by a depth-wise
    conv (kernel sr+1, stride sr) and a LayerNorm.

    Args:
        dim: channels. num_heads: heads. sr_ratio: spatial reduction of keys/values.
        qkv_bias: bias of the q and kv projections.
        head_interaction: ResT v1's multi-head interaction (1x1 conv over heads on the
            attention logits, softmax, InstanceNorm); only active when num_heads > 1.
        upsample_v: ResTv2's upsample branch: V -> DWConv3x3 (C -> sr^2 C) -> PixelShuffle(sr)
            -> LayerNorm, added to the attention output before the projection.
        norm_eps: epsilon of the LayerNorms.
        fused_attn: compute softmax(QK^T)V with ``F.scaled_dot_product_attention`` (same
            result, less memory and time); the explicit form is kept for head interaction
            and as a reference.
    """

    def __init__(self,
                 dim: int,
                 num_heads: int,
                 sr_ratio: int,
                 qkv_bias: bool = True,
                 head_interaction: bool = False,
                 upsample_v: bool = False,
                 norm_eps: float = 1e-6,
                 attn_drop: float = 0.0,
                 proj_drop: float = 0.0,
                 fused_attn: bool = True) -> None:
        super().__init__()
        if dim % num_heads != 0:
            raise ValueError(f'dim {dim} is not divisible by num_heads {num_heads}')
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.sr_ratio = sr_ratio
        self.q = nn.Linear(dim, dim, bias=qkv_bias)
        self.kv = nn.Linear(dim, dim * 2, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop)
        self.attn_drop_rate = attn_drop
        self.fused_attn = fused_attn
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        if sr_ratio > 1:
            self.sr = nn.Conv2d(dim, dim, sr_ratio + 1, sr_ratio, sr_ratio // 2, groups=dim)
            self.sr_norm = nn.LayerNorm(dim, eps=norm_eps)
        self.head_interaction = head_interaction and num_heads > 1
        if self.head_interaction:
            self.transform_conv = nn.Conv2d(num_heads, num_heads, kernel_size=1)
            self.transform_norm = nn.InstanceNorm2d(num_heads)
        self.upsample_v = upsample_v
        if upsample_v:
            self.up = nn.Sequential(
                nn.Conv2d(dim, sr_ratio * sr_ratio * dim, 3, 1, 1, groups=dim),
                nn.PixelShuffle(sr_ratio))
            self.up_norm = nn.LayerNorm(dim, eps=norm_eps)

    def forward(self, x: torch.Tensor, hw: Size2d) -> torch.Tensor:
        B, N, C = x.shape
        q = self.q(x).reshape(B, N, self.num_heads, self.head_dim).transpose(1, 2)
        if self.sr_ratio > 1:
            reduced = self.sr(tokens_to_map(x, hw))
            kv_hw = (reduced.shape[2], reduced.shape[3])
            x = self.sr_norm(map_to_tokens(reduced))
        else:
            kv_hw = hw
        kv = self.kv(x).reshape(B, -1, 2, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        k, v = kv.unbind(0)
        if self.fused_attn and not self.head_interaction:
            # softmax(q k^T * scale) v in one kernel: the N x N' matrix is never materialised.
            out = F.scaled_dot_product_attention(
                q, k, v, dropout_p=self.attn_drop_rate if self.training else 0.0,
                scale=self.scale)
        else:
            attn = (q @ k.transpose(-2, -1)) * self.scale
            if self.head_interaction:  # mixing across heads needs the explicit matrix
                attn = self.transform_norm(self.transform_conv(attn).softmax(dim=-1))
            else:
                attn = attn.softmax(dim=-1)
            out = self.attn_drop(attn) @ v
        out = out.transpose(1, 2).reshape(B, N, C)
        if self.upsample_v:
            # Heads-major channel order, as the kv projection lays them out.
            v_map = v.transpose(-1, -2).reshape(B, C, kv_hw[0], kv_hw[1])
            # sr * ceil(H / sr) >= H: crop the upsampled map back to the token grid.
            up = self.up(v_map)[:, :, :hw[0], :hw[1]]
            out = out + self.up_norm(map_to_tokens(up))
        return self.proj_drop(self.proj(out))


def window_attention(attn: nn.Module, x: torch.Tensor, hw: Size2d,
                     window_size: int) -> torch.Tensor:
    """Run ``attn`` inside non-overlapping ``window_size`` x ``window_size`` windows.

    The map is zero-padded to a multiple of the window and cropped back, so any size works;
    each window reduces its own keys/values (a 64x64 window at sr 8 gives 8x8 keys). A window
    at least as large as the map is clipped to it, which is exactly global attention.
    """
    B, N, C = x.shape
    H, W = hw
    wh, ww = min(window_size, H), min(window_size, W)
    if (wh, ww) == (H, W):
        return attn(x, hw)
    pad_h, pad_w = (-H) % wh, (-W) % ww
    x = x.view(B, H, W, C)
    if pad_h or pad_w:
        x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
    nh, nw = (H + pad_h) // wh, (W + pad_w) // ww
    windows = x.view(B, nh, wh, nw, ww, C).transpose(2, 3).reshape(B * nh * nw, wh * ww, C)
    out = attn(windows, (wh, ww))
    out = out.view(B, nh, nw, wh, ww, C).transpose(2, 3).reshape(B, nh * wh, nw * ww, C)
    return out[:, :H, :W].reshape(B, N, C)


class IdentityInitDWConv(nn.Module):
    """Depth-wise 3x3 conv on the token map that starts as the identity (CWin), so that
    ImageNet weights keep their meaning at the start of fine-tuning."""

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


class Mlp(nn.Module):
    """Linear(C, rC) -> GELU -> Linear(rC, C)."""

    def __init__(self, dim: int, hidden_dim: int, drop: float = 0.0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dim, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class ResTBlock(nn.Module):
    """Pre-norm transformer block: x + DropPath(EMSA(LN(x))), then x + DropPath(MLP(LN(x))).

    ``window_size=None`` attends over the whole map; an int restricts attention to windows.
    """

    def __init__(self,
                 dim: int,
                 num_heads: int,
                 sr_ratio: int,
                 mlp_ratio: float = 4.0,
                 qkv_bias: bool = True,
                 drop_path: float = 0.0,
                 drop: float = 0.0,
                 attn_drop: float = 0.0,
                 norm_eps: float = 1e-6,
                 head_interaction: bool = False,
                 upsample_v: bool = False,
                 fused_attn: bool = True,
                 window_size: Optional[int] = None) -> None:
        super().__init__()
        self.window_size = window_size
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps)
        self.attn = EfficientMultiheadAttention(
            dim, num_heads, sr_ratio, qkv_bias=qkv_bias, head_interaction=head_interaction,
            upsample_v=upsample_v, norm_eps=norm_eps, attn_drop=attn_drop, proj_drop=drop,
            fused_attn=fused_attn)
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop=drop)

    def forward(self, x: torch.Tensor, hw: Size2d) -> torch.Tensor:
        if self.window_size is None:
            x = x + self.drop_path(self.attn(self.norm1(x), hw))
        else:
            x = x + self.drop_path(window_attention(self.attn, self.norm1(x), hw,
                                                    self.window_size))
        return x + self.drop_path(self.mlp(self.norm2(x)))
