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
"""
import contextlib
import os
import warnings
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn

from ..utils.compat import dynamic_dim, onnx_export

Size2d = Tuple[int, int]
PathLike = Union[str, 'os.PathLike[str]']

# 17: the first opset with LayerNormalization as one operator. torch's dynamo exporter writes
# opset 18 and converts down only unreliably (the ONNX version converter fails on ReduceMean).
DEFAULT_OPSET = 17
MIN_DYNAMO_OPSET = 18
INPUT_NAME = 'input'


# ----------------------------------------------------------------------------- export rewrites
def _pool_matrix(length: Any, bins: int, like: torch.Tensor) -> torch.Tensor:
    """(bins, length) matrix averaging over torch's adaptive-pooling bins along one axis.

    Bin ``i`` covers ``[floor(i L / s), ceil((i + 1) L / s))``, as in ATen. ``length`` is an int,
    a SymInt (torch.export) or a 0-dim tensor (TorchScript tracer): everything is computed with
    tensor ops so that the graph keeps it symbolic.
    """
    idx = torch.arange(bins, device=like.device)
    start = torch.div(idx * length, bins, rounding_mode='floor')
    end = torch.div((idx + 1) * length + bins - 1, bins, rounding_mode='floor')
    pos = torch.arange(length, device=like.device)
    inside = (pos[None, :] >= start[:, None]) & (pos[None, :] < end[:, None])
    return inside.to(like.dtype) / (end - start).to(like.dtype)[:, None]


class DynamicAdaptiveAvgPool2d(nn.Module):
    """``nn.AdaptiveAvgPool2d`` as two averaging matrices built from the input size.

    ONNX has no adaptive pooling: the TorchScript exporter turns it into an ``AveragePool``
    whose kernel comes from the export-time size and refuses when that size is dynamic (mmseg's
    UperNet PPM pools to 1, 2, 3 and 6 bins). ``P_h @ x @ P_w^T`` is the same average for any
    size, and cheap: the matrices are ``bins x H`` and ``bins x W``.
    """

    def __init__(self, output_size: Union[int, Tuple[Optional[int], Optional[int]]]) -> None:
        super().__init__()
        if isinstance(output_size, int):
            output_size = (output_size, output_size)
        self.output_size = tuple(output_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bins_h, bins_w = self.output_size
        if bins_h is not None:  # None keeps that axis, as in nn.AdaptiveAvgPool2d
            x = torch.matmul(_pool_matrix(x.shape[-2], bins_h, x), x)
        if bins_w is not None:
            x = torch.matmul(x, _pool_matrix(x.shape[-1], bins_w, x).transpose(0, 1))
        return x

    def extra_repr(self) -> str:
        return f'output_size={self.output_size}'


class PreciseInstanceNorm2d(nn.Module):
    """``nn.InstanceNorm2d`` (no running statistics) with a corrected two-pass mean.

    ONNX Runtime's ``InstanceNormalization`` loses precision when the mean dominates the
    spread. ResT v1's head interaction normalises softmax outputs, whose mean is exactly
    ``1 / N'`` and whose spread is small: at 480x640 the ONNX Runtime kernel was 3e-3 off
    PyTorch. Subtracting the mean a second time removes the rounding error of the first, which
    brings the exported model back to PyTorch's own float32 error (5e-5 against float64).
    """

    def __init__(self, norm: nn.InstanceNorm2d) -> None:
        super().__init__()
        self.eps = norm.eps
        # The original parameters (shared, not copied), so that nothing is duplicated.
        self.weight = norm.weight
        self.bias = norm.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x - x.mean(dim=(-2, -1), keepdim=True)
        x = x - x.mean(dim=(-2, -1), keepdim=True)
        x = x * torch.rsqrt(x.pow(2).mean(dim=(-2, -1), keepdim=True) + self.eps)
        if self.weight is not None:
            x = x * self.weight[:, None, None] + self.bias[:, None, None]
        return x


def _export_replacement(module: nn.Module) -> Optional[nn.Module]:
    if isinstance(module, nn.AdaptiveAvgPool2d):
        size = module.output_size
        if size not in (1, (1, 1)):  # global pooling exports as GlobalAveragePool already
            return DynamicAdaptiveAvgPool2d(size)
    elif isinstance(module, nn.InstanceNorm2d) and not module.track_running_stats:
        return PreciseInstanceNorm2d(module)
    return None


@contextlib.contextmanager
def export_rewrites(model: nn.Module) -> Iterator[int]:
    """Swap, for the duration of an export, the modules that ONNX cannot express with dynamic
    sizes or that ONNX Runtime computes imprecisely, for exact equivalents; yields how many
    were swapped. The model is restored afterwards (the swaps share its parameters)."""
    swaps = [(parent, name, child) for parent in model.modules()
             for name, child in parent.named_children() if _export_replacement(child) is not None]
    try:
        for parent, name, child in swaps:
            setattr(parent, name, _export_replacement(child))
        yield len(swaps)
    finally:
        for parent, name, child in swaps:
            setattr(parent, name, child)


# ---------------------------------------------------------------------------- export wrappers
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


def _backbone_output_names(backbone: nn.Module, inputs: torch.Tensor) -> List[str]:
    indices = getattr(backbone, 'out_indices', None)
    with torch.no_grad():
        count = len(backbone(inputs))
    if indices is None or len(indices) != count:
        indices = range(count)
    return [f'feat{i}' for i in indices]


# --------------------------------------------------------------------------------- the export
@dataclass
class OnnxExport:
    """What :func:`export_backbone` / :func:`export_model` wrote.

    ``module`` is the exported PyTorch module (in eval mode): verify the file against it.
    """
    path: str
    module: nn.Module
    input_size: Size2d
    output_names: List[str]
    dynamic_hw: bool
    opset: int
    dynamo: bool
    rewrites: int = 0


def _as_size(size: Union[int, Sequence[int]]) -> Size2d:
    if isinstance(size, int):
        return size, size
    if len(size) != 2 or any(int(s) < 1 for s in size):
        raise ValueError(f'input_size must be (height, width), got {size}')
    return int(size[0]), int(size[1])


def _export(module: nn.Module, path: PathLike, inputs: torch.Tensor, output_names: List[str],
            dynamic_hw: bool, dynamic_batch: bool, opset: int, dynamo: bool) -> None:
    if dynamo:
        axes: Dict[int, Any] = {}
        if dynamic_batch:
            axes[0] = dynamic_dim()
        if dynamic_hw:
            axes.update({2: dynamic_dim(), 3: dynamic_dim()})
        onnx_export(module, (inputs, ), str(path), dynamo=True, opset_version=opset,
                    input_names=[INPUT_NAME], output_names=output_names,
                    dynamic_shapes=((axes, ) if axes else None), verbose=False)
        return
    dynamic_axes: Dict[str, Dict[int, str]] = {}
    if dynamic_batch or dynamic_hw:
        for name in [INPUT_NAME] + output_names:
            # Output names also label their own axes, so that ONNX Runtime checks no false
            # equality between the sizes of different outputs.
            dims = {0: 'batch'} if dynamic_batch else {}
            if dynamic_hw:
                label = 'image' if name == INPUT_NAME else name
                dims.update({2: f'{label}_height', 3: f'{label}_width'})
            dynamic_axes[name] = dims
    with warnings.catch_warnings():
        # torch >= 2.9 deprecates the TorchScript exporter; it stays the default here because
        # it exports these models in seconds where the dynamo exporter takes minutes, with
        # the same verified results.
        warnings.filterwarnings('ignore', category=DeprecationWarning,
                                message='.*legacy TorchScript-based ONNX export.*')
        onnx_export(module, (inputs, ), str(path), dynamo=False, opset_version=opset,
                    input_names=[INPUT_NAME], output_names=output_names,
                    dynamic_axes=dynamic_axes or None, do_constant_folding=True)


def _export_module(module: nn.Module, names_from: Any, path: PathLike, input_size: Size2d,
                   in_channels: int, dynamic_hw: bool, dynamic_batch: bool,
                   opset: Optional[int], dynamo: bool) -> OnnxExport:
    if opset is None:
        opset = MIN_DYNAMO_OPSET if dynamo else DEFAULT_OPSET
    elif dynamo and opset < MIN_DYNAMO_OPSET:
        raise ValueError(f'the dynamo exporter writes opset {MIN_DYNAMO_OPSET} or later, got '
                         f'opset {opset} (use the TorchScript exporter, dynamo=False)')
    # torch.export specialises sizes 0 and 1: an example batch of 2 keeps the batch dynamic.
    batch = 2 if dynamo and dynamic_batch else 1
    param = next(module.parameters(), None)
    inputs = torch.randn(batch, in_channels, *input_size,
                         device=param.device if param is not None else 'cpu')
    was_training = module.training
    module.eval()
    try:
        output_names = names_from(inputs)
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        with torch.no_grad(), export_rewrites(module) as rewrites:
            _export(module, path, inputs, output_names, dynamic_hw, dynamic_batch, opset, dynamo)
    finally:
        module.train(was_training)
    return OnnxExport(str(path), module, input_size, output_names, dynamic_hw, opset, dynamo,
                      rewrites)


def export_backbone(model: nn.Module,
                    path: PathLike,
                    input_size: Union[int, Size2d] = (224, 224),
                    dynamic_hw: bool = True,
                    opset: Optional[int] = None,
                    *,
                    in_channels: int = 3,
                    dynamic_batch: bool = True,
                    dynamo: bool = False) -> OnnxExport:
    """Export a backbone (``(B, C, H, W) -> tuple of feature maps``) to ``path``.

    Args:
        model: a ResT / ResTV2 (or any backbone returning a tuple of tensors); it is put in
            eval mode for the export and returned to its mode afterwards.
        input_size: (height, width) of the example input the graph is traced with; with
            ``dynamic_hw`` the graph works at any size, else only at this one.
        dynamic_hw / dynamic_batch: make height and width / the batch size dynamic axes.
        opset: ONNX opset; default 17 (LayerNormalization is one operator), 18 with
            ``dynamo`` (its minimum).
        dynamo: use torch's ``torch.export``-based exporter instead of the TorchScript tracer.
            Both export ResT and ResTv2 dynamically; the tracer takes seconds where the dynamo
            exporter takes minutes.
    """
    return _export_module(model, lambda x: _backbone_output_names(model, x), path,
                          _as_size(input_size), in_channels, dynamic_hw, dynamic_batch, opset,
                          dynamo)


def model_network(model: nn.Module) -> nn.Module:
    """The tensor-to-tensors part of an mmdet detector or mmseg segmentor (see module doc)."""
    if hasattr(model, 'extract_feat') and (hasattr(model, 'rpn_head')
                                           or hasattr(model, 'bbox_head')):
        return DetectorNetwork(model)
    if hasattr(model, 'decode_head') and hasattr(model, '_forward'):
        return SegmentorNetwork(model)
    raise TypeError(f'cannot export {type(model).__name__}: expected an mmdet detector with '
                    'a dense head or an mmseg segmentor (use export_backbone for a backbone)')


def export_model(config: Union[str, 'os.PathLike[str]', Any],
                 checkpoint: Optional[str] = None,
                 path: PathLike = 'model.onnx',
                 input_size: Union[int, Size2d, None] = None,
                 dynamic_hw: bool = True,
                 opset: Optional[int] = None,
                 *,
                 backbone_only: bool = False,
                 cfg_options: Optional[Dict[str, Any]] = None,
                 dynamic_batch: bool = True,
                 dynamo: bool = False) -> OnnxExport:
    """Export the network part of a config's model (see the module doc) to ``path``.

    Args:
        config: a config file or a loaded :class:`mmengine.config.Config`.
        checkpoint: trained weights (mmengine checkpoint); None exports random weights.
        input_size: (height, width) traced with; with ``dynamic_hw`` any size works later.
            Default: the config's ``crop_size`` if it has one, else (800, 1344) (a padded
            COCO test image) for a detector, (224, 224) for a backbone.
        backbone_only: export ``model.backbone`` alone.
        cfg_options: overrides merged into the config (flat dotted keys).
        dynamic_hw, dynamic_batch, opset, dynamo: as in :func:`export_backbone`.
    """
    from ..apis import build_model, load_config
    cfg = load_config(config, cfg_options=cfg_options)
    model, _ = build_model(cfg, checkpoint, strict=True)
    in_channels = 3
    if input_size is None:
        input_size = cfg.get('crop_size') or ((224, 224) if backbone_only else (800, 1344))
    if backbone_only:
        backbone = model.backbone
        return export_backbone(backbone, path, input_size, dynamic_hw, opset,
                               in_channels=in_channels, dynamic_batch=dynamic_batch,
                               dynamo=dynamo)
    network = model_network(model).eval()
    return _export_module(network, network.output_names, path, _as_size(input_size),
                          in_channels, dynamic_hw, dynamic_batch, opset, dynamo)


# ------------------------------------------------------------------------------- verification
@dataclass
class OnnxCheck:
    """ONNX Runtime against PyTorch for one input: the largest absolute difference of each
    output (inf where the shapes differ), or the error ONNX Runtime raised."""
    input_shape: Tuple[int, ...]
    max_abs_diff: Dict[str, float]
    max_abs_ref: Dict[str, float]
    shape_mismatch: Dict[str, Tuple[Tuple[int, ...], Tuple[int, ...]]] = field(
        default_factory=dict)
    error: Optional[str] = None

    @property
    def worst(self) -> float:
        return max(self.max_abs_diff.values(), default=float('inf'))

    def passed(self, atol: float, rtol: float = 0.0) -> bool:
        return (self.error is None and not self.shape_mismatch and all(
            diff <= atol + rtol * self.max_abs_ref[name]
            for name, diff in self.max_abs_diff.items()))

    def summary(self) -> str:
        shape = 'x'.join(str(s) for s in self.input_shape)
        if self.error is not None:
            return f'{shape}: ONNX Runtime failed: {self.error}'
        if self.shape_mismatch:
            bad = ', '.join(f'{name} {onnx_shape} vs {torch_shape}'
                            for name, (onnx_shape, torch_shape) in self.shape_mismatch.items())
            return f'{shape}: output shapes differ (ONNX vs PyTorch): {bad}'
        worst = max(self.max_abs_diff, key=self.max_abs_diff.get)
        return (f'{shape}: max |ONNX - PyTorch| {self.worst:.2e} ({worst}, whose values reach '
                f'{self.max_abs_ref[worst]:.2f})')


class OnnxMismatchError(AssertionError):
    """ONNX Runtime's outputs differ from PyTorch's beyond the tolerance."""


def _flatten(outputs: Any) -> List[torch.Tensor]:
    if isinstance(outputs, torch.Tensor):
        return [outputs]
    return [t for item in outputs for t in _flatten(item)]


def onnx_session(path: Union[PathLike, bytes], num_threads: Optional[int] = None) -> Any:
    """An ONNX Runtime CPU session for ``path`` or a serialised model (threads: torch's
    setting by default)."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = num_threads or torch.get_num_threads()
    options.inter_op_num_threads = 1
    options.log_severity_level = 4  # run() raises its errors: no second copy on stderr
    model = path if isinstance(path, bytes) else os.fspath(path)
    return ort.InferenceSession(model, options, providers=['CPUExecutionProvider'])


