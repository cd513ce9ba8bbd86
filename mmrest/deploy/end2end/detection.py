"""Dense-head post-processing of mmdet 3 in graph form: anchors, box decoding, the per-level
top-k, NMS; RetinaNet's detections and the RPN's proposals.

The semantics are mmdet's (``BaseDenseHead._predict_by_feat_single`` / ``RPNHead``):

* RetinaNet: per level, the ``nms_pre`` best (anchor, class) pairs whose score exceeds
  ``score_thr``; boxes decoded and clipped to the resized image, rescaled to the input image,
  boxes of width or height <= ``min_bbox_size`` dropped, NMS per class, ``max_per_img`` kept;
* RPN: per level the ``nms_pre`` best anchors, decoded and clipped, small boxes dropped, NMS
  per level (mmdet's ``level_ids``), ``max_per_img`` proposals kept.
"""
import math
from typing import Any, List, Sequence, Tuple

import torch
import torch.nn as nn

from .ops import batched_nms, sizes_of, topk
from .preprocess import UnsupportedModelError


def check_nms_cfg(cfg: Any, where: str) -> Tuple[float, bool]:
    """(IoU threshold, class agnostic) of a ``test_cfg``'s ``nms``: plain NMS only."""
    nms_cfg = cfg.get('nms') or {}
    if nms_cfg.get('type', 'nms') != 'nms':
        raise UnsupportedModelError(f'{where}.nms.type={nms_cfg.get("type")!r} is not covered '
                                    "(plain 'nms' only)")
    return float(nms_cfg['iou_threshold']), bool(nms_cfg.get('class_agnostic', False))


def _base_anchors(prior_generator: Any) -> List[torch.Tensor]:
    name = type(prior_generator).__name__
    if name != 'AnchorGenerator':
        raise UnsupportedModelError(f'prior generator {name} is not covered (AnchorGenerator)')
    return [a.detach().float().clone() for a in prior_generator.base_anchors]


class BoxDecoder(nn.Module):
    """mmdet's ``DeltaXYWHBBoxCoder.decode`` (``delta2bbox``) with clipping to ``max_hw``."""

    def __init__(self, coder: Any) -> None:
        super().__init__()
        name = type(coder).__name__
        if name != 'DeltaXYWHBBoxCoder' or getattr(coder, 'add_ctr_clamp', False):
            raise UnsupportedModelError(f'box coder {name} is not covered (DeltaXYWHBBoxCoder '
                                        'without add_ctr_clamp)')
        self.register_buffer('means', torch.tensor(coder.means, dtype=torch.float32),
                             persistent=False)
        self.register_buffer('stds', torch.tensor(coder.stds, dtype=torch.float32),
                             persistent=False)
        self.clip_border = bool(coder.clip_border)
        self.max_ratio = abs(math.log(16 / 1000))  # delta2bbox's wh_ratio_clip

    def forward(self, rois: torch.Tensor, deltas: torch.Tensor,
                max_hw: torch.Tensor) -> torch.Tensor:
        deltas = deltas * self.stds + self.means
        pxy = (rois[:, :2] + rois[:, 2:]) * 0.5
        pwh = rois[:, 2:] - rois[:, :2]
        gxy = pxy + pwh * deltas[:, :2]
        gwh = pwh * deltas[:, 2:].clamp(min=-self.max_ratio, max=self.max_ratio).exp()
        boxes = torch.cat([gxy - gwh * 0.5, gxy + gwh * 0.5], dim=1)
        if self.clip_border:
            upper = max_hw.flip(0).repeat(2).to(boxes.dtype)  # (w, h, w, h)
            boxes = torch.minimum(boxes.clamp(min=0), upper)
        return boxes


class AnchorGrid(nn.Module):
    """mmdet's ``AnchorGenerator.grid_priors`` for one level, sizes read from the map."""

    def __init__(self, prior_generator: Any) -> None:
        super().__init__()
        self.levels = len(prior_generator.strides)
        for i, anchors in enumerate(_base_anchors(prior_generator)):
            self.register_buffer(f'base{i}', anchors, persistent=False)
        self.strides = [tuple(float(s) for s in stride) for stride in prior_generator.strides]

    def forward(self, level: int, feat: torch.Tensor) -> torch.Tensor:
        h, w = sizes_of(feat)[-2], sizes_of(feat)[-1]
        stride_w, stride_h = self.strides[level]
        xs = torch.arange(w, device=feat.device).float() * stride_w
        ys = torch.arange(h, device=feat.device).float() * stride_h
        xx = (xs[None, :] + 0 * ys[:, None]).reshape(-1)  # x varies fastest, as mmdet
        yy = (ys[:, None] + 0 * xs[None, :]).reshape(-1)
        shifts = torch.stack([xx, yy, xx, yy], dim=1)
        return (getattr(self, f'base{level}')[None] + shifts[:, None]).reshape(-1, 4)


