"""State dicts: the tensors a checkpoint holds, the part of a backbone, the authors' ResT names in
mmrest's, and how they compare with a model's.

A file reaches a backbone in two ways, and both go through :func:`adapt_rest_state_dict`:
``init_cfg`` Pretrained (``load_pretrained``, which reports every tensor) and
``load_state_dict`` on a whole model (mmengine's ``load_from``, the test tools, the
inferencers), where the backbone's load hook puts its part of the state dict into its own names
and refuses a part that does not fit. Whether a checkpoint fits a backbone or a whole model
(:func:`mmrest.converters.check_model_fits`) is computed by :func:`compare_state_dicts`.
"""
import re
from dataclasses import dataclass, field
from typing import Callable, List, Mapping, Optional, Sequence, Tuple

import torch

from .key_names import (
    VERSION_NAMES,
    VERSION_TYPES,
    StateDict,
    authors_backbone_renames,
    checkpoint_version,
    rename_keys,
)
from .report import LoadReport

# A checkpoint may lack these without being of another model (older torch, BN bookkeeping).
OPTIONAL_STATE = ('num_batches_tracked', )
# Where an error names the converter.
CONVERTER = 'python tools/convert_official.py SRC DST --config CONFIG'


class CheckpointMismatchError(ValueError):
    """The checkpoint does not belong to this backbone (other version or other size)."""


# Where checkpoints keep their tensors (mmengine, the authors' and detectron2's, DDP's).
WEIGHTS_KEYS = ('state_dict', 'model', 'module')


def extract_state_dict(checkpoint: object, source: str = 'checkpoint') -> StateDict:
    """The tensors of a checkpoint, whatever wraps them (authors' ``model``, mmengine
    ``state_dict``, DDP ``module.`` prefix)."""
    state = checkpoint
    if isinstance(state, Mapping):
        for wrapper in WEIGHTS_KEYS:
            if wrapper in state and isinstance(state[wrapper], Mapping):
                state = state[wrapper]
                break
    if not isinstance(state, Mapping) or not state or not all(
            isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointMismatchError(
            f'{source} holds no state dict (expected a dict of tensors, or one under the key '
            "'model' or 'state_dict')")
    return {re.sub(r'^module\.', '', k): v for k, v in state.items()}


def split_prefix(state: StateDict, prefix: str = 'backbone.', required: bool = False,
                 source: str = 'checkpoint') -> Tuple[StateDict, List[str]]:
    """The tensors under ``prefix`` (prefix removed) and the keys left aside. Without any key
    under it, the whole state (a bare backbone's checkpoint) unless ``required``."""
    if not any(k.startswith(prefix) for k in state):
        if required:
            raise CheckpointMismatchError(f'{source} has no tensor under the prefix {prefix!r}')
        return dict(state), []
    inside = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    return inside, [k for k in state if not k.startswith(prefix)]


def adapt_rest_state_dict(state: StateDict, model_state: Mapping[str, torch.Tensor],
                          version: str, report: LoadReport) -> Tuple[StateDict, List[str]]:
    """A ResT / ResTv2 checkpoint (the authors' classifier or downstream backbone, or mmrest's)
    in the names of a backbone of ``version``, and the patterns of the tensors such a
    checkpoint does not have by design. Renames go to ``report.renamed``, tensors left out
    to ``report.skipped``.

    Raises:
        CheckpointMismatchError: the checkpoint is of the other ResT version.
    """
    found = checkpoint_version(state)
    if found is not None and found != version:
        raise CheckpointMismatchError(
            f'{report.source} is a {VERSION_NAMES[found]} checkpoint but the model is '
            f"{VERSION_NAMES[version]}: use type='{VERSION_TYPES[found]}' for it, or the "
            f'{VERSION_NAMES[version]} checkpoint.')
    head = [k for k in state if k.startswith('head.')]
    if head:
        report.skipped['ImageNet classifier head'] = head
        state = {k: v for k, v in state.items() if not k.startswith('head.')}
    # The classifier's final LayerNorm acts on the last stage output, like norm3 here.
    from_classifier = bool(head) or 'norm.weight' in state
    state, renamed = rename_keys(state, authors_backbone_renames(version))
    report.renamed.extend(renamed)
    theirs = {new: old for old, new in renamed}
    unused_norms = [k for k in state
                    if re.match(r'^norm\d\.', k) and k.split('.')[0] + '.weight' not in model_state]
    if unused_norms:
        report.skipped['output norm of a stage that is not in out_indices'] = [
            theirs.get(k, k) for k in unused_norms]
        state = {k: v for k, v in state.items() if k not in unused_norms}
    # An ImageNet classifier has no output norms of stages 1-3; the CWin convs of
    # attn_style='cwin' are fine-tuning additions.
    new = [r'^cwin\d\.'] + ([r'^norm[0-2]\.'] if from_classifier else [])
    return state, new


Shape = Tuple[int, ...]


@dataclass
class StateComparison:
    """A checkpoint's tensors against a model's, both in the model's names."""
    shared: List[str] = field(default_factory=list)  # in both (checkpoint order)
    mismatched: List[Tuple[str, Shape, Shape]] = field(default_factory=list)  # (key, theirs, ours)
    missing: List[str] = field(default_factory=list)  # the model's, not in the checkpoint
    unexpected: List[str] = field(default_factory=list)  # the checkpoint's, not in the model
    # What each state dict implies (the model's ``describe`` hook): (checkpoint, model).
    described: Optional[Tuple[str, str]] = None

    @property
    def other_arch(self) -> bool:
        """The checkpoint is described as another architecture (unknown parts, '?', aside):
        same widths with other depths show only here."""
        return (self.described is not None and self.described[0] != self.described[1]
                and '?' not in self.described[0])


def required_missing(missing: Sequence[str]) -> List[str]:
    """The ``missing`` keys a checkpoint may not lack (:data:`OPTIONAL_STATE` aside)."""
    return [k for k in missing if not k.endswith(OPTIONAL_STATE)]


def compare_state_dicts(state: Mapping[str, torch.Tensor], own: Mapping[str, torch.Tensor],
                        resizable: Sequence[str] = (),
                        describe: Optional[Callable[[Mapping[str, torch.Tensor]], str]] = None
                        ) -> StateComparison:
    """The one comparison of a checkpoint's ``state`` with a model's ``own`` state dict: which
    tensors both have, which have other shapes (``resizable`` keys exempt: the model resizes
    them), which are missing or unexpected, and, with ``describe``, the architecture each
    implies."""
    return StateComparison(
        shared=[k for k in state if k in own],
        mismatched=[(k, tuple(v.shape), tuple(own[k].shape)) for k, v in state.items()
                    if k in own and hasattr(v, 'shape') and v.shape != own[k].shape
                    and k not in resizable],
        missing=[k for k in own if k not in state],
        unexpected=[k for k in state if k not in own],
        described=(describe(state), describe(own)) if describe is not None else None)
