"""Standard ONNX operators whose sizes come from the data, as PyTorch functions.

Each is an ``autograd.Function``: its ``forward`` computes the result in PyTorch (what the
tracer runs), its ``symbolic`` writes one operator of the ``ai.onnx`` domain. Writing the
operator directly keeps every size dynamic (a traced Python ``int`` would freeze the size of
the export image into the graph) and pins the ONNX semantics that matter:

* :func:`resize` -- ``Resize`` (linear, ``pytorch_half_pixel`` or ``align_corners``) to a
  size held in a tensor: PyTorch's ``bilinear`` without antialiasing (mmseg's logits; the
  image itself is resized as OpenCV does it, :mod:`.imresize`);
* :func:`pad_bottom_right` -- ``Pad`` with a constant;
* :func:`topk` -- ``TopK`` with ``k`` held in a tensor;
* :func:`nms` -- ``NonMaxSuppression``, one batch entry per class (see :func:`batched_nms`);
* :func:`roi_align` -- ``RoiAlign`` (opset 16: ``half_pixel`` is mmcv's ``aligned=True``).

Sizes are 1-D int64 tensors. ``sizes_of`` reads them from a tensor (``Shape`` in ONNX).
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F

ROI_ALIGN_OPSET = 16  # coordinate_transformation_mode appeared in opset 16


def sizes_of(x: torch.Tensor) -> torch.Tensor:
    """``x.shape`` as a 1-D int64 tensor (``Shape``): stays dynamic in a traced graph."""
    return torch._shape_as_tensor(x)


def crop_top_left(x: torch.Tensor, size_hw: torch.Tensor) -> torch.Tensor:
    """The top-left ``size_hw`` of ``(N, C, H, W)`` (``Gather`` along H and W)."""
    rows = torch.arange(size_hw[0], device=x.device)
    cols = torch.arange(size_hw[1], device=x.device)
    return x.index_select(2, rows).index_select(3, cols)


def _empty(g, dtype=torch.float32):
    return g.op('Constant', value_t=torch.tensor([], dtype=dtype))


def _int64(g, value):
    return g.op('Cast', value, to_i=7)  # 7: TensorProto.INT64


class _Resize(torch.autograd.Function):

    @staticmethod
    def forward(ctx, x: torch.Tensor, size_hw: torch.Tensor, align_corners: bool):
        h, w = (int(v) for v in size_hw.tolist())
        return F.interpolate(x, size=(h, w), mode='bilinear', align_corners=align_corners)

    @staticmethod
    def symbolic(g, x, size_hw, align_corners):
        nc = g.op('Slice', g.op('Shape', x), g.op('Constant', value_t=torch.tensor([0])),
                  g.op('Constant', value_t=torch.tensor([2])))
        sizes = g.op('Concat', nc, _int64(g, size_hw), axis_i=0)
        mode = 'align_corners' if align_corners else 'pytorch_half_pixel'
        return g.op('Resize', x, _empty(g), _empty(g), sizes, coordinate_transformation_mode_s=mode,
                    mode_s='linear', nearest_mode_s='floor')


def resize(x: torch.Tensor, size_hw: torch.Tensor, align_corners: bool = False) -> torch.Tensor:
    """Bilinear resize of ``(N, C, H, W)`` to ``size_hw`` (a 2-element int64 tensor)."""
    return _Resize.apply(x, size_hw, align_corners)


class _Pad(torch.autograd.Function):

    @staticmethod
    def forward(ctx, x: torch.Tensor, pad_hw: torch.Tensor, value: float):
        ph, pw = (int(v) for v in pad_hw.tolist())
        return F.pad(x, (0, pw, 0, ph), value=value)

    @staticmethod
    def symbolic(g, x, pad_hw, value):
        # pads: (begin N, C, H, W, end N, C, H, W)
        zeros = g.op('Constant', value_t=torch.zeros(6, dtype=torch.int64))
        pads = g.op('Concat', zeros, _int64(g, pad_hw), axis_i=0)
        return g.op('Pad', x, pads, g.op('Constant', value_t=torch.tensor(value)),
                    mode_s='constant')


def pad_bottom_right(x: torch.Tensor, pad_hw: torch.Tensor, value: float = 0.0) -> torch.Tensor:
    """Pad ``(N, C, H, W)`` by ``pad_hw`` rows and columns at the bottom and right."""
    return _Pad.apply(x, pad_hw, float(value))


class _TopK(torch.autograd.Function):

    @staticmethod
    def forward(ctx, x: torch.Tensor, k: torch.Tensor):
        return torch.topk(x, int(k), dim=-1, largest=True, sorted=True)

    @staticmethod
    def symbolic(g, x, k):
        k = g.op('Reshape', _int64(g, k), g.op('Constant', value_t=torch.tensor([1])))
        return g.op('TopK', x, k, axis_i=-1, largest_i=1, sorted_i=1, outputs=2)


def topk(x: torch.Tensor, k: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """The ``min(k, len)`` largest values of the 1-D ``x`` and their indices, descending.

    ``k``: an int or a 0-dim / 1-element int64 tensor (e.g. a count read from the data)."""
    k = torch.as_tensor(k, dtype=torch.int64).reshape(())
    k = torch.minimum(k, sizes_of(x)[-1])
    return _TopK.apply(x, k)


class _NonMaxSuppression(torch.autograd.Function):

    @staticmethod
    def forward(ctx, boxes: torch.Tensor, scores: torch.Tensor, max_per_class: int,
                iou_threshold: float, score_threshold: float):
        from mmcv.ops import nms as mmcv_nms
        selected = []
        for b in range(scores.shape[0]):
            for c in range(scores.shape[1]):
                candidates = torch.nonzero(scores[b, c] > score_threshold).squeeze(1)
                _, keep = mmcv_nms(boxes[b, candidates], scores[b, c, candidates],
                                   iou_threshold)
                keep = keep[:max_per_class]
                index = candidates[keep]
                selected.append(torch.stack([torch.full_like(index, b),
                                             torch.full_like(index, c), index], dim=1))
        return torch.cat(selected).to(torch.int64)

    @staticmethod
    def symbolic(g, boxes, scores, max_per_class, iou_threshold, score_threshold):
        return g.op('NonMaxSuppression', boxes, scores,
                    g.op('Constant', value_t=torch.tensor([max_per_class], dtype=torch.int64)),
                    g.op('Constant', value_t=torch.tensor([iou_threshold], dtype=torch.float)),
                    g.op('Constant', value_t=torch.tensor([score_threshold], dtype=torch.float)),
                    center_point_box_i=0)


def nms(boxes: torch.Tensor, scores: torch.Tensor, max_per_class: int, iou_threshold: float,
        score_threshold: float) -> torch.Tensor:
    """ONNX ``NonMaxSuppression``: boxes ``(B, N, 4)`` xyxy, scores ``(B, C, N)``; returns
    ``(K, 3)`` rows ``(batch, class, box)``, each class's boxes in descending score order.
    A box is suppressed by a higher-scoring one of IoU > ``iou_threshold`` (mmcv's rule);
    only scores > ``score_threshold`` take part."""
    return _NonMaxSuppression.apply(boxes, scores, int(max_per_class), float(iou_threshold),
                                    float(score_threshold))


def batched_nms(boxes: torch.Tensor, scores: torch.Tensor, classes: Optional[torch.Tensor],
                num_classes: int, iou_threshold: float,
                max_num: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """mmcv's ``batched_nms``: NMS within each class, the survivors by descending score, at
    most ``max_num``. Returns their (class, box index).

    ``boxes``: ``(N, 4)`` shared by all classes with ``classes`` ``(N,)`` saying whose each
    is, or ``(C, N, 4)``, one set per class (then ``scores`` is ``(C, N)`` and entries < 0
    take no part). Each class is one batch entry of ``NonMaxSuppression``; mmcv shifts the
    boxes of each class apart instead, which gives the same result up to the rounding of the
    shifted coordinates.
    """
    if boxes.dim() == 2:
        member = classes[None, :] == torch.arange(num_classes, device=boxes.device)[:, None]
        scores = torch.where(member, scores[None, :], torch.full_like(scores, -1.0)[None, :])
        boxes = boxes[None].expand(num_classes, -1, -1)
    selected = nms(boxes, scores[:, None, :], max_num, iou_threshold, -0.5)
    kept_class, kept_box = selected[:, 0], selected[:, 2]
    _, order = topk(scores[kept_class, kept_box], max_num)
    return kept_class[order], kept_box[order]


class _RoiAlign(torch.autograd.Function):

    @staticmethod
    def forward(ctx, feats: torch.Tensor, rois: torch.Tensor, batch_index: torch.Tensor,
                output_size: Tuple[int, int], spatial_scale: float, sampling_ratio: int,
                aligned: bool):
        from mmcv.ops import roi_align as mmcv_roi_align
        boxes = torch.cat([batch_index[:, None].to(rois.dtype), rois], dim=1)
        return mmcv_roi_align(feats, boxes, output_size, spatial_scale, sampling_ratio, 'avg',
                              aligned)

    @staticmethod
    def symbolic(g, feats, rois, batch_index, output_size, spatial_scale, sampling_ratio,
                 aligned):
        mode = 'half_pixel' if aligned else 'output_half_pixel'
        return g.op('RoiAlign', feats, rois, batch_index, coordinate_transformation_mode_s=mode,
                    mode_s='avg', output_height_i=output_size[0], output_width_i=output_size[1],
                    sampling_ratio_i=sampling_ratio, spatial_scale_f=spatial_scale)


def roi_align(feats: torch.Tensor, rois: torch.Tensor, output_size: Tuple[int, int],
              spatial_scale: float, sampling_ratio: int, aligned: bool = True) -> torch.Tensor:
    """ONNX ``RoiAlign`` (average) of ``(K, 4)`` xyxy boxes on image 0 of ``feats``:
    ``aligned=True`` samples as mmcv's ``RoIAlign(aligned=True)`` (half-pixel offset, no
    minimum box size); ``sampling_ratio=0`` takes ``ceil(box size / output size)`` samples."""
    batch_index = torch.zeros_like(rois[:, 0], dtype=torch.int64)
    return _RoiAlign.apply(feats, rois, batch_index, tuple(int(s) for s in output_size),
                           float(spatial_scale), int(sampling_ratio), bool(aligned))
