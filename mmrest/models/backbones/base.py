"""What every mmrest backbone shares (ResT, ResTv2 and CeiT): arch presets, the OpenMMLab backbone
contract (``frozen_stages`` and ``norm_eval`` kept by a ``train()`` override; ``init_cfg`` as a
dict or a list: the authors' initialisation, then mmengine initialisers, then pretrained
weights loaded with a report of every tensor), and the layer ids of learning-rate decay
(:class:`~mmrest.engine.ResTLayerDecayOptimWrapperConstructor`, and mmpretrain's
``get_layer_depth`` protocol)."""
import copy
import logging
import math
import re
from contextlib import contextmanager
from typing import Any, ClassVar, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.logging import print_log
from mmengine.model import BaseModule
from mmengine.model.weight_init import initialize
from mmengine.runner.checkpoint import CheckpointLoader
from torch.nn.modules.batchnorm import _BatchNorm

from ...checkpoint import (
    CONVERTER,
    OPTIONAL_STATE,
    CheckpointMismatchError,
    LoadReport,
    StateDict,
    check_pretrained_exists,
    compact_keys,
    compare_state_dicts,
    extract_state_dict,
    split_prefix,
)

InitCfg = Union[dict, List[dict], None]
DECAY_TYPES = ('stage_wise', 'layer_wise')


