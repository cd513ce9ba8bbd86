"""Layout helpers shared by the layers: token <-> map views, tracing."""
import torch

from ...utils.aliases import Size2d
from ...utils.compat import is_exporting

__all__ = ['Size2d', 'is_tracing', 'map_to_tokens', 'tokens_to_map']


def is_tracing() -> bool:
    """Inside ONNX / TorchScript tracing or torch.export, where Python branches on sizes
    would freeze the export-time answer into the graph."""
    return torch.jit.is_tracing() or is_exporting()


def tokens_to_map(x: torch.Tensor, hw: Size2d) -> torch.Tensor:
    """(B, N, C) tokens -> (B, C, H, W) map, as a channels-last view of the same memory.

    Convolutions take channels-last input as it is and return channels-last output, which
    :func:`map_to_tokens` turns back into tokens without a copy either.
    """
    return x.reshape(x.shape[0], hw[0], hw[1], x.shape[2]).permute(0, 3, 1, 2)


def map_to_tokens(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) map -> (B, N, C) tokens (a view for channels-last maps)."""
    return x.flatten(2).transpose(1, 2)
