"""The one place that knows which torch this is.

mmrest supports torch 2.1 to 2.14. Code elsewhere calls the functions here instead of checking
``torch.__version__`` or probing torch for newer APIs:

- :func:`check_torch`: refuse an unsupported torch at ``import mmrest``, in one line;
- :func:`is_exporting`: ``torch.compiler.is_exporting`` (torch >= 2.6), else dynamo's
  ``is_compiling``, which is also true under ``torch.compile``, where it only selects the
  export-safe (equal) branches;
- :func:`load_weights_only`: ``torch.load(weights_only=True)`` with extra allowed types, through
  ``torch.serialization.safe_globals`` (torch >= 2.6); before it, through an unpickler that
  finds nothing but torch's tensor types and those types, so that reading stays as safe on
  every supported torch;
- :func:`GELU`: ``nn.GELU()``, written out on torch < 2.5 (see :data:`EXACT_GELU_BACKWARD_TORCH`);
- :data:`HAS_DYNAMO_ONNX` / :func:`require_dynamo_onnx` / :func:`onnx_export`: the
  ``torch.export``-based ONNX exporter (``torch.onnx.export(dynamo=True)``, torch >= 2.5).
"""
import _compat_pickle
import codecs
import collections
import pickle
import re
import types
from typing import Any, Callable, Sequence, Tuple

import torch

MIN_TORCH = (2, 1)
MAX_TESTED_TORCH = (2, 14)
SUPPORTED_RANGE = 'torch 2.1 to 2.14'
DYNAMO_ONNX_TORCH = (2, 5)


def parse_version(text: str) -> Tuple[int, int, int]:
    """'2.1.2+cu121' -> (2, 1, 2); pre-releases count as their release ('2.6.0a0' -> 2.6.0)."""
    match = re.match(r'(\d+)\.(\d+)(?:\.(\d+))?', text)
    if match is None:
        raise ValueError(f'cannot read the torch version {text!r}')
    major, minor, patch = match.groups()
    return int(major), int(minor), int(patch or 0)


TORCH_VERSION_STRING: str = torch.__version__
TORCH_VERSION: Tuple[int, int, int] = parse_version(TORCH_VERSION_STRING)


class UnsupportedTorchError(ImportError):
    """The installed torch is older than mmrest supports."""


def check_torch(version: str = TORCH_VERSION_STRING) -> None:
    """Refuse a torch older than :data:`MIN_TORCH`, naming the supported range."""
    if parse_version(version)[:2] < MIN_TORCH:
        raise UnsupportedTorchError(
            f'mmrest supports {SUPPORTED_RANGE}; this is torch {version}: install a supported '
            f'torch, e.g. pip install "torch>=2.1,<2.15" with its matching torchvision')


# --------------------------------------------------------------------------------- tracing
def _exporting_flag() -> Callable[[], bool]:
    compiler = getattr(torch, 'compiler', None)
    for name in ('is_exporting', 'is_compiling'):  # the second: torch 2.3 - 2.5
        flag = getattr(compiler, name, None)
        if flag is not None:
            return flag
    from torch import _dynamo  # torch 2.1 / 2.2: the flag lives in dynamo only
    return _dynamo.is_compiling


is_exporting: Callable[[], bool] = _exporting_flag()


# ------------------------------------------------------------------------ safe checkpoints
# torch 2.6 is the first whose weights-only unpickler takes extra globals in every form mmrest
# needs (``(object, 'module.name')`` pairs among them) and rebuilds such objects.
SAFE_GLOBALS_TORCH = (2, 6)
HAS_SAFE_GLOBALS: bool = TORCH_VERSION[:2] >= SAFE_GLOBALS_TORCH


def _global_name(entry: Any) -> Tuple[str, Any]:
    """(the name a pickle uses for it, the object) of a safe-globals entry: an object, or the
    ``(object, 'module.name')`` pair that stands in for another name."""
    if isinstance(entry, tuple):
        obj, name = entry
        return name, obj
    return f'{entry.__module__}.{entry.__qualname__}', entry


