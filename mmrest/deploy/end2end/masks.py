"""Pasting ``M x M`` mask probabilities into the image, as mmdet's ``_do_paste_mask``.

mmdet samples each mask with ``grid_sample`` (bilinear, ``align_corners=False``, zeros
outside) at the centres of the image pixels, mapped into the box. That sampling grid is
separable -- a pixel's x only depends on its column, its y on its row -- so the same values
are ``Wy @ mask @ Wx^T`` with ``(H, M)`` and ``(W, M)`` matrices of bilinear (tent) weights,
two ``MatMul`` per batch of masks: no ``GridSample`` and no per-pixel grid in memory.

On the CPU mmdet only computes the pixels within a pixel of the box (``skip_empty``) and
leaves the rest 0. Outside that margin every value sampled here is below 0.5 (a pixel more
than half a mask cell out gets a weight below 0.5 of a probability <= 1), so the thresholded
masks are the same.
"""
import torch


def _tent_weights(start: torch.Tensor, end: torch.Tensor, length: torch.Tensor,
                  cells: int) -> torch.Tensor:
    """(N, length, cells): the bilinear weight of each mask cell for each pixel centre."""
    centres = torch.arange(length, device=start.device).float() + 0.5
    # grid_sample's normalised coordinate of the pixel, then its position in mask cells
    grid = (centres[None, :] - start[:, None]) / (end - start)[:, None] * 2 - 1
    position = ((grid + 1) * cells - 1) / 2
    cell = torch.arange(cells, device=start.device).float()
    return (1 - (position[:, :, None] - cell[None, None, :]).abs()).clamp(min=0)


def paste_masks(masks: torch.Tensor, boxes: torch.Tensor, image_hw: torch.Tensor,
                threshold: float) -> torch.Tensor:
    """``(N, M, M)`` probabilities in ``(N, 4)`` xyxy boxes -> ``(N, H, W)`` uint8 masks
    (probability >= ``threshold``) of an ``image_hw`` image."""
    x0, y0, x1, y1 = boxes.unbind(1)
    rows = _tent_weights(y0, y1, image_hw[0], int(masks.shape[1]))
    cols = _tent_weights(x0, x1, image_hw[1], int(masks.shape[2]))
    pasted = torch.matmul(torch.matmul(rows, masks), cols.transpose(1, 2))
    return (pasted >= threshold).to(torch.uint8)

