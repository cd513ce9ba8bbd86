"""Loading a checkpoint into a backbone: what a file holds, what fits, and the report of every
tensor.

A file reaches a backbone in two ways, and both go through :func:`adapt_rest_state_dict`:
``init_cfg`` Pretrained (``load_pretrained``, which reports every tensor) and
``load_state_dict`` on a whole model (mmengine's ``load_from``, the test tools, the
inferencers), where the backbone's load hook puts its part of the state dict into its own names
and refuses a part that does not fit; :func:`check_model_fits` checks a whole model's file
before it is loaded.
"""
import os.path as osp
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch

from .names import (
    VERSION_NAMES,
    VERSION_TYPES,
    StateDict,
    authors_backbone_renames,
    checkpoint_version,
    rename_keys,
)
from .reading import is_local_path, load_from_local, missing_checkpoint

# A checkpoint may lack these without being of another model (older torch, BN bookkeeping).
OPTIONAL_STATE = ('num_batches_tracked', )
# Where an error names the converter.
CONVERTER = 'python tools/convert_official.py SRC DST --config CONFIG'


class CheckpointMismatchError(ValueError):
    """The checkpoint does not belong to this backbone (other version or other size)."""


@dataclass
class LoadReport:
    """What happened to every tensor of a checkpoint loaded into a backbone."""
    source: str
    loaded: List[str] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)
    # Layers an ImageNet classifier does not have (output norms of stages 1-3, CWin convs):
    # expected to start from their initial values, so reported quietly.
    new: List[str] = field(default_factory=list)
    # Keys deliberately left out, by reason (classifier head, other parts of a detector).
    skipped: Dict[str, List[str]] = field(default_factory=dict)
    # The authors' names put into mmrest's: (theirs, ours).
    renamed: List[Tuple[str, str]] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.missing and not self.unexpected

    def summary(self) -> str:
        lines = [f'loaded {len(self.loaded)} tensors from {self.source}']
        if self.renamed:
            shown = ', '.join(f'{a} -> {b}' for a, b in self.renamed[:4])
            more = f', ... ({len(self.renamed) - 4} more)' if len(self.renamed) > 4 else ''
            lines.append(f"renamed {len(self.renamed)} tensors from the authors' names: "
                         f'{shown}{more}')
        for reason, keys in self.skipped.items():
            lines.append(f'skipped {len(keys)} tensors ({reason}): {compact_keys(keys)}')
        if self.new:
            lines.append(f'initialised {len(self.new)} tensors that an ImageNet classifier does '
                         f'not have: {compact_keys(self.new)}')
        if self.missing:
            lines.append(f'MISSING in the checkpoint, left at their initial values '
                         f'({len(self.missing)}): {compact_keys(self.missing)}')
        if self.unexpected:
            lines.append(f'UNEXPECTED in the checkpoint, not loaded ({len(self.unexpected)}): '
                         f'{compact_keys(self.unexpected)}')
        return '\n  '.join(lines)


def compact_keys(keys: Sequence[str], limit: int = 12) -> str:
    """Group keys by module (``stage3.*.attn.up_norm.weight``) so long lists stay readable."""
    grouped: Dict[str, List[str]] = {}
    for key in keys:
        grouped.setdefault(re.sub(r'\.\d+\.', '.*.', key), []).append(key)
    items = [f'{pattern} (x{len(members)})' if len(members) > 1 else members[0]
             for pattern, members in grouped.items()]
    more = f', ... and {len(items) - limit} more' if len(items) > limit else ''
    return ', '.join(items[:limit]) + more


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


def check_checkpoint_path(path: str, model_name: str) -> None:
    """Fail early, and helpfully, when a backbone's pretrained file does not exist."""
    if is_local_path(path) and not osp.isfile(osp.expanduser(path)):
        raise FileNotFoundError(missing_checkpoint(
            path, f'Pretrained checkpoint for {model_name}', 'model.backbone.init_cfg.checkpoint',
            'model.backbone.init_cfg'))


def check_checkpoint_fits(model: torch.nn.Module, checkpoint: Union[str, Mapping[str, Any]],
                          strict: bool = False, source: Optional[str] = None) -> None:
    """Refuse a checkpoint (a path, or a loaded one) that belongs to another model, instead of
    testing partly random weights (mmengine's ``load_from`` only warns about missing keys and
    shape mismatches). The backbones' parts are read as loading reads them (the authors' names
    translated, :meth:`~mmrest.models.backbones.base.MMRestBackbone.translate_state_dict`).
    ``strict``: tensors the model does not have are refused too.

    Raises:
        FileNotFoundError: ``checkpoint`` is a path to no file.
        CheckpointMismatchError: it does not fit; an authors' file is named, with the converter.
    """
    from ..models.backbones.base import MMRestBackbone
    from .official import recognise_official
    if isinstance(checkpoint, str):
        if not osp.isfile(checkpoint):
            raise FileNotFoundError(missing_checkpoint(checkpoint))
        source = source or checkpoint
        loaded = load_from_local(checkpoint, map_location='cpu')
    else:
        source, loaded = source or 'the checkpoint', checkpoint
    state = extract_state_dict(loaded, source)
    while hasattr(model, 'module'):  # DDP and/or test-time augmentation wrappers
        model = model.module
    own = model.state_dict()
    problems = []
    for name, module in model.named_modules():
        if isinstance(module, MMRestBackbone):
            try:
                module.translate_state_dict(state, f'{name}.' if name else '', source=source,
                                            log=False)
            except CheckpointMismatchError as error:  # another version or size
                problems.append(str(error).rstrip('.'))
    mismatched = [f'{k} {tuple(v.shape)} vs {tuple(own[k].shape)}' for k, v in state.items()
                  if k in own and hasattr(v, 'shape') and v.shape != own[k].shape]
    missing = [k for k in own if k not in state and not k.endswith(OPTIONAL_STATE)]
    unexpected = [k for k in state if k not in own] if strict else []
    if not (problems or mismatched or missing or unexpected):
        return
    if mismatched:
        problems.append(f'{len(mismatched)} tensors have other shapes (checkpoint vs model, '
                        f'e.g. {", ".join(mismatched[:3])})')
    if missing:
        problems.append(f'{len(missing)} of {len(own)} model tensors are missing from it '
                        f'(e.g. {", ".join(missing[:3])})')
    if unexpected:
        problems.append(f'{len(unexpected)} of its tensors are not in the model (e.g. '
                        f'{", ".join(unexpected[:3])})')
    try:
        official = recognise_official(loaded, source)
        hint = (f' It is {official}: convert it with python tools/convert_official.py '
                f'{source} OUT.pth (its config: configs/{official.config}).')
    except CheckpointMismatchError:
        hint = ' Is it the checkpoint of another config?'
    raise CheckpointMismatchError(f'{source} does not fit the model of this config: '
                                  f'{"; ".join(problems)}.{hint}')
