"""Blocks and feed-forwards: stochastic depth, the two feed-forwards (MLP and CeiT's LeFF,
which take the same arguments and are called alike), and the pre-norm ResT block."""
from typing import Dict, Optional, Type

import torch
import torch.nn as nn

from ...utils.compat import GELU
from ..validation import check_choice
from .attention import EfficientMultiheadAttention, window_attention
from .helpers import Size2d


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


class Mlp(nn.Module):
    """Linear(C, rC) -> GELU -> Linear(rC, C), on each token alone (the map size is not
    needed; it is taken so that every FFN is called alike)."""

    def __init__(self, dim: int, hidden_dim: int, drop: float = 0.0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = GELU()
        self.fc2 = nn.Linear(hidden_dim, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor, hw: Optional[Size2d] = None) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class LeFF(nn.Module):
    """Locally-enhanced Feed-Forward (LeFF) of CeiT ("Incorporating Convolution Designs into
    Visual Transformers", ICCV 2021, Sec. 3.3), a drop-in replacement of the MLP.

    The tokens are expanded, restored to their 2-D positions, mixed with their spatial
    neighbours by a depth-wise conv, flattened back and projected down. Every step is followed
    by BatchNorm and GELU, as in the paper::

        x_p^l1 = GELU(BN(Linear1(x_p)))              (N, C)  -> (N, eC)
        x_p^d  = GELU(BN(DWConv(SpatialRestore(x_p^l1))))    (eC, H, W)
        x_p^l2 = GELU(BN(Linear2(Flatten(x_p^d))))   (N, eC) -> (N, C)

    Args:
        dim: token channels C (input and output).
        hidden_dim: expanded channels eC (CeiT: e = 4).
        drop: dropout on the output.
        kernel_size: side of the depth-wise conv (odd, so that the map keeps its size).
        with_cls_token: the first token is a class token. It has no spatial position, so it
            takes no part in the LeFF: its output is zero, so that in a residual block
            ``x + LeFF(LN(x), hw)`` it passes through unchanged -- the paper's
            ``x^{h+1} = Concat(x_c^h, x_p^l2)``. Without it (ResT-style blocks) all N = H*W
            tokens are patch tokens.

    The layers keep PyTorch's default biases, as the paper describes plain Linear / DWConv
    layers; under the following BatchNorm they are redundant but harmless.
    """

    def __init__(self,
                 dim: int,
                 hidden_dim: int,
                 drop: float = 0.0,
                 kernel_size: int = 3,
                 with_cls_token: bool = False) -> None:
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
        self.act = GELU()
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor, hw: Optional[Size2d] = None) -> torch.Tensor:
        """(B, N, C) tokens -> (B, N, C); N = H*W, or 1 + H*W with a class token first."""
        if hw is None:
            raise ValueError('LeFF needs the (H, W) of the token map')
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


# Feed-forwards by name, all built as ``FFN(dim, hidden_dim, drop=...)`` and called as
# ``ffn(tokens, hw)``.
FFNS: Dict[str, Type[nn.Module]] = {'mlp': Mlp, 'leff': LeFF}


class PreNormBlock(nn.Module):
    """Pre-norm transformer block: x + DropPath(attn(LN(x))), then x + DropPath(FFN(LN(x))),
    the block of every mmrest backbone. It takes its attention and feed-forward built;
    ``ffn_name`` is the feed-forward's attribute (and checkpoint) name. Subclasses say how the
    attention is called (:meth:`attention`)."""

    def __init__(self,
                 dim: int,
                 attn: nn.Module,
                 ffn: nn.Module,
                 drop_path: float = 0.0,
                 norm_eps: float = 1e-6,
                 ffn_name: str = 'mlp') -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps)
        self.attn = attn
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps)
        self.ffn_name = ffn_name
        self.add_module(ffn_name, ffn)

    @property
    def feed_forward(self) -> nn.Module:
        return getattr(self, self.ffn_name)

    def attention(self, x: torch.Tensor, hw: Optional[Size2d]) -> torch.Tensor:
        return self.attn(x)

    def forward(self, x: torch.Tensor, hw: Optional[Size2d] = None) -> torch.Tensor:
        x = x + self.drop_path(self.attention(self.norm1(x), hw))
        return x + self.drop_path(self.feed_forward(self.norm2(x), hw))


class ResTBlock(PreNormBlock):
    """The block of ResT and ResTv2: EMSA over the whole map or, with ``window_size``, inside
    windows; ``ffn`` names the feed-forward of :data:`FFNS` (``'leff'``: CeiT's LeFF instead
    of the MLP). Other keywords go to the attention."""

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
        check_choice('ffn', ffn, tuple(FFNS))
        attn = EfficientMultiheadAttention(
            dim, num_heads, sr_ratio, qkv_bias=qkv_bias, norm_eps=norm_eps, attn_drop=attn_drop,
            proj_drop=drop, fused_attn=fused_attn, **attn_options)
        super().__init__(dim, attn, FFNS[ffn](dim, int(dim * mlp_ratio), drop=drop),
                         drop_path=drop_path, norm_eps=norm_eps)
        self.window_size = window_size

    def attention(self, x: torch.Tensor, hw: Optional[Size2d]) -> torch.Tensor:
        if self.window_size is None:
            return self.attn(x, hw)
        return window_attention(self.attn, x, hw, self.window_size)
