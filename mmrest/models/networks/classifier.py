"""The ImageNet classifiers of ResT and ResTv2, with torch alone: the face that plain PyTorch
(:mod:`mmrest.models.zoo`) and timm (:mod:`mmrest.timm`) share.

The network's last output norm (``norm3``) is the authors' final ``norm``; the classifier
averages its map and applies ``head`` (Linear), as the authors' classifiers do. The API is
timm's: ``forward_features`` (the normalised last map, NCHW), ``forward_head(pre_logits=)``,
``reset_classifier``, ``set_grad_checkpointing``, ``feature_info``, ``forward_intermediates``
(the per-stage LayerNorm outputs) and ``prune_intermediate_layers`` (for
``features_only=True``).
"""
from typing import Any, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn

from ...checkpoint import (
    CONVERTER,
    CheckpointMismatchError,
    LoadReport,
    StateDict,
    compact_keys,
    split_prefix,
)
from ..validation import check_choice, check_out_indices
from .rest import NUM_STAGES, ResTNet, ResTNetBase, ResTV2Net, stage_module_names

Indices = Union[int, Sequence[int], None]
GLOBAL_POOLS = ('avg', '')
OUTPUT_FORMATS = ('NCHW', 'NHWC')


def take_indices(indices: Indices) -> List[int]:
    """Stages by timm's convention: None all, an int n the last n, else the stages named
    (negative ones from the end)."""
    if indices is None:
        indices = NUM_STAGES
    if isinstance(indices, int):
        if not 0 < indices <= NUM_STAGES:
            raise ValueError(f'the last {indices} stages: there are {NUM_STAGES}')
        return list(range(NUM_STAGES - indices, NUM_STAGES))
    return list(check_out_indices(indices, NUM_STAGES))


