"""ONNX export of ResT / ResTv2 backbones and of the network part of mmdet / mmseg models.

What is exported is a function of one image batch ``(B, 3, H, W)``, already normalised the way
the config's ``data_preprocessor`` does it, to a tuple of tensors. Batch, height and width are
dynamic (``dynamic_hw=True``): the graph computes every size from the input, so one file
serves any resolution, including sizes that are not multiples of 32.

* backbone: the stage outputs of ``out_indices`` (``feat0`` ... ``feat3``);
* detector: the neck features and the raw outputs of the dense head (the RPN head of a two-stage
  detector such as Mask R-CNN, the bbox head of a one-stage one such as RetinaNet). Proposal
  generation, NMS, RoIAlign, the RoI heads and rescaling (mmdet's ``predict`` post-processing)
  are left to a deployment framework such as MMDeploy;
* segmentor: the decode head's logits at 1/4 of the input size (mmseg's ``_forward``); resizing
  them to the image and the arg-max are post-processing.

:func:`verify_onnx` runs an exported file in ONNX Runtime and compares it with PyTorch at any
number of sizes. Always verify at sizes other than the export size: a Python-level branch on
a size would silently freeze the export-time answer into the graph.

The modules: :mod:`.rewrites` (modules swapped for exact ONNX equivalents during an export),
:mod:`.networks` (the tensor-to-tensors part of a detector or segmentor), :mod:`.export` and
:mod:`.verify`.
"""
from .export import (
    DEFAULT_OPSET,
    INPUT_NAME,
    MIN_DYNAMO_OPSET,
    OnnxExport,
    export_backbone,
    export_model,
)
from .networks import DetectorNetwork, SegmentorNetwork, model_network
from .rewrites import DynamicAdaptiveAvgPool2d, PreciseInstanceNorm2d, export_rewrites
from .verify import OnnxCheck, OnnxMismatchError, onnx_session, verification_sizes, verify_onnx

__all__ = [
    'DEFAULT_OPSET', 'INPUT_NAME', 'MIN_DYNAMO_OPSET', 'OnnxExport', 'export_backbone',
    'export_model', 'DetectorNetwork', 'SegmentorNetwork', 'model_network',
    'DynamicAdaptiveAvgPool2d', 'PreciseInstanceNorm2d', 'export_rewrites', 'OnnxCheck',
    'OnnxMismatchError', 'onnx_session', 'verification_sizes', 'verify_onnx'
]
