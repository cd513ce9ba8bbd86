"""Cascade R-CNN's RoI head (mmdet's ``CascadeRoIHead``) in graph form.

As mmdet's ``predict``: each stage but the last moves the RoIs by the deltas of their best
class; the class logits of all stages are averaged before the softmax; the last stage's
boxes go through NMS per class; the mask heads of all stages run on the detections and their
sigmoid maps are averaged (``merge_aug_masks`` without flips).
"""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn

from .roi import BBoxStage, MaskStage


def stage_module(modules: nn.Module, stage: int) -> nn.Module:
    """A cascade's module of ``stage``: one per stage, or one shared by all."""
    return modules[stage] if isinstance(modules, nn.ModuleList) else modules


class CascadeHead(nn.Module):

    def __init__(self, roi_head: nn.Module) -> None:
        super().__init__()
        test_cfg = roi_head.test_cfg
        self.stages = nn.ModuleList(
            BBoxStage(stage_module(roi_head.bbox_roi_extractor, i), roi_head.bbox_head[i], test_cfg)
            for i in range(roi_head.num_stages))
        self.masks = nn.ModuleList(
            MaskStage(stage_module(roi_head.mask_roi_extractor, i), roi_head.mask_head[i],
                      test_cfg) for i in range(roi_head.num_stages)) if roi_head.with_mask else None

    def forward(self, feats: Sequence[torch.Tensor], proposals: torch.Tensor,
                img_hw: torch.Tensor, with_mask: bool) -> Tuple[Optional[torch.Tensor], ...]:
        """(boxes, scores, labels, mask maps or None) in the resized image's pixels."""
        rois, logits = proposals, []
        for i, stage in enumerate(self.stages):
            cls_score, bbox_pred = stage(feats, rois)
            logits.append(cls_score)
            if i < len(self.stages) - 1:
                rois = stage.refine(rois, cls_score, bbox_pred, img_hw)
        last = self.stages[-1]
        scores = (sum(logits) / float(len(logits))).softmax(-1)
        boxes, scores, labels = last.detections(scores, last.boxes(rois, bbox_pred, img_hw))
        if not with_mask:
            return boxes, scores, labels, None
        probabilities = sum(mask(feats, boxes) for mask in self.masks) / float(len(self.masks))
        return boxes, scores, labels, self.masks[-1].of_labels(probabilities, labels)
