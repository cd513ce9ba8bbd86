"""OpenCV's bilinear resize of a uint8 image, bit for bit, in traceable PyTorch operations.

mmcv's ``imresize`` (the test pipelines' ``Resize``) calls ``cv2.resize(..., INTER_LINEAR)``
on the uint8 image. OpenCV does not interpolate in floating point there: it computes 11-bit
fixed-point weights and combines the pixels in integers, first along the rows, then along the
columns. ONNX ``Resize`` interpolates in float and rounds once, which differs by a grey level
on some pixels. This module writes OpenCV's arithmetic out instead, so that the exported graph
produces the same uint8 values:

* **source positions and weights**, per axis: the inverse scale ``dst / src`` and the scale
  ``1 / (dst / src)`` in float64; ``f = float32((d + 0.5) * scale - 0.5)``, ``s = floor(f)``,
  ``f -= s``; the weights ``round((1 - f) * 2048)`` and ``round(f * 2048)`` (float32, ties to
  even). Along the width a position left of the first or right of the last pixel takes that
  pixel with weight ``2048``; along the height the weights are kept and the row indices
  clamped;
* **horizontal pass**: ``h = a0 * p[s] + a1 * p[s + 1]`` (exact integers up to 255 * 2048);
* **vertical pass**, as OpenCV's SIMD code does it (measured: every pixel of a row, including
  the last ones, for the x86-64 builds of OpenCV 4.x): ``t = ((h0 >> 4) * b0 >> 16) +
  ((h1 >> 4) * b1 >> 16)``, result ``(t + 2) >> 2``. (OpenCV's plain C formula,
  ``(h0 * b0 + h1 * b1 + 2**21) >> 22``, differs from it on some pixels.)

All the integer arithmetic runs on float64 values that hold the integers exactly (at most
``2**27``), with ``Floor`` for the shifts, so the graph needs only ``Gather``, ``Mul``,
``Add``, ``Floor``, ``Round`` and casts. A shrink by exactly 2 in both directions, which OpenCV
hands to its area averaging, gives the same values (weights 1024 / 1024). The property test
``tests/test_deploy/test_imresize.py`` compares the exported graph with ``cv2.resize`` and
mmcv's ``imrescale`` on many sizes.
"""
from typing import Tuple

import torch

COEF_SCALE = 2048  # OpenCV's INTER_RESIZE_COEF_SCALE: 11 fractional bits


def _clip(index: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
    """``index`` clamped to ``[0, last]`` (``Where``: ``Clip`` / ``Max`` on integers need
    opset 12)."""
    index = torch.where(index < 0, torch.zeros_like(index), index)
    return torch.where(index > last, last, index)


def linear_taps(src: torch.Tensor, dst: torch.Tensor, clamp_weights: bool
                ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """OpenCV's bilinear taps along one axis of ``src`` pixels resized to ``dst``: the two
    source indices (int64, clamped into the image) and their fixed-point weights (float64
    integers summing to 2048) of each output pixel.

    ``src`` and ``dst`` are 1-element int64 tensors (sizes read from the data stay dynamic in
    a traced graph; not 0-dim: the exporter would compute the scale of 0-dim "scalars" in
    float32). ``clamp_weights``: outside the image, take the edge pixel with the full
    weight (OpenCV does this along the width, not along the height).
    """
    inv_scale = dst.to(torch.float64) / src.to(torch.float64)
    scale = 1.0 / inv_scale
    position = torch.arange(dst[0], dtype=torch.int64).to(torch.float64)
    frac = ((position + 0.5) * scale - 0.5).to(torch.float32)
    first = torch.floor(frac)
    frac = frac - first
    first = first.to(torch.int64)
    last = src - 1
    if clamp_weights:
        frac = torch.where((first < 0) | (first >= last), torch.zeros_like(frac), frac)
        first = _clip(first, last)
    second = _clip(first + 1, last)
    first = _clip(first, last)
    w_first = torch.round((1.0 - frac) * COEF_SCALE).to(torch.float64)
    w_second = torch.round(frac * COEF_SCALE).to(torch.float64)
    return first, second, w_first, w_second


def resize_uint8_linear(image: torch.Tensor, size_hw: torch.Tensor) -> torch.Tensor:
    """``cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)`` of an ``(H, W, C)``
    uint8 image, as an ``(h, w, C)`` float64 tensor of the same integer values.

    ``size_hw``: the output ``(h, w)`` as an int64 tensor. The channel order does not matter
    (each channel is resized alone).
    """
    sizes = torch._shape_as_tensor(image)
    col0, col1, a0, a1 = linear_taps(sizes[1:2], size_hw[1:2], clamp_weights=True)
    row0, row1, b0, b1 = linear_taps(sizes[0:1], size_hw[0:1], clamp_weights=False)
    # Horizontal pass, then ">> 4" (OpenCV packs the row sums to 16 bits that way).
    rows = (image.index_select(1, col0).to(torch.float64) * a0[None, :, None] +
            image.index_select(1, col1).to(torch.float64) * a1[None, :, None])
    rows = torch.floor(rows * (1.0 / 16))
    # Vertical pass: two 16-bit "multiply high" products (>> 16), then a rounding ">> 2".
    # At most (255 * 128) * 2048 >> 16 = 1020 per pixel: the result never exceeds 255.
    top = torch.floor(rows.index_select(0, row0) * b0[:, None, None] * (1.0 / 65536))
    bottom = torch.floor(rows.index_select(0, row1) * b1[:, None, None] * (1.0 / 65536))
    return torch.floor((top + bottom + 2.0) * 0.25)
