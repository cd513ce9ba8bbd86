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


def _tracing() -> bool:
    """Inside ONNX / TorchScript tracing or torch.export, where Python branches on sizes
    would freeze the export-time answer into the graph."""
    return torch.jit.is_tracing() or torch.compiler.is_exporting()


def tokens_to_map(x: torch.Tensor, hw: Size2d) -> torch.Tensor:
    """(B, N, C) tokens -> (B, C, H, W) map, as a channels-last view of the same memory.

    Convolutions take channels-last input as it is and return channels-last output, which
    :func:`map_to_tokens` turns back into tokens without a copy either.
    """
    return x.reshape(x.shape[0], hw[0], hw[1], x.shape[2]).permute(0, 3, 1, 2)


def map_to_tokens(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) map -> (B, N, C) tokens (a view for channels-last maps)."""
    return x.flatten(2).transpose(1, 2)


class PA(nn.Module):
    """Pixel attention positional encoding: ``x * sigmoid(DWConv3x3(x))`` on an NCHW map."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.pa_conv = nn.Conv2d(dim, dim, kernel_size=3, padding=1, groups=dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.pa_conv(x))


class PEG(nn.Module):
    """Positional encoding generator (CPVT; ResTv2 App. E): ``x + DWConv3x3(x)``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(dim, dim, kernel_size=3, padding=1, groups=dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.proj(x)


class GroupLinearPE(nn.Module):
    """ResT v1's GL encoding (Eq. 7): ``x + GL(x)``, a group linear map with one group per
    channel."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(dim))
        self.bias = nn.Parameter(torch.zeros(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + x * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


class AbsolutePE(nn.Module):
    """Learned absolute embedding (ViT's "LE"/APE) for a ``grid`` map, bilinearly resized
    to other sizes."""

    def __init__(self, dim: int, grid: Size2d) -> None:
        super().__init__()
        self.pos_embed = nn.Parameter(torch.zeros(1, dim, *grid))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pos = self.pos_embed
        # Traced graphs must keep the resize (an identity at the same size) to stay dynamic.
        if pos.shape[2:] != x.shape[2:] or _tracing():
            pos = F.interpolate(pos, size=x.shape[2:], mode='bilinear', align_corners=False)
        return x + pos


POS_EMBEDS = ('pa', 'peg', 'gl', 'abs', 'rpe', 'none')


def build_pos_embed(kind: str, dim: int, grid: Size2d) -> nn.Module:
    """The positional encoding applied to the map of a stem / patch embedding. ``'rpe'``
    lives in the attention instead, so the embedding gets none."""
    if kind == 'pa':
        return PA(dim)
    if kind == 'peg':
        return PEG(dim)
    if kind == 'gl':
        return GroupLinearPE(dim)
    if kind == 'abs':
        return AbsolutePE(dim, grid)
    if kind in ('rpe', 'none'):
        return nn.Identity()
    raise ValueError(f'pos_embed must be one of {", ".join(POS_EMBEDS)}, got {kind!r}')


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
                 token_norm_eps: Optional[float] = None,
                 pos: Optional[nn.Module] = None) -> None:
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
        self.pos = pos if pos is not None else PA(out_channels)
        self.norm = (nn.LayerNorm(out_channels, eps=token_norm_eps)
                     if token_norm_eps is not None else None)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, Size2d]:
        x = self.pos(self.proj(x))
        hw = (x.shape[2], x.shape[3])
        x = map_to_tokens(x)
        if self.norm is not None:
            x = self.norm(x)
        return x, hw


class PatchifyStem(nn.Module):
    """PVT's first patch embedding: conv 4x4 stride 4 (no padding) -> pos -> LayerNorm."""

    def __init__(self, in_channels: int, out_channels: int, ln_eps: float,
                 pos: nn.Module) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, out_channels, kernel_size=4, stride=4)
        self.pos = pos
        self.norm = nn.LayerNorm(out_channels, eps=ln_eps)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, Size2d]:
        # Pad to a multiple of 4 so the grid is ceil(H / 4) like the other stems.
        x = F.pad(x, (0, (-x.shape[3]) % 4, 0, (-x.shape[2]) % 4))
        x = self.pos(self.proj(x))
        hw = (x.shape[2], x.shape[3])
        return self.norm(map_to_tokens(x)), hw


