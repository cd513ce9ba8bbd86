"""Loading ResT / ResTv2 weights: the authors' ImageNet files and checkpoints mmrest saved.

The authors publish ``{'model': state_dict}``. ResTv2 key names are mmrest's own; ResT v1
names are renamed (``stem.conv1`` -> ``stem.proj.0``, ``patch_embed_2.conv`` ->
``patch_2.proj``, ...). The final ``norm`` of the classifier becomes the LayerNorm on the last
stage output (``norm3``); the classifier ``head`` is not part of a backbone.
"""
import os.path as osp
import re
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import torch

StateDict = Dict[str, torch.Tensor]

# Renames from the authors' ResT (v1) layout to mmrest's (shared with ResTv2).
_V1_OFFICIAL_RENAMES: Sequence[Tuple[str, str]] = (
    (r'^stem\.conv1\.', 'stem.proj.0.'),
    (r'^stem\.norm1\.', 'stem.proj.1.'),
    (r'^stem\.conv2\.', 'stem.proj.3.'),
    (r'^stem\.norm2\.', 'stem.proj.4.'),
    (r'^stem\.conv3\.', 'stem.proj.6.'),
    (r'^patch_embed_(\d)\.conv\.', r'patch_\1.proj.'),
    (r'^patch_embed_(\d)\.', r'patch_\1.'),
)

# Keys that only one version has, in either the authors' or mmrest's layout.
_VERSION_MARKERS: Mapping[str, Sequence[str]] = {
    'v1': (r'^stem\.conv1\.', r'^patch_embed_\d\.', r'\.attn\.transform_conv\.',
           r'^patch_\d\.norm\.running_mean$'),
    'v2': (r'^stem\.norm\.', r'\.attn\.up\.0\.', r'\.attn\.up_norm\.'),
}
VERSION_NAMES = {'v1': 'ResT (v1)', 'v2': 'ResTv2'}
VERSION_TYPES = {'v1': 'ResT', 'v2': 'ResTV2'}


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

    @property
    def clean(self) -> bool:
        return not self.missing and not self.unexpected

    def summary(self) -> str:
        lines = [f'loaded {len(self.loaded)} tensors from {self.source}']
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


def extract_state_dict(checkpoint: object, source: str = 'checkpoint') -> StateDict:
    """The tensors of a checkpoint, whatever wraps them (authors' ``model``, mmengine
    ``state_dict``, DDP ``module.`` prefix)."""
    state = checkpoint
    if isinstance(state, Mapping):
        for wrapper in ('state_dict', 'model', 'module'):
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


def checkpoint_version(state: Mapping[str, object]) -> Optional[str]:
    """'v1', 'v2' or None, from keys that only one ResT version has."""
    found = {
        version
        for version, patterns in _VERSION_MARKERS.items()
        if any(re.search(p, k) for p in patterns for k in state)
    }
    return found.pop() if len(found) == 1 else None


def rename_v1_official(state: StateDict) -> StateDict:
    """Authors' ResT (v1) key names -> mmrest's."""
    renamed = {}
    for key, value in state.items():
        for pattern, repl in _V1_OFFICIAL_RENAMES:
            new_key = re.sub(pattern, repl, key)
            if new_key != key:
                key = new_key
                break
        renamed[key] = value
    return renamed


def describe_arch(state: Mapping[str, torch.Tensor]) -> str:
    """embed_dims and depths read off a ResT state dict (for error messages)."""
    dims, depths = [], []
    for stage in range(1, 5):
        blocks = {
            int(m.group(1))
            for k in state for m in [re.match(rf'^stage{stage}\.(\d+)\.', k)] if m
        }
        weight = state.get(f'stage{stage}.0.norm1.weight')
        dims.append(int(weight.shape[0]) if weight is not None else '?')
        depths.append(max(blocks) + 1 if blocks else 0)
    return f'embed_dims={dims}, depths={depths}'