class ResTClassifierBase(ResTNetBase):
    """A ResT network with the authors' classifier head (not used alone: see
    :class:`ResTClassifier` and :class:`ResTV2Classifier`).

    Args:
        num_classes: classes of the head; 0: no head (``forward`` returns pooled features).
        in_chans: image channels (timm's name).
        global_pool: 'avg' (the authors') or '' (``forward_head`` keeps the map).
        drop_rate: dropout before the head (timm's meaning).
        proj_drop_rate: the network's dropout after projections (its ``drop_rate``).
        out_indices: stages with an output LayerNorm: (3,) for the classifier (the authors'
            layout, whose final norm is ``norm3``); all four for the per-stage outputs of
            :meth:`forward_intermediates` (timm's ``features_only`` builds them).
        **kwargs: the network's (``arch``, ``drop_path_rate``, ...).
    """

    def __init__(self, *args: Any, num_classes: int = 1000, in_chans: int = 3,
                 global_pool: str = 'avg', drop_rate: float = 0.0, proj_drop_rate: float = 0.0,
                 out_indices: Indices = (3, ), **kwargs: Any) -> None:
        out_indices = check_out_indices(NUM_STAGES if out_indices is None else out_indices,
                                        NUM_STAGES)
        if NUM_STAGES - 1 not in out_indices:
            raise ValueError(f'{type(self).__name__}: out_indices must include the last stage '
                             f'({NUM_STAGES - 1}), whose LayerNorm is the classifier\'s final '
                             f'norm; got {out_indices}')
        super().__init__(*args, in_channels=in_chans, out_indices=out_indices,
                         drop_rate=proj_drop_rate, **kwargs)
        self.num_features = self.head_hidden_size = self.embed_dims[-1]
        self.feature_info = [dict(num_chs=dim, reduction=4 * 2**i, module=f'norm{i}')
                             for i, dim in enumerate(self.embed_dims)]
        self.head_drop = nn.Dropout(drop_rate)
        self.reset_classifier(num_classes, global_pool)
        self.init_weights()

    # The first conv: its input channels follow in_chans (timm's pretrained_cfg first_conv).
    first_conv = 'stem.proj.0'

    @property
    def kind(self) -> str:
        return 'model'

    @property
    def resizable_keys(self) -> Tuple[str, ...]:  # type: ignore[override]
        return (f'{self.first_conv}.weight', )

    # -- the head ---------------------------------------------------------------------------
    def get_classifier(self) -> nn.Module:
        return self.head

    def reset_classifier(self, num_classes: int, global_pool: Optional[str] = None) -> None:
        """A new head of ``num_classes`` (0: none), initialised as the authors' heads."""
        if global_pool is not None:
            check_choice('global_pool', global_pool, GLOBAL_POOLS)
            self.global_pool = global_pool
        self.num_classes = int(num_classes)
        self.head = (nn.Linear(self.num_features, self.num_classes) if self.num_classes > 0
                     else nn.Identity())
        self.head.apply(self.init_module)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The last stage's map after the final LayerNorm (B, C, H/32, H/32), any size."""
        return self.forward_stages(x, (NUM_STAGES - 1, ), NUM_STAGES - 1)[0]

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        if self.global_pool == 'avg':
            x = x.mean(dim=(2, 3))
        x = self.head_drop(x)
        return x if pre_logits else self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    # -- per-stage outputs (timm's features_only) ------------------------------------------
    def forward_intermediates(self, x: torch.Tensor, indices: Indices = None,
                              norm: bool = False, stop_early: bool = False,
                              output_fmt: str = 'NCHW', intermediates_only: bool = False
                              ) -> Union[List[torch.Tensor], Tuple[torch.Tensor,
                                                                   List[torch.Tensor]]]:
        """The LayerNorm outputs of the stages ``indices`` (each stage's output passes its
        own norm, as in the papers' detectors, so ``norm`` changes nothing), and unless
        ``intermediates_only`` the final features too (:meth:`forward_features`)."""
        check_choice('output_fmt', output_fmt, OUTPUT_FORMATS)
        take = take_indices(indices)
        absent = [i for i in take if self.stage(i).norm is None]
        if absent:
            raise ValueError(
                f'{type(self).__name__} has no output norm for stages {absent}: build it with '
                f'out_indices={tuple(take)} (timm: features_only=True) for these outputs')
        last = max(take) if intermediates_only or stop_early else NUM_STAGES - 1
        runs = sorted(set(take) | ({last} if last == NUM_STAGES - 1 else set()))
        outs = dict(zip(runs, self.forward_stages(x, runs, last)))
        intermediates = [outs[i] for i in take]
        if output_fmt == 'NHWC':
            intermediates = [out.permute(0, 2, 3, 1) for out in intermediates]
        if intermediates_only:
            return intermediates
        return outs[last], intermediates

    def prune_intermediate_layers(self, indices: Indices = 1, prune_norm: bool = False,
                                  prune_head: bool = True) -> List[int]:
        """Keep what the outputs of ``indices`` need: the later stages and the output norms
        of the others (unless they normalise the trunk) are removed, and with ``prune_head``
        the head. Returns the indices (timm's FeatureGetterNet calls it)."""
        take = take_indices(indices)
        for i in range(NUM_STAGES):
            names = stage_module_names(i)
            drop = list(names.values()) if i > max(take) else (
                [names['norm']] if i not in take and not self.norm_in_trunk else [])
            for name in drop:
                if hasattr(self, name):
                    delattr(self, name)
        self.out_indices = tuple(i for i in self.out_indices if i in take or
                                 (self.norm_in_trunk and i <= max(take)))
        if prune_head:
            self.reset_classifier(0, '')
        return take

    # -- checkpoints --------------------------------------------------------------------------
    def classifier_state(self, state: StateDict, source: str,
                         adapt_first_conv: bool = True) -> Tuple[StateDict, LoadReport]:
        """A classifier's tensors in this model's names, ready for a strict load, and the
        report of every one: the authors' ImageNet files (their names translated), mmrest's
        own, and mmpretrain's layout (``backbone.``, ``head.fc.``). The output norms such a
        file lacks keep their current values; a head of another number of classes is skipped
        (reported). The first conv of an RGB file meets ``in_chans`` other channels summed
        (one channel) or repeated and rescaled, unless ``adapt_first_conv`` is False (timm
        does it itself).

        Raises:
            CheckpointMismatchError: another version or size, a detector's or segmentor's
                file (the message names the converter), or tensors missing or left over.
        """
        report = LoadReport(source=source)
        if any(k.startswith('backbone.') for k in state):  # mmpretrain's ImageClassifier
            inside, outside = split_prefix(state, 'backbone.')
            others = [k for k in outside if not k.startswith('head.fc.')]
            if others:
                raise CheckpointMismatchError(
                    f'{source} is not an ImageNet classifier: {len(others)} of its tensors are '
                    f'outside a backbone and its head ({compact_keys(others, limit=6)}). The '
                    "authors' detectors and segmentors are converted with "
                    f'`{CONVERTER}` and used through the OpenMMLab configs.')
            state = dict(inside, **{'head.' + k[len('head.fc.'):]: state[k] for k in outside})
        head = {k: v for k, v in state.items() if k.startswith('head.')}
        state = self.fit_state_dict(state, report)
        report.skipped.pop('ImageNet classifier head', None)
        report.missing = [k for k in report.missing if not k.startswith('head.')]
        state = self.complete_state_dict(state, report)
        own = self.state_dict()
        conv = f'{self.first_conv}.weight'
        if adapt_first_conv and conv in state and state[conv].shape != own[conv].shape:
            state[conv] = adapt_input_channels(state[conv], own[conv].shape[1])
        if head and all(k in own and own[k].shape == v.shape for k, v in head.items()):
            state.update(head)
            report.loaded += list(head)
        else:  # the model's own head stays
            if head:
                classes = next(iter(head.values())).shape[0]
                report.skipped[f'a head of {classes} classes (the model has '
                               f'{self.num_classes})'] = list(head)
            state.update({k: v for k, v in own.items() if k.startswith('head.')})
        return state, report


def adapt_input_channels(weight: torch.Tensor, channels: int) -> torch.Tensor:
    """A conv weight (O, I, kh, kw) for ``channels`` inputs: one channel takes the sum over
    the I channels; more are the I channels repeated, scaled by I / channels so that an input
    of the same value everywhere gives the same output."""
    if channels == 1:
        return weight.sum(dim=1, keepdim=True)
    repeats = -(-channels // weight.shape[1])
    return weight.repeat(1, repeats, 1, 1)[:, :channels] * (weight.shape[1] / channels)


class ResTClassifier(ResTClassifierBase, ResTNet):
    """The ResT (v1) ImageNet classifier: presets ``lite``, ``small`` (default), ``base``,
    ``large``; the authors' files ``rest_{lite,small,base,large}.pth``."""


class ResTV2Classifier(ResTClassifierBase, ResTV2Net):
    """The ResTv2 ImageNet classifier: presets ``tiny`` (default), ``small``, ``base``,
    ``large``; the authors' files ``restv2_{tiny,small,base,large}_{224,384}.pth``."""
