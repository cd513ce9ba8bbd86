"""End-to-end ONNX export: one raw RGB image in, detections or a label map out.

The file's input is ``image``: ``(height, width, 3)`` uint8 RGB, any size. Its outputs:

* detectors: ``boxes`` ``(N, 4)`` float32 xyxy in the image's pixels, ``scores`` ``(N,)``,
  ``labels`` ``(N,)`` int64, and with a mask head ``masks`` ``(N, height, width)`` uint8;
* segmentors: ``label_map`` ``(height, width)`` int64.

Only operators of the standard ``ai.onnx`` domain are written (checked after the export), so
ONNX Runtime, TensorRT and OpenVINO all read the file. The model's task, classes and outputs
are in the file's metadata (``mmrest.*`` keys), which the torch-free runner
(``tools/deploy/run_onnx.py``) reads.

The graph also computes the network input (``preprocessed``) and the resized image size
(``resized_hw``); they are not outputs of the written file, but keep those names inside it,
so that the verification can read them (:func:`with_hidden_outputs`).
"""
import json
import os
import tempfile
import warnings
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn

from ...utils.compat import onnx_export
from ..onnx import DEFAULT_OPSET, export_rewrites
from .detector import End2EndDetector
from .preprocess import UnsupportedModelError
from .roi import RoIExtractor
from .segmentation import End2EndSegmentor

IMAGE_INPUT = 'image'
HIDDEN_OUTPUTS = ('preprocessed', 'resized_hw')
MIN_OPSET = 11  # Resize / Pad / TopK with their sizes as inputs
EXAMPLE_SIZE = (291, 437)  # (h, w) traced with: not a multiple of 32, not square
STANDARD_DOMAINS = ('', 'ai.onnx')


@dataclass
class End2EndExport:
    """What :func:`export_end2end` wrote; ``module`` is the traced wrapper (eval mode) and
    ``model`` the mmdet / mmseg model it wraps, built from ``cfg``."""
    path: str
    module: nn.Module
    model: nn.Module
    cfg: Any
    task: str
    output_names: List[str]
    opset: int
    classes: List[str]


def end2end_module(model: nn.Module, cfg: Any) -> nn.Module:
    """The image-to-results wrapper of an mmdet detector or mmseg segmentor."""
    if hasattr(model, 'decode_head') and hasattr(model, '_forward'):
        if type(model).__name__ != 'EncoderDecoder':
            raise UnsupportedModelError(f'{type(model).__name__} is not covered by the '
                                        'end-to-end export (EncoderDecoder segmentors)')
        return End2EndSegmentor(model, cfg).eval()
    if hasattr(model, 'extract_feat') and (hasattr(model, 'rpn_head')
                                           or hasattr(model, 'bbox_head')):
        return End2EndDetector(model, cfg).eval()
    raise UnsupportedModelError(f'{type(model).__name__} is not covered by the end-to-end '
                                'export (mmdet detectors, mmseg segmentors)')


def required_opset(module: nn.Module) -> int:
    """The lowest opset that expresses the module: 16 with RoiAlign (half_pixel), else 11."""
    return max([MIN_OPSET] + [m.min_opset for m in module.modules()
                              if isinstance(m, RoIExtractor)])


def class_names(model: nn.Module, cfg: Any) -> List[str]:
    meta = getattr(model, 'dataset_meta', None) or {}
    classes = meta.get('classes')
    if classes is None:
        for loader in ('test_dataloader', 'train_dataloader'):
            dataset = (cfg.get(loader) or {}).get('dataset') or {}
            classes = (dataset.get('metainfo') or {}).get('classes')
            if classes:
                break
    return [str(c) for c in classes] if classes else []


def _dynamic_axes(output_names: Sequence[str]) -> Dict[str, Dict[int, str]]:
    axes = {IMAGE_INPUT: {0: 'height', 1: 'width'}, 'preprocessed': {2: 'padded_height',
                                                                    3: 'padded_width'}}
    for name in output_names:
        if name == 'label_map':
            axes[name] = {0: 'height', 1: 'width'}
        elif name == 'masks':
            axes[name] = {0: 'detections', 1: 'height', 2: 'width'}
        elif name in ('boxes', 'scores', 'labels'):
            axes[name] = {0: 'detections'}
    return axes


