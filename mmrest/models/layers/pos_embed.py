"""Positional encodings: the ones ResT and ResTv2 ablate (applied to the map of a stem or patch
embedding) and the resizing of a learned token-sequence embedding (CeiT, ViT-style)."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..validation import check_choice
from .helpers import Size2d, is_tracing


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
        if pos.shape[2:] != x.shape[2:] or is_tracing():
            pos = F.interpolate(pos, size=x.shape[2:], mode='bilinear', align_corners=False)
        return x + pos


POS_EMBEDS = ('pa', 'peg', 'gl', 'abs', 'rpe', 'none')


def build_pos_embed(kind: str, dim: int, grid: Size2d) -> nn.Module:
    """The positional encoding applied to the map of a stem / patch embedding. ``'rpe'``
    lives in the attention instead, so the embedding gets none."""
    check_choice('pos_embed', kind, POS_EMBEDS)
    if kind == 'pa':
        return PA(dim)
    if kind == 'peg':
        return PEG(dim)
    if kind == 'gl':
        return GroupLinearPE(dim)
    if kind == 'abs':
        return AbsolutePE(dim, grid)
    return nn.Identity()  # 'rpe', 'none'


def resize_pos_embed(pos_embed: torch.Tensor, src_hw: Size2d, dst_hw: Size2d,
                     mode: str = 'bicubic', num_extra_tokens: int = 1) -> torch.Tensor:
    """Interpolate a (1, extra + Hs*Ws, C) positional embedding to a (Hd, Wd) token grid; the
    extra (class) tokens are kept as they are. Same semantics as mmpretrain's helper."""
    if tuple(src_hw) == tuple(dst_hw):
        return pos_embed
    extra, grid = pos_embed[:, :num_extra_tokens], pos_embed[:, num_extra_tokens:]
    C = grid.shape[-1]
    if grid.shape[1] != src_hw[0] * src_hw[1]:
        raise ValueError(f'pos_embed has {grid.shape[1]} patch positions, not the '
                         f'{src_hw[0]}x{src_hw[1]} grid it is said to have')
    grid = grid.reshape(1, src_hw[0], src_hw[1], C).permute(0, 3, 1, 2)
    # Bicubic interpolation is only implemented for floating point in fp32 on some devices.
    grid = F.interpolate(grid.float(), size=tuple(dst_hw), mode=mode, align_corners=False)
    grid = grid.flatten(2).transpose(1, 2).to(pos_embed.dtype)
    return torch.cat([extra, grid], dim=1)