def allow_list_pickle_module(entries: Sequence[Any]) -> types.ModuleType:
    """A ``pickle_module`` for ``torch.load`` whose unpickler finds only torch's own tensor
    types and rebuild functions and ``entries``: any other global is refused, as the
    weights-only unpickler of torch >= 2.6 refuses it (with the same 'Unsupported global'
    wording). torch < 2.6 has no way to give its own unpickler extra types that it can also
    rebuild (2.1 builds nothing but tensors and dicts)."""
    from torch import _weights_only_unpickler
    # What torch 2.14 allows by default and 2.1 does not: every dtype, torch.device, plain
    # containers (mmengine's checkpoints hold a Counter), and bytes as protocol 2 writes them
    # (numpy's array data: _codecs.encode(text, 'latin1')).
    later_defaults = {str(dtype): dtype for dtype in vars(torch).values()
                      if isinstance(dtype, torch.dtype)}
    later_defaults.update({
        'torch.device': torch.device, 'collections.Counter': collections.Counter,
        'builtins.set': set, 'builtins.bytearray': bytearray, 'builtins.complex': complex,
        '_codecs.encode': codecs.encode})
    allowed = {**_weights_only_unpickler._get_allowed_globals(), **later_defaults,
               **dict(_global_name(entry) for entry in entries)}

    class AllowListUnpickler(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            # Protocol 2 (torch.save's) names Python 2 modules (__builtin__): map them as
            # pickle itself does.
            module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
            module = _compat_pickle.IMPORT_MAPPING.get(module, module)
            found = allowed.get(f'{module}.{name}')
            if found is None:
                raise pickle.UnpicklingError(
                    f'Unsupported global: GLOBAL {module}.{name} is not an allowed global')
            return found

    module = types.ModuleType('mmrest_allow_list_pickle')
    module.Unpickler = AllowListUnpickler  # type: ignore[attr-defined]
    module.load = lambda file, **kwargs: AllowListUnpickler(file, **kwargs).load()  # type: ignore[attr-defined]
    return module


def load_weights_only(file: Any, map_location: Any, entries: Sequence[Any]) -> Any:
    """``torch.load(file, weights_only=True)`` that also allows ``entries`` (objects, or
    ``(object, 'module.name')`` pairs): through ``torch.serialization.safe_globals`` where
    torch has it in full, else through :func:`allow_list_pickle_module`. Never an
    unrestricted unpickler."""
    if HAS_SAFE_GLOBALS:
        with torch.serialization.safe_globals(list(entries)):
            return torch.load(file, map_location=map_location, weights_only=True)
    return torch.load(file, map_location=map_location, weights_only=False,
                      pickle_module=allow_list_pickle_module(entries))


# ------------------------------------------------------------------------------- layers
# torch 2.1.2's CPU GELU backward returned garbage (values up to 1e38) for CeiT's LeFF under
# activation checkpointing, reentrant or not, while the same graph without checkpointing and
# the erf formula written out were exact; 2.5.1 and 2.14.1 are right. 2.2 - 2.4 were not
# measured, so they get the written-out formula too.
EXACT_GELU_BACKWARD_TORCH = (2, 5)


class _ErfGELU(torch.nn.Module):
    """x * Phi(x), the exact (erf) GELU of ``nn.GELU()``, written out."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 0.5 * (1.0 + torch.erf(x * 0.7071067811865476))


def GELU() -> torch.nn.Module:  # noqa: N802 (a layer, named like one)
    """The exact GELU layer: ``nn.GELU()`` where its backward is right on the CPU."""
    return torch.nn.GELU() if TORCH_VERSION[:2] >= EXACT_GELU_BACKWARD_TORCH else _ErfGELU()


# ------------------------------------------------------------------- attention, compile
# torch 2.1.2's TorchScript ONNX exporter cannot translate scaled_dot_product_attention with
# an explicit scale; 2.14.1 can. 2.2 - 2.4 were not measured: they take the explicit form too.
SDPA_EXPORT_TORCH = (2, 5)
# torch.compile(fullgraph=True) of ResT / ResTv2: measured failing in torch 2.1.2's dynamo (it
# loses track of the modules of a stage) and working in 2.14.1; 2.2 - 2.4 not measured.
FULLGRAPH_COMPILE_TORCH = (2, 5)
HAS_FULLGRAPH_COMPILE: bool = TORCH_VERSION[:2] >= FULLGRAPH_COMPILE_TORCH
# bfloat16 autocast on the CPU (the tools' --amp there): on torch 2.1.2 mmdet's detectors stop
# in mmcv's CPU NMS (bfloat16 boxes) and the classifiers run several times slower than in
# fp32; 2.14.1 runs both. 2.2 - 2.4 not measured.
CPU_AMP_TORCH = (2, 5)
HAS_CPU_AMP: bool = TORCH_VERSION[:2] >= CPU_AMP_TORCH


def scaled_dot_product_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                                 dropout_p: float, scale: float) -> torch.Tensor:
    """``F.scaled_dot_product_attention``; softmax(q k^T * scale) v written out while an older
    torch exports to ONNX (the same values: export runs in eval mode, without dropout), and
    nowhere else (the FLOP counter's trace keeps the fused operator)."""
    if TORCH_VERSION[:2] < SDPA_EXPORT_TORCH and torch.onnx.is_in_onnx_export():
        return ((q @ k.transpose(-2, -1)) * scale).softmax(dim=-1) @ v
    return torch.nn.functional.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p,
                                                            scale=scale)


# ------------------------------------------------------------------------------ exporters
HAS_DYNAMO_ONNX: bool = TORCH_VERSION[:2] >= DYNAMO_ONNX_TORCH


def require_dynamo_onnx(feature: str = 'the torch.export-based ONNX exporter') -> None:
    """Fail in one line where this torch lacks ``torch.onnx.export(dynamo=True)``."""
    if not HAS_DYNAMO_ONNX:
        raise RuntimeError(
            f'{feature} needs torch >= {".".join(map(str, DYNAMO_ONNX_TORCH))} '
            f'(torch.onnx.export(dynamo=True)); this is torch {TORCH_VERSION_STRING}. Use the '
            'TorchScript exporter (the default), or a newer torch')


def dynamic_dim() -> Any:
    """A dynamic size in ``dynamic_shapes`` of the torch.export-based exporter."""
    require_dynamo_onnx()
    return torch.export.Dim.DYNAMIC


def onnx_export(module: torch.nn.Module, args: tuple, path: str, *, dynamo: bool,
                **options: Any) -> None:
    """``torch.onnx.export`` with the exporter chosen by ``dynamo``: torch < 2.5 has only the
    TorchScript one, and no ``dynamo`` argument."""
    if dynamo:
        require_dynamo_onnx()
        options['dynamo'] = True
    elif HAS_DYNAMO_ONNX:
        options['dynamo'] = False
    torch.onnx.export(module, args, path, **options)
