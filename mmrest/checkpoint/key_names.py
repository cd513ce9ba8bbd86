"""The authors' key names and mmrest's: the renames between them, which ResT version and size a
state dict is, from its keys and shapes.

ResTv2's names are mmrest's own; ResT v1's are renamed (``stem.conv1`` -> ``stem.proj.0``,
``patch_embed_2.conv`` -> ``patch_2.proj``, ...). The output LayerNorms of the authors'
segmentation backbone, ``norm_1 .. norm_4``, are mmrest's ``norm0 .. norm3``; a classifier's final
``norm`` acts on the last stage output, mmrest's ``norm3``.
"""
import re
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import torch

StateDict = Dict[str, torch.Tensor]

# Renames from the authors' ResT (v1) layout to mmrest's (shared with ResTv2).
V1_RENAMES: Sequence[Tuple[str, str]] = (
    (r'^stem\.conv1\.', 'stem.proj.0.'),
    (r'^stem\.norm1\.', 'stem.proj.1.'),
    (r'^stem\.conv2\.', 'stem.proj.3.'),
    (r'^stem\.norm2\.', 'stem.proj.4.'),
    (r'^stem\.conv3\.', 'stem.proj.6.'),
    (r'^patch_embed_(\d)\.conv\.', r'patch_\1.proj.'),
    (r'^patch_embed_(\d)\.', r'patch_\1.'),
)
# The output norms of the authors' downstream backbones (mmseg 0.x: norm_{i}, 1-based), and
# their classifiers' final norm, which acts on the last stage output.
OUTPUT_NORM_RENAMES: Sequence[Tuple[str, Any]] = (
    (r'^norm_([1-4])\.', lambda m: f'norm{int(m[1]) - 1}.'),
    (r'^norm\.', 'norm3.'),
)

# Keys that only one version has, in either the authors' or mmrest's layout.
_VERSION_MARKERS: Mapping[str, Sequence[str]] = {
    'v1': (r'^stem\.conv1\.', r'^patch_embed_\d\.', r'\.attn\.transform_conv\.',
           r'^patch_\d\.norm\.running_mean$'),
    'v2': (r'^stem\.norm\.', r'\.attn\.up\.0\.', r'\.attn\.up_norm\.'),
}
VERSION_NAMES = {'v1': 'ResT (v1)', 'v2': 'ResTv2'}
VERSION_TYPES = {'v1': 'ResT', 'v2': 'ResTV2'}


def checkpoint_version(state: Mapping[str, object]) -> Optional[str]:
    """'v1', 'v2' or None, from keys that only one ResT version has."""
    found = {
        version
        for version, patterns in _VERSION_MARKERS.items()
        if any(re.search(p, k) for p in patterns for k in state)
    }
    return found.pop() if len(found) == 1 else None


def rename_keys(state: StateDict, rules: Sequence[Tuple[str, Any]]
                ) -> Tuple[StateDict, List[Tuple[str, str]]]:
    """``state`` with the first matching ``(pattern, replacement)`` rule applied to each key,
    and the ``(old, new)`` pairs it changed."""
    renamed, changes = {}, []
    for key, value in state.items():
        new_key = key
        for pattern, repl in rules:
            new_key, count = re.subn(pattern, repl, key)
            if count:
                break
        if new_key != key:
            changes.append((key, new_key))
        renamed[new_key] = value
    return renamed, changes


def rename_v1_official(state: StateDict) -> StateDict:
    """Authors' ResT (v1) key names -> mmrest's."""
    return rename_keys(state, V1_RENAMES)[0]


def authors_backbone_renames(version: str) -> Tuple[Tuple[str, Any], ...]:
    """Rules from the names of the authors' ResT (v1) or ResTv2 backbones (classifier or
    downstream) to mmrest's."""
    return tuple(V1_RENAMES if version == 'v1' else ()) + tuple(OUTPUT_NORM_RENAMES)


def arch_of(state: Mapping[str, torch.Tensor]) -> Tuple[List[Any], List[int]]:
    """embed_dims (``'?'`` where unknown) and depths read off a ResT state dict."""
    dims: List[Any] = []
    depths = []
    for stage in range(1, 5):
        blocks = {
            int(m.group(1))
            for k in state for m in [re.match(rf'^stage{stage}\.(\d+)\.', k)] if m
        }
        weight = state.get(f'stage{stage}.0.norm1.weight')
        dims.append(int(weight.shape[0]) if weight is not None else '?')
        depths.append(max(blocks) + 1 if blocks else 0)
    return dims, depths


def preset_of(state: Mapping[str, torch.Tensor],
              arch_zoo: Mapping[str, Mapping[str, Sequence[int]]]) -> Optional[str]:
    """The name of the preset whose embed_dims and depths ``state`` has, if any."""
    return _preset(*arch_of(state), arch_zoo)


def _preset(dims: List[Any], depths: List[int],
            arch_zoo: Mapping[str, Mapping[str, Sequence[int]]]) -> Optional[str]:
    for name, settings in arch_zoo.items():
        if list(settings['embed_dims']) == dims and list(settings['depths']) == depths:
            return name
    return None


def describe_arch(state: Mapping[str, torch.Tensor],
                  arch_zoo: Optional[Mapping[str, Mapping[str, Sequence[int]]]] = None) -> str:
    """embed_dims and depths read off a ResT state dict, and the preset they are (for error
    messages)."""
    dims, depths = arch_of(state)
    preset = _preset(dims, depths, arch_zoo) if arch_zoo else None
    return f'embed_dims={dims}, depths={depths}' + (f" (arch '{preset}')" if preset else '')