def verify_onnx(path: PathLike,
                model: nn.Module,
                inputs: Union[torch.Tensor, Sequence[torch.Tensor]],
                atol: float = 1e-4,
                rtol: float = 1e-4,
                raise_on_mismatch: bool = True) -> List[OnnxCheck]:
    """Run ``path`` in ONNX Runtime on each input and compare with ``model`` (eval mode).

    ``inputs``: one batch or several, e.g. of different sizes, to check that height and width
    really are dynamic. An output passes when ``max |ONNX - PyTorch| <= atol + rtol * max
    |PyTorch|``: float32 rounding grows with depth and resolution (randomly initialised ResT-S,
    whose head interaction normalises near-uniform softmax outputs, is 3.5e-4 off its own
    float64 result at 605x675 in PyTorch), while a size frozen into the graph is off by O(1).
    Raises :class:`OnnxMismatchError` listing every input (unless ``raise_on_mismatch`` is
    False); returns one :class:`OnnxCheck` per input.
    """
    if isinstance(inputs, torch.Tensor):
        inputs = [inputs]
    session = onnx_session(path)
    input_name = session.get_inputs()[0].name
    names = [o.name for o in session.get_outputs()]
    was_training = model.training
    model.eval()
    checks = []
    try:
        for x in inputs:
            with torch.no_grad():
                expected = [t.detach().cpu().numpy() for t in _flatten(model(x))]
            try:
                got = session.run(None, {input_name: x.detach().cpu().numpy()})
            except Exception as error:  # e.g. a shape frozen into the graph at export
                checks.append(OnnxCheck(tuple(x.shape), {}, {}, error=str(error).strip()))
                continue
            if len(got) != len(expected):
                raise OnnxMismatchError(f'{path} has {len(got)} outputs, the model '
                                        f'{len(expected)}')
            diffs, refs, shapes = {}, {}, {}
            for name, onnx_out, ref in zip(names, got, expected):
                refs[name] = float(np.abs(ref).max()) if ref.size else 0.0
                if onnx_out.shape != ref.shape:
                    shapes[name] = (tuple(onnx_out.shape), tuple(ref.shape))
                    diffs[name] = float('inf')
                else:
                    diffs[name] = (float(np.abs(onnx_out - ref).max()) if ref.size else 0.0)
            checks.append(OnnxCheck(tuple(x.shape), diffs, refs, shapes))
    finally:
        model.train(was_training)
    if raise_on_mismatch and not all(c.passed(atol, rtol) for c in checks):
        raise OnnxMismatchError(f'{path} does not match PyTorch (atol {atol}, rtol {rtol}):\n' +
                                '\n'.join(c.summary() for c in checks))
    return checks


def verification_sizes(input_size: Union[int, Size2d], dynamic_hw: bool = True) -> List[Size2d]:
    """The export size and, for a dynamic export, two others that are not multiples of 32
    (one smaller with another aspect ratio, one larger)."""
    h, w = _as_size(input_size)
    if not dynamic_hw:
        return [(h, w)]
    return [(h, w), (max(33, h * 3 // 4 + 5), max(33, w // 2 + 3)), (h + 45, w + 19)]
