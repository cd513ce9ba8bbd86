"""Modules that ONNX cannot express with dynamic sizes, or that ONNX Runtime computes
imprecisely, swapped for exact equivalents for the duration of an export."""
import contextlib
from typing import Any, Iterator, Optional, Tuple, Union

import torch
import torch.nn as nn


def _pool_matrix(length: Any, bins: int, like: torch.Tensor) -> torch.Tensor:
    """(bins, length) matrix averaging over torch's adaptive-pooling bins along one axis.

    Bin ``i`` covers ``[floor(i L / s), ceil((i + 1) L / s))``, as in ATen. ``length`` is an int,
    a SymInt (torch.export) or a 0-dim tensor (TorchScript tracer): everything is computed with
    tensor ops so that the graph keeps it symbolic.
    """
    idx = torch.arange(bins, device=like.device)
    start = torch.div(idx * length, bins, rounding_mode='floor')
    end = torch.div((idx + 1) * length + bins - 1, bins, rounding_mode='floor')
    pos = torch.arange(length, device=like.device)
    inside = (pos[None, :] >= start[:, None]) & (pos[None, :] < end[:, None])
    return inside.to(like.dtype) / (end - start).to(like.dtype)[:, None]


class DynamicAdaptiveAvgPool2d(nn.Module):
    """``nn.AdaptiveAvgPool2d`` as two averaging matrices built from the input size.

    ONNX has no adaptive pooling: the TorchScript exporter turns it into an ``AveragePool``
    whose kernel comes from the export-time size and refuses when that size is dynamic (mmseg's
    UperNet PPM pools to 1, 2, 3 and 6 bins). ``P_h @ x @ P_w^T`` is the same average for any
    size, and cheap: the matrices are ``bins x H`` and ``bins x W``.
    """

    def __init__(self, output_size: Union[int, Tuple[Optional[int], Optional[int]]]) -> None:
        super().__init__()
        if isinstance(output_size, int):
            output_size = (output_size, output_size)
        self.output_size = tuple(output_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bins_h, bins_w = self.output_size
        if bins_h is not None:  # None keeps that axis, as in nn.AdaptiveAvgPool2d
            x = torch.matmul(_pool_matrix(x.shape[-2], bins_h, x), x)
        if bins_w is not None:
            x = torch.matmul(x, _pool_matrix(x.shape[-1], bins_w, x).transpose(0, 1))
        return x

    def extra_repr(self) -> str:
        return f'output_size={self.output_size}'


class PreciseInstanceNorm2d(nn.Module):
    """``nn.InstanceNorm2d`` (no running statistics) with a corrected two-pass mean.

    ONNX Runtime's ``InstanceNormalization`` loses precision when the mean dominates the
    spread. ResT v1's head interaction normalises softmax outputs, whose mean is exactly
    ``1 / N'`` and whose spread is small: at 480x640 the ONNX Runtime kernel was 3e-3 off
    PyTorch. Subtracting the mean a second time removes the rounding error of the first, which
    brings the exported model back to PyTorch's own float32 error (5e-5 against float64).
    """

    def __init__(self, norm: nn.InstanceNorm2d) -> None:
        super().__init__()
        self.eps = norm.eps
        # The original parameters (shared, not copied), so that nothing is duplicated.
        self.weight = norm.weight
        self.bias = norm.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x - x.mean(dim=(-2, -1), keepdim=True)
        x = x - x.mean(dim=(-2, -1), keepdim=True)
        x = x * torch.rsqrt(x.pow(2).mean(dim=(-2, -1), keepdim=True) + self.eps)
        if self.weight is not None:
            x = x * self.weight[:, None, None] + self.bias[:, None, None]
        return x


def _export_replacement(module: nn.Module) -> Optional[nn.Module]:
    if isinstance(module, nn.AdaptiveAvgPool2d):
        size = module.output_size
        if size not in (1, (1, 1)):  # global pooling exports as GlobalAveragePool already
            return DynamicAdaptiveAvgPool2d(size)
    elif isinstance(module, nn.InstanceNorm2d) and not module.track_running_stats:
        return PreciseInstanceNorm2d(module)
    return None


@contextlib.contextmanager
def export_rewrites(model: nn.Module) -> Iterator[int]:
    """Swap, for the duration of an export, the modules that ONNX cannot express with dynamic
    sizes or that ONNX Runtime computes imprecisely, for exact equivalents; yields how many
    were swapped. The model is restored afterwards (the swaps share its parameters)."""
    swaps = [(parent, name, child) for parent in model.modules()
             for name, child in parent.named_children() if _export_replacement(child) is not None]
    try:
        for parent, name, child in swaps:
            setattr(parent, name, _export_replacement(child))
        yield len(swaps)
    finally:
        for parent, name, child in swaps:
            setattr(parent, name, child)