class ResNetStem(nn.Module):
    """ResNet's stem: conv 7x7 stride 2 -> BN -> ReLU -> max-pool 3x3 stride 2 -> pos."""

    def __init__(self, in_channels: int, out_channels: int, pos: nn.Module) -> None:
        super().__init__()
        self.proj = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 7, 2, 3, bias=False),
            nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
        self.pos = pos

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, Size2d]:
        x = self.pos(self.proj(x))
        return map_to_tokens(x), (x.shape[2], x.shape[3])


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
                 ln_eps: float = 1e-6,
                 pos: Optional[nn.Module] = None) -> None:
        super().__init__()
        if norm not in ('bn', 'ln'):
            raise ValueError(f"PatchEmbed norm must be 'bn' or 'ln', got {norm!r}")
        self.norm_type = norm
        self.proj = nn.Conv2d(in_channels, out_channels, stride + 1, stride, stride // 2)
        self.norm = (nn.BatchNorm2d(out_channels)
                     if norm == 'bn' else nn.LayerNorm(out_channels, eps=ln_eps))
        self.pos = pos if pos is not None else PA(out_channels)

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


INTERACTIONS = ('none', 'conv', 'conv_in')
UPSAMPLES = ('pixel_shuffle', 'nearest', 'bilinear', 'none')
UPSAMPLE_TARGETS = ('v', 'k', 'tokens')
SR_TYPES = ('conv', 'avgpool', 'maxpool')


def _check_choice(name: str, value: str, choices: Tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f'{name} must be one of {", ".join(choices)}, got {value!r}')


class EfficientMultiheadAttention(nn.Module):
    """EMSA of ResT (v1) and EMSAv2 of ResTv2, with the design space the papers ablate.

    Queries come from every token; keys and values from the map reduced by a depth-wise
    conv (kernel sr+1, stride sr) and a LayerNorm.

    Args:
        dim: channels. num_heads: heads. sr_ratio: spatial reduction of keys/values.
        qkv_bias: bias of the q and kv projections.
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
        fused_attn: compute softmax(QK^T)V with ``F.scaled_dot_product_attention`` (same
            result, less memory and time); the explicit form is kept for head interaction
            and as a reference.
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
        super().__init__()
        if dim % num_heads != 0:
            raise ValueError(f'dim {dim} is not divisible by num_heads {num_heads}')
        _check_choice('interaction', interaction, INTERACTIONS)
        _check_choice('upsample', upsample, UPSAMPLES)
        _check_choice('upsample_target', upsample_target, UPSAMPLE_TARGETS)
        _check_choice('sr_type', sr_type, SR_TYPES)
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

    def _rel_pos(self, kv_hw: Size2d) -> torch.Tensor:
        """(heads, N', d) position embeddings of the key grid ``kv_hw``."""
        rel = (self.rel_h + self.rel_w).permute(0, 3, 1, 2)  # heads, d, gh, gw
        if tuple(rel.shape[2:]) != tuple(kv_hw) or _tracing():
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
        if self.rel_pos_grid is not None:
            k = k + self._rel_pos(kv_hw)
        if self.fused_attn and not self.head_interaction:
            # softmax(q k^T * scale) v in one kernel: the N x N' matrix is never materialised.
            out = F.scaled_dot_product_attention(
                q, k, v, dropout_p=self.attn_drop_rate if self.training else 0.0,
                scale=self.scale)
        else:
            attn = (q @ k.transpose(-2, -1)) * self.scale
            if self.head_interaction:  # mixing across heads needs the explicit matrix
                attn = self.transform_conv(attn).softmax(dim=-1)
                if self.interaction == 'conv_in':
                    attn = self.transform_norm(attn)
            else:
                attn = attn.softmax(dim=-1)
            out = self.attn_drop(attn) @ v
        out = out.transpose(1, 2).reshape(B, N, C)
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
    traced = _tracing()
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
    """Pre-norm transformer block: x + DropPath(EMSA(LN(x))), then x + DropPath(FFN(LN(x))).

    ``window_size=None`` attends over the whole map; an int restricts attention to windows.
    ``ffn='leff'`` swaps the MLP for CeiT's LeFF. Other keywords go to the attention.
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
                 fused_attn: bool = True,
                 window_size: Optional[int] = None,
                 ffn: str = 'mlp',
                 **attn_options) -> None:
        super().__init__()
        self.window_size = window_size
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps)
        self.attn = EfficientMultiheadAttention(
            dim, num_heads, sr_ratio, qkv_bias=qkv_bias, norm_eps=norm_eps, attn_drop=attn_drop,
            proj_drop=drop, fused_attn=fused_attn, **attn_options)
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps)
        if ffn not in ('mlp', 'leff'):
            raise ValueError(f"ffn must be 'mlp' or 'leff', got {ffn!r}")
        self.ffn = ffn
        if ffn == 'mlp':
            self.mlp = Mlp(dim, int(dim * mlp_ratio), drop=drop)
        else:  # CeiT's locally-enhanced feed-forward, a drop-in replacement
            from .leff import LeFF
            self.mlp = LeFF(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor, hw: Size2d) -> torch.Tensor:
        if self.window_size is None:
            x = x + self.drop_path(self.attn(self.norm1(x), hw))
        else:
            x = x + self.drop_path(window_attention(self.attn, self.norm1(x), hw,
                                                    self.window_size))
        if self.ffn == 'leff':
            return x + self.drop_path(self.mlp(self.norm2(x), hw))
        return x + self.drop_path(self.mlp(self.norm2(x)))
