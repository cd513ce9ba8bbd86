"""End-to-end ONNX export of detectors and segmentors: one raw RGB image in, boxes / scores
/ labels / masks or a label map out, in standard ONNX operators only (no custom ops, no
MMDeploy). See :mod:`.export` for the file's inputs and outputs and :mod:`.verify` for the
agreement checked against mmdet / mmseg."""
from .export import (
    HIDDEN_OUTPUTS,
    IMAGE_INPUT,
    End2EndExport,
    check_standard_graph,
    end2end_module,
    export_end2end,
    required_opset,
    with_hidden_outputs,
)
from .preprocess import UnsupportedModelError
from .verify import (
    DEFAULT_SIZES,
    FROM_RAW,
    STRICT,
    Agreement,
    Criteria,
    End2EndMismatchError,
    verification_images,
    verify_end2end,
)

__all__ = [
    'export_end2end', 'verify_end2end', 'verification_images', 'end2end_module',
    'required_opset', 'check_standard_graph', 'with_hidden_outputs', 'End2EndExport',
    'Agreement', 'Criteria', 'STRICT', 'FROM_RAW', 'DEFAULT_SIZES', 'End2EndMismatchError',
    'UnsupportedModelError', 'IMAGE_INPUT', 'HIDDEN_OUTPUTS'
]
