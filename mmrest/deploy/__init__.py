"""Deployment: ONNX export of the backbones and of the network part of mmdet / mmseg models,
with verification in ONNX Runtime (:mod:`mmrest.deploy.onnx`)."""
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
    'PreciseInstanceNorm2d'
]
