"""What is exported of an mmdet detector or mmseg segmentor: the part from a normalised image
batch to tensors (see :mod:`mmrest.deploy.onnx`), and the names of its outputs."""
from typing import List, Tuple

import torch
import torch.nn as nn


class DetectorNetwork(nn.Module):
    """An mmdet detector's dense network: ``inputs -> (neck features..., head outputs...)``.

    The dense head is the RPN head of a two-stage detector and the bbox head of a one-stage
    one; its per-level outputs (e.g. ``cls_scores`` and ``bbox_preds``) are flattened level by
    level after the features.
    """

    def __init__(self, detector: nn.Module) -> None:
        super().__init__()
        self.detector = detector
        self.head_name = 'rpn_head' if getattr(detector, 'with_rpn', False) else 'bbox_head'
        if getattr(detector, self.head_name, None) is None:
            raise TypeError(f'{type(detector).__name__} has no {self.head_name}: only '
                            'detectors with a dense RPN or bbox head are supported')

    def forward(self, inputs: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        feats = self.detector.extract_feat(inputs)
        head_outs = getattr(self.detector, self.head_name)(feats)
        return tuple(feats) + tuple(t for per_level in head_outs for t in per_level)

    def output_names(self, inputs: torch.Tensor) -> List[str]:
        with torch.no_grad():
            feats = self.detector.extract_feat(inputs)
            head_outs = getattr(self.detector, self.head_name)(feats)
        kinds = {2: ('cls_score', 'bbox_pred'), 3: ('cls_score', 'bbox_pred', 'centerness')}
        kinds = kinds.get(len(head_outs), tuple(f'out{j}' for j in range(len(head_outs))))
        prefix = 'rpn_' if self.head_name == 'rpn_head' else ''
        return ([f'feat{i}' for i in range(len(feats))] +
                [f'{prefix}{kind}{i}' for kind, per_level in zip(kinds, head_outs)
                 for i in range(len(per_level))])


class SegmentorNetwork(nn.Module):
    """An mmseg segmentor's network: ``inputs -> (B, num_classes, H/4, W/4)`` logits (its
    ``_forward``, i.e. ``mode='tensor'``)."""

    def __init__(self, segmentor: nn.Module) -> None:
        super().__init__()
        self.segmentor = segmentor

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.segmentor._forward(inputs)

    def output_names(self, inputs: torch.Tensor) -> List[str]:
        return ['seg_logits']


def backbone_output_names(backbone: nn.Module, inputs: torch.Tensor) -> List[str]:
    indices = getattr(backbone, 'out_indices', None)
    with torch.no_grad():
        count = len(backbone(inputs))
    if indices is None or len(indices) != count:
        indices = range(count)
    return [f'feat{i}' for i in indices]


def model_network(model: nn.Module) -> nn.Module:
    """The tensor-to-tensors part of an mmdet detector or mmseg segmentor (see
    :mod:`mmrest.deploy.onnx`)."""
    if hasattr(model, 'extract_feat') and (hasattr(model, 'rpn_head')
                                           or hasattr(model, 'bbox_head')):
        return DetectorNetwork(model)
    if hasattr(model, 'decode_head') and hasattr(model, '_forward'):
        return SegmentorNetwork(model)
    raise TypeError(f'cannot export {type(model).__name__}: expected an mmdet detector with '
                    'a dense head or an mmseg segmentor (use export_backbone for a backbone)')
