"""The OpenMMLab face of mmrest's networks (ResT, ResTv2 and CeiT): the arguments every
backbone shares, taken once (``out_indices`` and ``drop_path_rate`` pass to the network;
``frozen_stages``, ``norm_eval``, ``with_cp`` and ``init_cfg`` are the face's own), the
training-mode contract (``frozen_stages`` and ``norm_eval`` kept by a ``train()`` override),
``init_cfg`` as a dict or a list (the authors' initialisation, then mmengine initialisers, then
pretrained weights loaded with a report of every tensor), and the layer ids of learning-rate
decay (:class:`~mmrest.engine.ResTLayerDecayOptimWrapperConstructor`, and mmpretrain's
``get_layer_depth`` protocol).

The networks themselves (:mod:`mmrest.models.networks`) need torch alone; this face needs
mmengine, and says so in one line when it is missing.
"""
import copy
import logging
from contextlib import contextmanager
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

from ...checkpoint import (
    LoadReport,
    check_pretrained_exists,
    extract_state_dict,
    split_prefix,
)
from ...utils.packages import has_library, require
from ..validation import check_frozen_stages

if has_library('mmengine'):
    from mmengine.logging import print_log
    from mmengine.model import BaseModule
    from mmengine.model.weight_init import initialize
    from mmengine.runner.checkpoint import CheckpointLoader
else:  # torch alone: the networks and their plain faces work; the OpenMMLab face refuses
    BaseModule = nn.Module
    print_log = initialize = CheckpointLoader = None

InitCfg = Union[dict, List[dict], None]
DECAY_TYPES = ('stage_wise', 'layer_wise')


class MMRestBackbone:
    """The OpenMMLab face of a network: a mixin, listed before the network class, with
    mmengine's ``BaseModule`` last (``class ResTBase(MMRestBackbone, ResTNetBase,
    BaseModule)``), so that the state-dict keys stay the network's own.

    Args:
        frozen_stages: -1 freezes nothing, 0 the stem, k >= 1 also the first k stages (CeiT:
            layers); frozen parts have no gradients and stay in eval mode.
        norm_eval: keep every BatchNorm in eval mode during training (frozen statistics).
        with_cp: activation checkpointing of each block (less memory, same results).
        init_cfg: e.g. ``dict(type='Pretrained', checkpoint=PATH)`` for the authors' ImageNet
            weights or a checkpoint mmrest saved; a list adds mmengine initialisers, applied
            after the authors' initialisation and before the checkpoint. None: the authors'
            random initialisation.
        *args, **kwargs: the network's (``arch``, ``out_indices``, ``drop_path_rate``, ...).

    A subclass declares what ``frozen_stages`` counts (:attr:`num_stages`) and freezes
    (:meth:`frozen_modules`) and the decay id of each parameter (:meth:`layer_id`).
    """
    norm_eval: bool = False

    def __init__(self, *args: Any, frozen_stages: int = -1, norm_eval: bool = False,
                 with_cp: bool = False, init_cfg: InitCfg = None, **kwargs: Any) -> None:
        require('mmengine', f'{type(self).__name__} (the OpenMMLab backbone; plain PyTorch: '
                'mmrest.models.create_model)')
        super().__init__(*args, **kwargs)  # the network, then BaseModule (init_cfg=None)
        self.init_cfg = copy.deepcopy(init_cfg)
        self.init_cfgs()  # fail at build time, not after the whole detector is built
        self.frozen_stages = check_frozen_stages(frozen_stages, self.num_stages)
        self.norm_eval = norm_eval
        self.with_cp = with_cp
        self.load_report: Optional[LoadReport] = None
        # load_state_dict of any model holding this backbone (mmengine's load_from, test
        # tools, inferencers) passes its part of the state dict through translate_state_dict.
        self._state_translated = False
        self._register_load_state_dict_pre_hook(self._translate_on_load)
        self._freeze_stages()

    @property
    def num_stages(self) -> int:
        """What ``frozen_stages`` counts up to."""
        raise NotImplementedError

    @property
    def with_cp(self) -> bool:
        return self.grad_checkpointing

    @with_cp.setter
    def with_cp(self, value: bool) -> None:
        self.grad_checkpointing = bool(value)

    @property
    def kind(self) -> str:
        return 'backbone'

    def log(self, message: str) -> None:
        print_log(message, logger='current')

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
        super().init_weights()  # the network's: the authors' initialisation
        others = [cfg for cfg in cfgs if cfg['type'] != 'Pretrained']
        if others:
            initialize(self, copy.deepcopy(others))
        for cfg in cfgs:
            if cfg['type'] == 'Pretrained':
                self.load_pretrained(cfg['checkpoint'], cfg.get('map_location', 'cpu'),
                                     prefix=cfg.get('prefix'))
        self._is_init = True
        self._freeze_stages()

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
        state = self.fit_state_dict(state, report)
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
        state = self.complete_state_dict(
            self.fit_state_dict(state, report), report,
            hint="; ImageNet weights also load through init_cfg=dict(type='Pretrained', "
                 'checkpoint=FILE)')
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
