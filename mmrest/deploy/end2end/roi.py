"""The RoI heads of a two-stage detector (Mask R-CNN's ``StandardRoIHead``) in graph form.

* RoI level assignment as mmdet's ``SingleRoIExtractor.map_roi_levels``
  (``floor(log2(sqrt(area) / finest_scale + 1e-6))``, clamped), then one ``RoiAlign`` per
  level on the RoIs of that level, put back in RoI order;
* the bbox head's softmax scores and class-specific boxes, NMS per class
  (mmdet's ``multiclass_nms``), ``max_per_img`` kept;
* the mask head on the kept boxes, each detection's class channel, pasted at the input
  image's size (:mod:`.masks`).
"""
from typing import Any, Sequence, Tuple

import torch
import torch.nn as nn

from .detection import BoxDecoder, check_nms_cfg
from .masks import paste_masks
from .ops import ROI_ALIGN_OPSET, batched_nms, roi_align, sizes_of, topk
from .preprocess import UnsupportedModelError


class RoIExtractor(nn.Module):
    """mmdet's ``SingleRoIExtractor`` with ONNX ``RoiAlign``: ``(K, 4)`` boxes -> features."""

    min_opset = ROI_ALIGN_OPSET

    def __init__(self, extractor: nn.Module) -> None:
        super().__init__()
        if type(extractor).__name__ != 'SingleRoIExtractor':
            raise UnsupportedModelError(f'RoI extractor {type(extractor).__name__} is not '
                                        'covered (SingleRoIExtractor)')
        self.layers = []
        for layer in extractor.roi_layers:
            if type(layer).__name__ != 'RoIAlign' or getattr(layer, 'pool_mode', 'avg') != 'avg':
                raise UnsupportedModelError(f'RoI layer {type(layer).__name__} is not covered '
                                            '(RoIAlign, average pooling)')
            size = layer.output_size
            size = (size, size) if isinstance(size, int) else tuple(size)
            self.layers.append((size, float(layer.spatial_scale), int(layer.sampling_ratio),
                                bool(layer.aligned)))
        self.finest_scale = float(extractor.finest_scale)

    def _align(self, feats: torch.Tensor, rois: torch.Tensor, level: int) -> torch.Tensor:
        size, scale, ratio, aligned = self.layers[level]
        return roi_align(feats, rois, size, scale, ratio, aligned)

    def forward(self, feats: Sequence[torch.Tensor], rois: torch.Tensor) -> torch.Tensor:
        levels = len(self.layers)
        if levels == 1:
            return self._align(feats[0], rois, 0)
        scale = torch.sqrt((rois[:, 2] - rois[:, 0]) * (rois[:, 3] - rois[:, 1]))
        target = torch.floor(torch.log2(scale / self.finest_scale + 1e-6))
        target = target.clamp(min=0, max=levels - 1).long()
        parts, order = [], []
        for level in range(levels):
            index = torch.nonzero(target == level).squeeze(1)
            parts.append(self._align(feats[level], rois[index], level))
            order.append(index)
        order = torch.cat(order)
        # The position of each RoI in the level-sorted features: an ascending sort of order.
        _, inverse = topk(-order.float(), sizes_of(order)[0])
        return torch.cat(parts)[inverse]


