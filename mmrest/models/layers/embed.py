"""Stems and patch embeddings: image -> stride-4 tokens, and the stride-2 embeddings between
stages. Each returns ``(tokens (B, N, C), (H, W))``; output size is ceil(input / stride)."""
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..validation import check_choice
from .helpers import Size2d, map_to_tokens
from .pos_embed import PA


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
        check_choice('PatchEmbed norm', norm, ('bn', 'ln'))
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
