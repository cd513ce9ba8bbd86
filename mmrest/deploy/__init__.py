"""Deployment: ONNX export of the backbones and of the network part of mmdet / mmseg models,
with verification in ONNX Runtime (:mod:`mmrest.deploy.onnx`), and end-to-end export of
detectors and segmentors, image in, results out (:mod:`mmrest.deploy.end2end`)."""
from .end2end import End2EndMismatchError, UnsupportedModelError, export_end2end, verify_end2end
from .onnx import (
    DetectorNetwork,
    DynamicAdaptiveAvgPool2d,
    OnnxCheck,
    OnnxExport,
    OnnxMismatchError,
    PreciseInstanceNorm2d,
    SegmentorNetwork,
    export_backbone,
    export_model,
    export_rewrites,
    model_network,
    onnx_session,
    verification_sizes,
    verify_onnx,
)

__all__ = [
    'export_backbone', 'export_model', 'verify_onnx', 'verification_sizes',
    'model_network', 'export_rewrites', 'onnx_session', 'OnnxExport', 'OnnxCheck',
    'OnnxMismatchError', 'DetectorNetwork', 'SegmentorNetwork', 'DynamicAdaptiveAvgPool2d',
    'PreciseInstanceNorm2d', 'export_end2end', 'verify_end2end', 'End2EndMismatchError',
    'UnsupportedModelError'
]
