"""The authors' ImageNet classifier files and outputs, rebuilt from recorded figures (the reader
of the ImageNet reference fixture).

``tools/dev/make_reference_outputs.py imagenet`` built the authors' classifiers (their
``models/rest.py`` and ``models/rest_v2.py``) for the published presets and the small archs
mmrest's tests use, filled them by the rule of :mod:`tests.reference_weights` and recorded, in
``tests/fixtures/imagenet_rest.*``, the key names and shapes of each file and what the models
compute on two seeded inputs. Tests take "the authors' file" of an arch from here: the same
tensors the authors' code ran with, without their code or a checkpoint.
"""
import functools
import json
from pathlib import Path
from typing import Any, Dict, Mapping, Sequence, Union

import numpy as np
import torch

from tests.reference_weights import reference_input, reference_state_dict

FIXTURE = Path(__file__).resolve().parent / 'fixtures' / 'imagenet_rest'
ARCH_KEYS = ('embed_dims', 'depths', 'num_heads')

Arch = Mapping[str, Sequence[int]]


@functools.lru_cache(maxsize=None)
def imagenet_record() -> Dict[str, Any]:
    """The fixture's JSON: provenance, inputs, layout and, per model, its arch and keys."""
    return json.loads(FIXTURE.with_suffix('.json').read_text())


@functools.lru_cache(maxsize=None)
def _outputs() -> Dict[str, np.ndarray]:
    with np.load(FIXTURE.with_suffix('.npz')) as data:
        return dict(data)


def recorded(name: str) -> torch.Tensor:
    """A recorded array (``{model}/{size}/logits`` or ``.../stage{i}``), as a new tensor each
    time, so that a test can change it freely."""
    return torch.from_numpy(_outputs()[name].copy())


def imagenet_input(size: str) -> torch.Tensor:
    """The input (``'224x224'`` or ``'64x96'``) the outputs were recorded for, rebuilt from its
    recorded shape and seed (float32, a new tensor each time)."""
    spec = imagenet_record()['inputs'][size]
    return reference_input(spec['shape'], spec['seed'])


def imagenet_model(version: str, arch: Arch) -> str:
    """The recorded model of this ResT ``version`` ('v1' or 'v2') and ``arch`` (embed_dims,
    depths and num_heads, as the authors' presets or mmrest's tests give them)."""
    if set(arch) != set(ARCH_KEYS):
        raise KeyError(f'the authors\' classifiers are recorded by {", ".join(ARCH_KEYS)} only; '
                       f'got {sorted(arch)}')
    wanted = {k: [int(v) for v in arch[k]] for k in ARCH_KEYS}
    for name, model in imagenet_record()['models'].items():
        if model['version'] == version and model['arch'] == wanted:
            return name
    raise KeyError(f'no recorded {version} classifier with {wanted}: add it to IMAGENET_MODELS '
                   'in tools/dev/reference/imagenet.py and run make_reference_outputs.py imagenet')


def authors_imagenet_state(version: str, arch: Arch) -> Dict[str, torch.Tensor]:
    """The state dict of the authors' classifier of ``arch``, in their key names, with the
    values the recorded outputs were computed with (new tensors on every call)."""
    return reference_state_dict(imagenet_record()['models'][imagenet_model(version, arch)]
                                ['keys'])


def authors_imagenet_checkpoint(version: str, arch: Arch) -> Dict[str, Any]:
    """The authors' ImageNet file of ``arch`` as published: ``{'model': state_dict}``."""
    checkpoint = {'model': authors_imagenet_state(version, arch)}
    assert sorted(checkpoint) == sorted(imagenet_record()['layout']['top_level'])
    return checkpoint


def write_authors_imagenet(path: Union[str, Path], version: str, arch: Arch) -> Path:
    """Save :func:`authors_imagenet_checkpoint` at ``path``."""
    torch.save(authors_imagenet_checkpoint(version, arch), path)
    return Path(path)
