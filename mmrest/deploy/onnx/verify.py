"""Running an exported file in ONNX Runtime and comparing it with PyTorch."""
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn

from .export import PathLike, Size2d, as_size


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
    h, w = as_size(input_size)
    if not dynamic_hw:
        return [(h, w)]
    return [(h, w), (max(33, h * 3 // 4 + 5), max(33, w // 2 + 3)), (h + 45, w + 19)]