class BBoxStage(nn.Module):
    """RoIs -> (boxes, scores, labels) of one bbox head, in the resized image's pixels."""

    def __init__(self, extractor: nn.Module, bbox_head: nn.Module, test_cfg: Any) -> None:
        super().__init__()
        if getattr(bbox_head, 'custom_cls_channels', False):
            raise UnsupportedModelError('a bbox head with a custom classification activation '
                                        'is not covered (softmax only)')
        self.extractor = RoIExtractor(extractor)
        self.head = bbox_head
        self.decoder = BoxDecoder(bbox_head.bbox_coder)
        self.num_classes = int(bbox_head.num_classes)
        self.class_agnostic_boxes = bool(bbox_head.reg_class_agnostic)
        self.score_thr = float(test_cfg.get('score_thr', 0.0))
        self.max_per_img = int(test_cfg.get('max_per_img', 100))
        self.iou_threshold, agnostic = check_nms_cfg(test_cfg, 'rcnn test_cfg')
        if agnostic:
            raise UnsupportedModelError('rcnn test_cfg.nms.class_agnostic is not covered')
        if self.max_per_img <= 0:
            raise UnsupportedModelError('rcnn test_cfg.max_per_img must be > 0')

    def forward(self, feats: Sequence[torch.Tensor],
                rois: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """The head's class logits ``(K, C + 1)`` and box deltas."""
        return self.head(self.extractor(feats, rois))

    def boxes(self, rois: torch.Tensor, bbox_pred: torch.Tensor,
              img_hw: torch.Tensor) -> torch.Tensor:
        """Decoded boxes ``(C, K, 4)`` of every class (shared if class-agnostic)."""
        c = 1 if self.class_agnostic_boxes else self.num_classes
        per_class = rois[:, None, :].expand(-1, c, -1).reshape(-1, 4)
        boxes = self.decoder(per_class, bbox_pred.reshape(-1, 4), img_hw).reshape(-1, c, 4)
        return boxes.permute(1, 0, 2).expand(self.num_classes, -1, -1)

    def refine(self, rois: torch.Tensor, cls_score: torch.Tensor, bbox_pred: torch.Tensor,
               img_hw: torch.Tensor) -> torch.Tensor:
        """mmdet's ``regress_by_class``: each RoI moved by the deltas of its best class."""
        if not self.class_agnostic_boxes:
            label = cls_score[:, :-1].argmax(1)
            index = (label * 4)[:, None] + torch.arange(4, device=rois.device)[None, :]
            bbox_pred = bbox_pred.gather(1, index)
        return self.decoder(rois, bbox_pred, img_hw)

    def detections(self, scores: torch.Tensor,
                   boxes: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """NMS per class over ``scores`` ``(K, C + 1)`` and boxes ``(C, K, 4)``."""
        per_class = scores[:, :self.num_classes].t()
        per_class = torch.where(per_class > self.score_thr, per_class,
                                torch.full_like(per_class, -1.0))
        labels, index = batched_nms(boxes, per_class, None, self.num_classes,
                                    self.iou_threshold, self.max_per_img)
        return boxes[labels, index], per_class[labels, index], labels


class MaskStage(nn.Module):
    """Detections (resized-image boxes) -> ``(N, H, W)`` uint8 masks of the input image."""

    def __init__(self, extractor: nn.Module, mask_head: nn.Module, test_cfg: Any) -> None:
        super().__init__()
        self.extractor = RoIExtractor(extractor)
        self.head = mask_head
        self.class_agnostic = bool(getattr(mask_head, 'class_agnostic', False))
        self.threshold = float(test_cfg.get('mask_thr_binary', 0.5))
        if self.threshold < 0:
            raise UnsupportedModelError('rcnn test_cfg.mask_thr_binary < 0 (soft masks) is '
                                        'not covered')

    def forward(self, feats: Sequence[torch.Tensor], boxes: torch.Tensor) -> torch.Tensor:
        """Mask probabilities ``(N, C, M, M)`` (or ``(N, 1, M, M)``, class-agnostic)."""
        return self.head(self.extractor(feats, boxes)).sigmoid()

    def of_labels(self, probabilities: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Each detection's ``(M, M)`` map of its class."""
        channel = torch.zeros_like(labels) if self.class_agnostic else labels
        index = channel[:, None, None, None].expand(-1, 1, probabilities.shape[2],
                                                    probabilities.shape[3])
        return probabilities.gather(1, index)[:, 0]

    def paste(self, probabilities: torch.Tensor, boxes: torch.Tensor,
              image_hw: torch.Tensor) -> torch.Tensor:
        return paste_masks(probabilities, boxes, image_hw, self.threshold)
