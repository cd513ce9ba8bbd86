"""Locally-enhanced Feed-Forward (LeFF) of CeiT ("Incorporating Convolution Designs into
Visual Transformers", ICCV 2021, Sec. 3.3), usable by any token-based block.

It replaces the MLP of a transformer block: the tokens are expanded, restored to their 2-D
positions, mixed with their spatial neighbours by a depth-wise conv, flattened back and
projected down. Every step is followed by BatchNorm and GELU, as in the paper::

    x_p^l1 = GELU(BN(Linear1(x_p)))              (N, C)  -> (N, eC)
    x_p^d  = GELU(BN(DWConv(SpatialRestore(x_p^l1))))    (eC, H, W)
    x_p^l2 = GELU(BN(Linear2(Flatten(x_p^d))))   (N, eC) -> (N, C)
"""
from typing import Tuple

import torch
import torch.nn as nn

Size2d = Tuple[int, int]


class LeFF(nn.Module):
    """Locally-enhanced Feed-Forward on (B, N, C) tokens of an H x W map.

    Args:
        dim: token channels C (input and output).
        hidden_dim: expanded channels eC (CeiT: e = 4).
        kernel_size: side of the depth-wise conv (odd, so that the map keeps its size).
        with_cls_token: the first token is a class token. It has no spatial position, so it
            takes no part in the LeFF: its output is zero, so that in a residual block
            ``x + LeFF(LN(x), hw)`` it passes through unchanged -- the paper's
            ``x^{h+1} = Concat(x_c^h, x_p^l2)``. Without it (ResT-style blocks) all N = H*W
            tokens are patch tokens.
        drop: dropout on the output.

    The layers keep PyTorch's default biases, as the paper describes plain Linear / DWConv
    layers; under the following BatchNorm they are redundant but harmless.
    """

    def __init__(self,
                 dim: int,
                 hidden_dim: int,
                 kernel_size: int = 3,
                 with_cls_token: bool = False,
                 drop: float = 0.0) -> None:
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f'LeFF kernel_size must be a positive odd number (the token map '
                             f'keeps its size), got {kernel_size}')
        self.with_cls_token = with_cls_token
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.bn1 = nn.BatchNorm1d(hidden_dim)
        self.dwconv = nn.Conv2d(hidden_dim, hidden_dim, kernel_size, 1, kernel_size // 2,
                                groups=hidden_dim)
        self.bn2 = nn.BatchNorm2d(hidden_dim)
        self.fc2 = nn.Linear(hidden_dim, dim)
        self.bn3 = nn.BatchNorm1d(dim)
        self.act = nn.GELU()
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor, hw: Size2d) -> torch.Tensor:
        """(B, N, C) tokens -> (B, N, C); N = H*W, or 1 + H*W with a class token first."""
        if self.with_cls_token:
            cls_token, x = x[:, :1], x[:, 1:]
        B, N, _ = x.shape
        H, W = hw
        if N != H * W:
            raise ValueError(f'LeFF got {N} patch tokens for a {H}x{W} map'
                             + (' (after the class token)' if self.with_cls_token else ''))
        # Channels-first throughout: BatchNorm1d normalises (B, C, N) per channel over all
        # tokens of the batch, and the map is then a free reshape.
        x = self.act(self.bn1(self.fc1(x).transpose(1, 2)))
        x = self.act(self.bn2(self.dwconv(x.reshape(B, -1, H, W))))
        x = self.fc2(x.flatten(2).transpose(1, 2))
        x = self.drop(self.act(self.bn3(x.transpose(1, 2))).transpose(1, 2))
        if self.with_cls_token:
            x = torch.cat([torch.zeros_like(cls_token), x], dim=1)
        return x