def adapt_rest_state_dict(state: StateDict, model_state: Mapping[str, torch.Tensor],
                          version: str, report: LoadReport) -> Tuple[StateDict, List[str]]:
    """A ResT / ResTv2 checkpoint (the authors' or mmrest's) in the names of a backbone of
    ``version``, and the patterns of the tensors such a checkpoint does not have by design.

    Raises:
        CheckpointMismatchError: the checkpoint is of the other ResT version.
    """
    found = checkpoint_version(state)
    if found is not None and found != version:
        raise CheckpointMismatchError(
            f'{report.source} is a {VERSION_NAMES[found]} checkpoint but the model is '
            f"{VERSION_NAMES[version]}: use type='{VERSION_TYPES[found]}' for it, or the "
            f'{VERSION_NAMES[version]} checkpoint.')
    if version == 'v1':
        state = rename_v1_official(state)

    head = [k for k in state if k.startswith('head.')]
    if head:
        report.skipped['ImageNet classifier head'] = head
        state = {k: v for k, v in state.items() if not k.startswith('head.')}
    # The classifier's final LayerNorm acts on the last stage output, like norm3 here.
    from_classifier = bool(head) or 'norm.weight' in state
    if 'norm.weight' in state:
        state = {re.sub(r'^norm\.', 'norm3.', k): v for k, v in state.items()}
        if 'norm3.weight' not in model_state:
            skipped = [k for k in state if k.startswith('norm3.')]
            report.skipped['final norm, stage 4 is not an output (out_indices)'] = [
                k.replace('norm3.', 'norm.') for k in skipped]
            state = {k: v for k, v in state.items() if not k.startswith('norm3.')}
    # An ImageNet classifier has no output norms of stages 1-3; the CWin convs of
    # attn_style='cwin' are fine-tuning additions.
    new = [r'^cwin\d\.'] + ([r'^norm[0-2]\.'] if from_classifier else [])
    return state, new


def check_checkpoint_path(path: str, model_name: str) -> None:
    """Fail early, and helpfully, when a local checkpoint file does not exist."""
    if '://' in path or path.startswith(('open-mmlab:', 'mmcls:', 'torchvision:')):
        return
    if not osp.isfile(osp.expanduser(path)):
        raise FileNotFoundError(
            f'Pretrained checkpoint for {model_name} not found: {path!r}. Download the '
            "authors' ImageNet checkpoint and point init_cfg.checkpoint at it, e.g. "
            '--cfg-options model.backbone.init_cfg.checkpoint=/path/to/file.pth, or set '
            'init_cfg=None to train from scratch.')




def convert_official_classifier(checkpoint: object, source: str = 'checkpoint') -> dict:
    """The authors' ImageNet checkpoint -> an mmpretrain ``ImageClassifier`` checkpoint for
    ``configs/imagenet/*`` (backbone with ``out_indices=(3,)``, ``GlobalAveragePooling`` neck,
    ``LinearClsHead``). The final norm becomes ``backbone.norm3``, the classifier
    ``head.fc``."""
    state = extract_state_dict(checkpoint, source)
    version = checkpoint_version(state)
    if version is None:
        raise CheckpointMismatchError(
            f'{source} does not look like a ResT or ResTv2 checkpoint (none of the keys that '
            'identify a version, e.g. stem.conv1 / patch_embed_2 or stem.norm / attn.up)')
    if any(k.startswith(('backbone.', 'head.fc.')) for k in state):
        raise CheckpointMismatchError(f'{source} is already in mmpretrain layout')
    if version == 'v1':
        state = rename_v1_official(state)
    converted = {}
    for key, value in state.items():
        if key.startswith('head.'):
            converted['head.fc.' + key[len('head.'):]] = value
        elif key.startswith('norm.'):
            converted['backbone.norm3.' + key[len('norm.'):]] = value
        else:
            converted['backbone.' + key] = value
    return {
        'state_dict': converted,
        'meta': {'converted_from': source, 'backbone_type': VERSION_TYPES[version],
                 'arch': describe_arch(state)},
    }