def _keep_larger_than(boxes: torch.Tensor, min_size: float) -> torch.Tensor:
    wh = boxes[:, 2:] - boxes[:, :2]
    return torch.nonzero((wh[:, 0] > min_size) & (wh[:, 1] > min_size)).squeeze(1)


class DensePostProcess(nn.Module):
    """A dense head's raw outputs -> detections (RetinaNet) or proposals (RPN)."""

    def __init__(self, head: nn.Module, test_cfg: Any, proposals: bool) -> None:
        super().__init__()
        self.proposals = proposals
        self.anchors = AnchorGrid(head.prior_generator)
        self.decoder = BoxDecoder(head.bbox_coder)
        self.sigmoid = bool(getattr(head, 'use_sigmoid_cls', True))
        self.num_classes = 1 if proposals else int(head.num_classes)
        self.nms_pre = int(test_cfg.get('nms_pre', -1))
        self.score_thr = float(test_cfg.get('score_thr', 0.0)) if not proposals else None
        self.min_bbox_size = test_cfg.get('min_bbox_size', -1)
        self.max_per_img = int(test_cfg.get('max_per_img', 100))
        where = 'rpn test_cfg' if proposals else 'test_cfg'
        self.iou_threshold, self.class_agnostic = check_nms_cfg(test_cfg, where)
        if self.max_per_img <= 0:
            raise UnsupportedModelError(f'{where}.max_per_img must be > 0')

    def _level(self, i: int, cls_score: torch.Tensor, bbox_pred: torch.Tensor) -> Tuple:
        """(anchor index, class, score) of the level's candidates and its deltas, anchors."""
        scores = cls_score[0].permute(1, 2, 0).reshape(-1, self.num_classes + (
            0 if self.sigmoid else 1))
        scores = scores.sigmoid() if self.sigmoid else scores.softmax(-1)[:, :-1]
        flat = scores.reshape(-1)
        if self.score_thr is not None:
            flat = torch.where(flat > self.score_thr, flat, torch.full_like(flat, -1.0))
        k = self.nms_pre if self.nms_pre > 0 else sizes_of(flat)[0]
        values, index = topk(flat, k)
        if self.score_thr is not None:
            valid = torch.nonzero(values > self.score_thr).squeeze(1)
            values, index = values[valid], index[valid]
        anchor = torch.div(index, self.num_classes, rounding_mode='floor')
        deltas = bbox_pred[0].permute(1, 2, 0).reshape(-1, 4)
        return anchor, index % self.num_classes, values, deltas, self.anchors(i, cls_score)

    def forward(self, cls_scores: Sequence[torch.Tensor], bbox_preds: Sequence[torch.Tensor],
                img_hw: torch.Tensor, scale_wh: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """(boxes, scores, labels) at most ``max_per_img``, by descending score. Proposals
        stay in the resized image's pixels; detections are in the input image's."""
        boxes, scores, classes = [], [], []
        for i, (cls_score, bbox_pred) in enumerate(zip(cls_scores, bbox_preds)):
            anchor, label, score, deltas, anchors = self._level(i, cls_score, bbox_pred)
            boxes.append(self.decoder(anchors[anchor], deltas[anchor], img_hw))
            scores.append(score)
            classes.append(torch.full_like(label, i) if self.proposals else label)
        boxes, scores, classes = torch.cat(boxes), torch.cat(scores), torch.cat(classes)
        if not self.proposals:
            boxes = boxes / scale_wh.repeat(2)
        if self.min_bbox_size is not None and self.min_bbox_size >= 0:
            keep = _keep_larger_than(boxes, float(self.min_bbox_size))
            boxes, scores, classes = boxes[keep], scores[keep], classes[keep]
        groups = len(cls_scores) if self.proposals else self.num_classes
        nms_classes = classes
        if self.class_agnostic:
            groups, nms_classes = 1, torch.zeros_like(classes)
        _, keep = batched_nms(boxes, scores, nms_classes, groups, self.iou_threshold,
                              self.max_per_img)
        return boxes[keep], scores[keep], classes[keep]