class MMRestBackbone(BaseModule):
    """Base of mmrest's backbones (not registered).

    A subclass declares its presets (``arch_zoo``, ``arch_keys``, ``arch_optional_keys``),
    what ``frozen_stages`` freezes (:meth:`frozen_modules`), how a checkpoint maps onto it
    (:meth:`adapt_state_dict`) and the decay id of each parameter (:meth:`layer_id`).
    """
    arch_zoo: ClassVar[Dict[str, Dict[str, Any]]] = {}
    arch_keys: ClassVar[Tuple[str, ...]] = ()  # required in a custom arch dict
    arch_optional_keys: ClassVar[Tuple[str, ...]] = ()
    # Checkpoint tensors that may differ in shape (the model resizes them when loading).
    resizable_keys: ClassVar[Tuple[str, ...]] = ()
    norm_eval: bool = False

    def __init__(self, init_cfg: InitCfg = None) -> None:
        super().__init__(init_cfg=copy.deepcopy(init_cfg))
        self.init_cfgs()  # fail at build time, not after the whole detector is built
        self.load_report: Optional[LoadReport] = None
        # load_state_dict of any model holding this backbone (mmengine's load_from, test
        # tools, inferencers) passes its part of the state dict through translate_state_dict.
        self._state_translated = False
        self._register_load_state_dict_pre_hook(self._translate_on_load)

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

    # -- training-mode contract -----------------------------------------------------------------
    def frozen_modules(self) -> List[nn.Module]:
        """Modules that ``frozen_stages`` keeps in eval mode without gradients."""
        raise NotImplementedError

    def frozen_parameters(self) -> List[nn.Parameter]:
        """Parameters outside those modules that freeze too (class tokens, ...)."""
        return []

    def _freeze_stages(self) -> None:
        for module in self.frozen_modules():
            module.eval()
            for param in module.parameters():
                param.requires_grad = False
        for param in self.frozen_parameters():
            param.requires_grad = False

    def train(self, mode: bool = True):
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self

    # -- initialisation -------------------------------------------------------------------------
    def init_cfgs(self) -> List[dict]:
        """``init_cfg`` as a list (mmengine takes a dict or a list), checked."""
        cfgs = self.init_cfg if isinstance(self.init_cfg, (list, tuple)) else \
            [] if self.init_cfg is None else [self.init_cfg]
        for cfg in cfgs:
            if not isinstance(cfg, dict) or 'type' not in cfg:
                raise TypeError(f'{type(self).__name__}: every init_cfg entry must be a dict '
                                f"with a 'type', got {cfg!r}")
        pretrained = [cfg for cfg in cfgs if cfg['type'] == 'Pretrained']
        if len(pretrained) > 1:
            raise ValueError(f'{type(self).__name__}: init_cfg names {len(pretrained)} '
                             'Pretrained checkpoints; give one')
        if pretrained and 'checkpoint' not in pretrained[0]:
            raise ValueError(f"{type(self).__name__}: init_cfg type='Pretrained' needs a "
                             "'checkpoint'")
        return list(cfgs)

    def init_weights(self) -> None:
        """The authors' initialisation, then the non-pretrained entries of ``init_cfg`` (e.g.
        ``dict(type='TruncNormal', layer='Linear')``), then a ``Pretrained`` checkpoint with
        :meth:`load_pretrained` (its report is logged and kept in ``load_report``)."""
        cfgs = self.init_cfgs()
        self.apply(self.init_module)
        self.init_special_parameters()
        others = [cfg for cfg in cfgs if cfg['type'] != 'Pretrained']
        if others:
            initialize(self, copy.deepcopy(others))
        for cfg in cfgs:
            if cfg['type'] == 'Pretrained':
                self.load_pretrained(cfg['checkpoint'], cfg.get('map_location', 'cpu'),
                                     prefix=cfg.get('prefix'))
        self._is_init = True
        self._freeze_stages()

    @staticmethod
    def init_module(m: nn.Module) -> None:
        """The authors' initialisation (as ResT / PVT and DeiT do it)."""
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

    # -- pretrained weights ---------------------------------------------------------------------
    def load_pretrained(self, checkpoint: Union[str, dict], map_location: str = 'cpu',
                        prefix: Optional[str] = None) -> LoadReport:
        """Load weights from a file or a loaded checkpoint: the authors' file (ImageNet
        classifier or downstream model) or a checkpoint of a whole model (its ``backbone.``
        tensors, or those under ``prefix``).

        Every tensor is accounted for: the report lists what was loaded, renamed from the
        authors' names, skipped (classifier head, other parts of a detector), newly
        initialised, missing and unexpected; the last two are logged as warnings. A checkpoint
        of another version or size raises
        :class:`~mmrest.checkpoint.CheckpointMismatchError`.
        """
        if isinstance(checkpoint, str):
            check_pretrained_exists(checkpoint, type(self).__name__)
            source = checkpoint
            checkpoint = CheckpointLoader.load_checkpoint(checkpoint, map_location=map_location)
        else:
            source = 'the given state dict'
        state = extract_state_dict(checkpoint, source)
        state, outside = split_prefix(state, prefix or 'backbone.', required=prefix is not None,
                                      source=source)
        report = LoadReport(source=source)
        if outside:
            report.skipped['not part of the backbone'] = outside
        state = self._fit(state, report)
        with self._translated_state():
            self.load_state_dict(state, strict=False)
        self.load_report = report
        print_log(f'{type(self).__name__}: {report.summary()}', logger='current',
                  level=logging.INFO if report.clean else logging.WARNING)
        return report

    def translate_state_dict(self, state_dict: Dict[str, Any], prefix: str = '',
                             source: str = 'the checkpoint',
                             log: bool = True) -> Optional[LoadReport]:
        """Put this backbone's part of a model's state dict (the keys under ``prefix``) into
        its own names, in place, as :meth:`load_pretrained` adapts a file: the authors' names
        renamed, a classifier's head and final norm placed or set aside, the tensors such a
        file lacks by design (e.g. the output norms of stages 1-3 of an ImageNet file) filled
        with their current values. ``load_state_dict`` calls it through a hook, so that
        mmengine's ``load_from``, the test tools and the inferencers load the authors' files
        as they are. Returns the report (``None`` when nothing is under ``prefix``).

        Raises:
            CheckpointMismatchError: the part does not fit: another version or size, or
                tensors missing or left over. Never a partial load: the message names the
                converter for the authors' files.
        """
        keys = [k for k in state_dict if k.startswith(prefix)]
        if not keys:  # (torch and mmengine hand a module only the keys under its prefix)
            return None
        where = f"{source} (its '{prefix}' tensors)" if prefix else source
        report = LoadReport(source=where)
        state = {k[len(prefix):]: state_dict[k] for k in keys}
        state = self._fit(state, report)
        missing = [k for k in report.missing if not k.endswith(OPTIONAL_STATE)]
        if missing or report.unexpected:
            problems = []
            if missing:
                problems.append(f'{len(missing)} of its tensors are missing ('
                                f'{compact_keys(missing, limit=6)})')
            if report.unexpected:
                problems.append(f'{len(report.unexpected)} tensors are not its own ('
                                f'{compact_keys(report.unexpected, limit=6)})')
            raise CheckpointMismatchError(
                f'{where} cannot be loaded into this {type(self).__name__} backbone: '
                f'{"; ".join(problems)}. Nothing was loaded. If the file is one of the '
                f"authors' releases, convert it with `{CONVERTER}`, which says what it is; "
                'ImageNet weights also load through '
                "init_cfg=dict(type='Pretrained', checkpoint=FILE).")
        own = self.state_dict()
        for key in report.new:  # they keep their current (initial) values
            state[key] = own[key]
        for key in keys:
            del state_dict[key]
        state_dict.update({prefix + k: v for k, v in state.items()})
        if log and (report.renamed or report.skipped or report.new):
            print_log(f'{type(self).__name__}: {report.summary()}', logger='current')
        return report

    def _translate_on_load(self, state_dict: Dict[str, Any], prefix: str, *args: Any) -> None:
        if not self._state_translated:
            self.translate_state_dict(state_dict, prefix)

    @contextmanager
    def _translated_state(self) -> Iterator[None]:
        """For a state dict already in this backbone's names (load_pretrained's)."""
        self._state_translated = True
        try:
            yield
        finally:
            self._state_translated = False

    def adapt_state_dict(self, state: StateDict,
                         report: LoadReport) -> Tuple[StateDict, Sequence[str]]:
        """Map a checkpoint's tensors onto this backbone's names (renames, a classifier's head
        skipped into ``report.skipped``). Returns them and the patterns of this backbone's
        tensors that such a checkpoint does not have by design (reported as new)."""
        return state, ()

    def describe_state(self, state: Dict[str, torch.Tensor]) -> str:
        """The architecture a state dict implies, for error messages."""
        return f'{len(state)} tensors'

    def _fit(self, state: StateDict, report: LoadReport) -> StateDict:
        """``state`` adapted (:meth:`adapt_state_dict`) and reduced to this backbone's tensors,
        each accounted for in ``report``; another version, size or shape raises."""
        state, new_patterns = self.adapt_state_dict(state, report)
        own = self.state_dict()
        comparison = compare_state_dicts(state, own, self.resizable_keys, self.describe_state)
        if comparison.mismatched or comparison.other_arch:
            shown = '\n    '.join(f'{k}: checkpoint {a} vs model {b}'
                                  for k, a, b in comparison.mismatched[:8])
            shapes = (f'{len(comparison.mismatched)} tensors have other shapes, e.g.\n    '
                      f'{shown}\n  ' if comparison.mismatched else '')
            theirs_arch, own_arch = comparison.described
            raise CheckpointMismatchError(
                f'{report.source} does not fit this {type(self).__name__} backbone: {shapes}'
                f'The checkpoint has {theirs_arch}; the model has {own_arch}. Choose the '
                'matching arch.')
        report.loaded = comparison.shared
        report.unexpected = comparison.unexpected
        absent = comparison.missing
        report.new = [k for k in absent if any(re.match(p, k) for p in new_patterns)]
        report.missing = [k for k in absent if k not in report.new]
        return {k: v for k, v in state.items() if k in own}

    # -- learning-rate decay ------------------------------------------------------------------
    def layer_id(self, name: str, decay_type: str) -> int:
        """Decay id of the backbone parameter ``name`` (without the ``backbone.`` prefix):
        0 for the stem, growing towards the output; see the subclasses."""
        raise NotImplementedError

    def get_layer_depth(self, param_name: str, prefix: str = '') -> Tuple[int, int]:
        """mmpretrain's layer-wise decay protocol (``LearningRateDecayOptimWrapperConstructor``):
        ``(layer id, number of ids)``; the deepest backbone id and everything outside the
        backbone share the last id."""
        names = [n for n, _ in self.named_parameters()]
        top = max(self.layer_id(n, 'layer_wise') for n in names)
        if not param_name.startswith(prefix) or param_name[len(prefix):] not in names:
            return top, top + 1
        return self.layer_id(param_name[len(prefix):], 'layer_wise'), top + 1
