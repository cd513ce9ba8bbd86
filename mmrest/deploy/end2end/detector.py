"""An mmdet detector, image to (boxes, scores, labels[, masks]), as one graph.

Covered: one-stage anchor-based detectors whose head is an ``AnchorHead`` (RetinaNet), and
two-stage detectors with an RPN and a ``StandardRoIHead`` (Faster / Mask R-CNN) or a
``CascadeRoIHead`` (Cascade (Mask) R-CNN). Boxes are xyxy in the input image's pixels.
"""
from typing import Any, Tuple

import torch
import torch.nn as nn

from .cascade import CascadeHead
from .detection import DensePostProcess
from .ops import sizes_of
from .preprocess import Preprocess, UnsupportedModelError
from .roi import BBoxStage, MaskStage

ONE_STAGE_HEADS = ('RetinaHead', 'AnchorHead')


class End2EndDetector(nn.Module):
    """``(H, W, 3)`` uint8 RGB -> ``boxes (N, 4)`` float, ``scores (N,)``, ``labels (N,)``
    int64 and, with a mask head, ``masks (N, H, W)`` uint8 (then, for the verification, the
    network input and the resized size)."""

    def __init__(self, detector: nn.Module, cfg: Any) -> None:
        super().__init__()
        self.detector = detector
        self.preprocess = Preprocess.of(detector.data_preprocessor, cfg)
        self.two_stage = getattr(detector, 'rpn_head', None) is not None
        self.with_mask = False
        self.cascade = None
        if self.two_stage:
            self._init_two_stage(detector)
        else:
            head = getattr(detector, 'bbox_head', None)
            name = type(head).__name__
            if head is None or name not in ONE_STAGE_HEADS:
                raise UnsupportedModelError(
                    f'{type(detector).__name__} with head {name} is not covered by the '
                    f'end-to-end export (one-stage: {", ".join(ONE_STAGE_HEADS)}; two-stage: '
                    'RPN + StandardRoIHead or CascadeRoIHead)')
            self.dense = DensePostProcess(head, head.test_cfg, proposals=False)
        self.output_names = ('boxes', 'scores', 'labels') + (('masks', ) if self.with_mask
                                                             else ())

    def _init_two_stage(self, detector: nn.Module) -> None:
        roi_head = getattr(detector, 'roi_head', None)
        name = type(roi_head).__name__
        if name not in ('StandardRoIHead', 'CascadeRoIHead') or getattr(
                roi_head, 'with_shared_head', False) or getattr(roi_head, 'semantic_head', None):
            raise UnsupportedModelError(f'RoI head {name} is not covered by the end-to-end '
                                        'export (StandardRoIHead, CascadeRoIHead)')
        self.rpn = DensePostProcess(detector.rpn_head, detector.rpn_head.test_cfg,
                                    proposals=True)
        test_cfg = roi_head.test_cfg
        if name == 'CascadeRoIHead':
            self.cascade = CascadeHead(roi_head)
        else:
            self.bbox = BBoxStage(roi_head.bbox_roi_extractor, roi_head.bbox_head, test_cfg)
        self.with_mask = bool(roi_head.with_mask)
        if self.with_mask:
            if self.cascade is not None:
                self.mask = self.cascade.masks[-1]
            else:
                self.mask = MaskStage(roi_head.mask_roi_extractor, roi_head.mask_head, test_cfg)

    def forward(self, image: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        x, img_hw, scale_wh = self.preprocess(image)
        feats = self.detector.extract_feat(x)
        if not self.two_stage:
            cls_scores, bbox_preds = self.detector.bbox_head(feats)
            boxes, scores, labels = self.dense(cls_scores, bbox_preds, img_hw, scale_wh)
            return boxes, scores, labels, x, img_hw
        rpn_scores, rpn_deltas = self.detector.rpn_head(feats)
        proposals, _, _ = self.rpn(rpn_scores, rpn_deltas, img_hw, scale_wh)
        if self.cascade is not None:
            boxes, scores, labels, mask_probs = self.cascade(feats, proposals, img_hw,
                                                             self.with_mask)
        else:
            cls_score, bbox_pred = self.bbox(feats, proposals)
            boxes, scores, labels = self.bbox.detections(
                cls_score.softmax(-1), self.bbox.boxes(proposals, bbox_pred, img_hw))
            mask_probs = (self.mask.of_labels(self.mask(feats, boxes), labels)
                          if self.with_mask else None)
        image_boxes = boxes / scale_wh.repeat(2)
        outputs = (image_boxes, scores, labels)
        if self.with_mask:
            outputs += (self.mask.paste(mask_probs, image_boxes, sizes_of(image)[:2]), )
        return outputs + (x, img_hw)
