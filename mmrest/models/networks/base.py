"""What every mmrest network shares, with torch alone: arch presets, the authors'
initialisation, activation checkpointing, and fitting a checkpoint's state dict onto the network
with a report of every tensor. The faces (the OpenMMLab backbones, the plain-PyTorch and timm
classifiers) are subclasses: they add their own arguments, never a second copy of the network."""
import logging
import math
import re
from typing import Any, ClassVar, Dict, Sequence, Tuple, Union

import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

from ...checkpoint import (
    CONVERTER,
    CheckpointMismatchError,
    LoadReport,
    StateDict,
    compact_keys,
    compare_state_dicts,
    required_missing,
)

logger = logging.getLogger('mmrest')


class NetworkBase(nn.Module):
    """Base of mmrest's networks (ResT, ResTv2, CeiT).

    A subclass declares its presets (``arch_zoo``, ``arch_keys``, ``arch_optional_keys``), how
    a checkpoint maps onto it (:meth:`adapt_state_dict`) and the architecture a state dict
    implies (:meth:`describe_state`).
    """
    arch_zoo: ClassVar[Dict[str, Dict[str, Any]]] = {}
    arch_keys: ClassVar[Tuple[str, ...]] = ()  # required in a custom arch dict
    arch_optional_keys: ClassVar[Tuple[str, ...]] = ()
    # Checkpoint tensors that may differ in shape (the model resizes them when loading).
    resizable_keys: ClassVar[Tuple[str, ...]] = ()

    def __init__(self) -> None:
        super().__init__()
        # Activation checkpointing of each block (less memory, same results): the OpenMMLab
        # face's with_cp, timm's set_grad_checkpointing.
        self.grad_checkpointing = False

    # -- arch presets -------------------------------------------------------------------------
    @classmethod
    def resolve_arch(cls, arch: Union[str, Dict[str, Any]]) -> Dict[str, Any]:
        """A complete, validated arch dict from a preset name or a dict."""
        if isinstance(arch, str):
            key = arch.lower()
            if key not in cls.arch_zoo:
                raise KeyError(f'Unknown {cls.__name__} arch {arch!r}; valid presets: '
                               f'{", ".join(cls.arch_zoo)} (or a dict with '
                               f'{", ".join(cls.arch_keys)}).')
            settings = dict(cls.arch_zoo[key])
        elif isinstance(arch, dict):
            required, allowed = set(cls.arch_keys), set(cls.arch_keys + cls.arch_optional_keys)
            if not required <= set(arch) or not set(arch) <= allowed:
                optional = f' (optional: {", ".join(cls.arch_optional_keys)})' \
                    if cls.arch_optional_keys else ''
                raise KeyError(f'A custom {cls.__name__} arch needs the keys '
                               f'{sorted(required)}{optional}; got {sorted(arch)}')
            settings = dict(arch)
        else:
            raise TypeError(f'arch must be a preset name or a dict, got {type(arch).__name__}')
        return cls.complete_arch(settings)

    @classmethod
    def complete_arch(cls, settings: Dict[str, Any]) -> Dict[str, Any]:
        """Defaults of the optional keys, and checks; ``settings`` is a private copy."""
        return settings

    # -- training --------------------------------------------------------------------------------
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Activation checkpointing of each block (timm's name for it)."""
        self.grad_checkpointing = bool(enable)

    def __prepare_scriptable__(self) -> nn.Module:
        # torch.jit.script calls this first: one clear error instead of a page of TorchScript's.
        raise RuntimeError(
            f'{type(self).__name__} cannot be compiled by torch.jit.script (its stage loop and '
            'size-dependent padding are Python); use torch.compile, torch.jit.trace or '
            'torch.export instead (mmrest.deploy exports ONNX)')

    # -- initialisation ----------------------------------------------------------------------
    def init_weights(self) -> None:
        """The authors' initialisation (as ResT / PVT and DeiT do it)."""
        self.apply(self.init_module)
        self.init_special_parameters()

    @staticmethod
    def init_module(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Conv2d):
            # He init by fan-out per group, so a depth-wise conv is not scaled down by its
            # channel count.
            fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
            nn.init.normal_(m.weight, 0, math.sqrt(2.0 / fan_out))
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.LayerNorm, _BatchNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    def init_special_parameters(self) -> None:
        """What :meth:`init_module` does not cover (identity convs, embeddings)."""

    def log(self, message: str) -> None:
        """Say what the network did on its own (e.g. resize an embedding while loading); the
        OpenMMLab face says it in mmengine's log."""
        logger.info(message)

    # -- checkpoints ---------------------------------------------------------------------------
    def adapt_state_dict(self, state: StateDict,
                         report: LoadReport) -> Tuple[StateDict, Sequence[str]]:
        """Map a checkpoint's tensors onto this network's names (renames, a classifier's head
        skipped into ``report.skipped``). Returns them and the patterns of this network's
        tensors that such a checkpoint does not have by design (reported as new)."""
        return state, ()

    def describe_state(self, state: Dict[str, torch.Tensor]) -> str:
        """The architecture a state dict implies, for error messages."""
        return f'{len(state)} tensors'

    def fit_state_dict(self, state: StateDict, report: LoadReport) -> StateDict:
        """``state`` adapted (:meth:`adapt_state_dict`) and reduced to this network's tensors,
        each accounted for in ``report``; another version, size or shape raises
        :class:`~mmrest.checkpoint.CheckpointMismatchError`."""
        state, new_patterns = self.adapt_state_dict(state, report)
        comparison = compare_state_dicts(state, self.state_dict(), self.resizable_keys,
                                         self.describe_state)
        if comparison.mismatched or comparison.other_arch:
            shown = '\n    '.join(f'{k}: checkpoint {a} vs model {b}'
                                  for k, a, b in comparison.mismatched[:8])
            shapes = (f'{len(comparison.mismatched)} tensors have other shapes, e.g.\n    '
                      f'{shown}\n  ' if comparison.mismatched else '')
            theirs_arch, own_arch = comparison.described
            raise CheckpointMismatchError(
                f'{report.source} does not fit this {type(self).__name__} {self.kind}: '
                f'{shapes}The checkpoint has {theirs_arch}; the model has {own_arch}. Choose '
                'the matching arch.')
        report.loaded = comparison.shared
        report.unexpected = comparison.unexpected
        report.new = [k for k in comparison.missing if any(re.match(p, k) for p in new_patterns)]
        report.missing = [k for k in comparison.missing if k not in report.new]
        return {k: state[k] for k in comparison.shared}

    @property
    def kind(self) -> str:
        """What the model is called in messages ('backbone', 'classifier')."""
        return 'network'

    def complete_state_dict(self, state: StateDict, report: LoadReport,
                            hint: str = '') -> StateDict:
        """A fitted state (:meth:`fit_state_dict`) made whole for a strict load: the tensors
        such a file lacks by design (``report.new``) take their current values; any other
        tensor missing, or left over, raises (never a partial load). ``hint``: how else the
        file loads, for the message."""
        missing = required_missing(report.missing)
        if missing or report.unexpected:
            problems = []
            if missing:
                problems.append(f'{len(missing)} of its tensors are missing ('
                                f'{compact_keys(missing, limit=6)})')
            if report.unexpected:
                problems.append(f'{len(report.unexpected)} tensors are not its own ('
                                f'{compact_keys(report.unexpected, limit=6)})')
            raise CheckpointMismatchError(
                f'{report.source} cannot be loaded into this {type(self).__name__} '
                f'{self.kind}: {"; ".join(problems)}. Nothing was loaded. If the file is one '
                f"of the authors' releases, convert it with `{CONVERTER}`, which says what it "
                f'is{hint}.')
        own = self.state_dict()
        return dict(state, **{key: own[key] for key in report.new})