def _trace(module: nn.Module, path: str, example: torch.Tensor, opset: int) -> None:
    names = list(module.output_names) + list(HIDDEN_OUTPUTS)
    with warnings.catch_warnings():
        # The TorchScript exporter: the dynamo one cannot trace NMS' data-dependent sizes.
        warnings.filterwarnings('ignore', category=DeprecationWarning)
        warnings.filterwarnings('ignore', category=torch.jit.TracerWarning)
        warnings.filterwarnings('ignore', category=UserWarning)
        onnx_export(module, (example, ), path, dynamo=False, opset_version=opset,
                    input_names=[IMAGE_INPUT], output_names=names,
                    dynamic_axes=_dynamic_axes(names), do_constant_folding=True)


def check_standard_graph(model: Any) -> None:
    """Raise unless every node is in the standard ``ai.onnx`` domain and the model passes
    ``onnx.checker`` (with shape inference)."""
    import onnx
    custom = sorted({f'{n.domain}::{n.op_type}' for n in model.graph.node
                     if n.domain not in STANDARD_DOMAINS})
    if custom:
        raise RuntimeError(f'non-standard operators in the graph: {", ".join(custom)}')
    onnx.checker.check_model(model, full_check=True)


def _finish(raw_path: str, path: str, meta: Dict[str, str]) -> None:
    """Hide the verification outputs, add the metadata, check, write ``path``."""
    import onnx
    model = onnx.load(raw_path)
    kept = [o for o in model.graph.output if o.name not in HIDDEN_OUTPUTS]
    del model.graph.output[:]
    model.graph.output.extend(kept)
    for key, value in meta.items():
        model.metadata_props.add(key=key, value=value)
    check_standard_graph(model)
    onnx.save(model, raw_path)
    os.replace(raw_path, path)


def export_end2end(config: Union[str, 'os.PathLike[str]', Any],
                   checkpoint: Optional[str] = None,
                   path: Union[str, 'os.PathLike[str]'] = 'end2end.onnx',
                   opset: Optional[int] = None,
                   *,
                   cfg_options: Optional[Dict[str, Any]] = None,
                   example_size: Tuple[int, int] = EXAMPLE_SIZE) -> End2EndExport:
    """Export a config's detector or segmentor end to end (see the module doc) to ``path``.

    Raises :class:`UnsupportedModelError` for a model, head or test setting the graph does
    not cover, and ``ValueError`` for an opset below what the graph needs, before anything
    is written; ``path`` appears only once the export has passed its checks.
    """
    from ...utils.build import build_model
    from ...utils.config_loading import load_config
    cfg = load_config(config, cfg_options=cfg_options)
    model, _ = build_model(cfg, checkpoint, strict=True)
    module = end2end_module(model, cfg)
    needed = required_opset(module)
    opset = DEFAULT_OPSET if opset is None else int(opset)
    if opset < needed:
        raise ValueError(f'opset {opset} is too low for this graph: it needs opset {needed} '
                         f'or later ({"RoiAlign with half_pixel" if needed >= 16 else "Resize"}'
                         ' with sizes as inputs)')
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    task = 'segmentation' if isinstance(module, End2EndSegmentor) else 'detection'
    classes = class_names(model, cfg)
    rng = np.random.default_rng(0)
    example = torch.from_numpy(rng.integers(0, 256, (*example_size, 3), dtype=np.uint8))
    meta = {'mmrest.task': task, 'mmrest.classes': json.dumps(classes),
            'mmrest.outputs': json.dumps(list(module.output_names)),
            'mmrest.input': 'image: (height, width, 3) uint8 RGB'}
    handle, raw_path = tempfile.mkstemp(suffix='.onnx.part', dir=directory)
    os.close(handle)
    try:
        with torch.no_grad(), export_rewrites(model):
            _trace(module, raw_path, example, opset)
        _finish(raw_path, path, meta)
    finally:
        if os.path.exists(raw_path):
            os.remove(raw_path)
    return End2EndExport(path, module, model, cfg, task, list(module.output_names), opset, classes)


def with_hidden_outputs(path: Union[str, 'os.PathLike[str]']) -> bytes:
    """The file at ``path`` with ``preprocessed`` and ``resized_hw`` as outputs again (the
    verification compares PyTorch with ONNX Runtime on the graph's own network input)."""
    import onnx
    model = onnx.load(os.fspath(path))
    for name, dtype in zip(HIDDEN_OUTPUTS, (onnx.TensorProto.FLOAT, onnx.TensorProto.INT64)):
        model.graph.output.append(onnx.helper.make_tensor_value_info(name, dtype, None))
    return model.SerializeToString()
