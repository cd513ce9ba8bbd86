"""The authors' ImageNet classifiers (``models/rest.py``, ``models/rest_v2.py``): each published
preset from its factory (``rest_lite`` ... ``restv2_large``) and the small archs mmrest's tests
use, built by a factory of theirs with only embed_dims / depths / num_heads changed.

``imagenet_rest.json``: the layout of the published files, every key of ``model`` with its shape,
each model's arch; ``.npz`` (computed in float64, stored in float32), for two seeded inputs: the
logits of the presets the tests compare, and the token map each stage's last block returns
(before any norm, NCHW) for the small archs, caught by forward hooks while the authors' own
``forward`` runs.
"""
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch

from tests.reference_weights import reference_input, reference_state_dict

from ..authors_code import (
    AUTHORS_CLASSIFIERS,
    authors_arch,
    authors_forward,
    build_authors_classifier,
    load_authors_classifiers,
)
from .files import revision, write

# The archs mmrest's tests build besides the presets (tests/common.py: embed_dims, depths,
# num_heads).
_TEST_TINY = dict(embed_dims=[16, 32, 64, 128], depths=[1, 1, 2, 1], num_heads=[1, 2, 4, 8])
_TEST_OTHER = dict(embed_dims=[24, 48, 96, 192], depths=[1, 2, 2, 1], num_heads=[1, 2, 4, 8])
_TEST_FLAT = dict(embed_dims=[16, 32, 64, 128], depths=[1, 1, 1, 1], num_heads=[1, 2, 4, 8])
_TEST_WINDOWED = dict(embed_dims=[16, 32, 64, 128], depths=[1, 2, 2, 2], num_heads=[1, 2, 4, 8])
# name: (version, the authors' factory, arch instead of the factory's (None: its own),
# {input: what is kept}, which tests use it). 'stages': each stage's token map; 'logits'.
IMAGENET_MODELS: Dict[str, Tuple[str, str, Optional[Dict[str, List[int]]], Dict[str, str],
                                 str]] = {
    'rest_lite': ('v1', 'rest_lite', None, {'224x224': 'logits'},
                  'test_checkpoint/test_authors_imagenet.py, test_authors_upernet.py'),
    'rest_small': ('v1', 'rest_small', None, {}, 'test_checkpoint/test_authors_upernet.py'),
    'rest_base': ('v1', 'rest_base', None, {}, 'test_checkpoint/test_authors_upernet.py'),
    'rest_large': ('v1', 'rest_large', None, {}, 'test_checkpoint/test_authors_upernet.py'),
    'restv2_tiny': ('v2', 'restv2_tiny', None, {'224x224': 'logits'},
                    'test_checkpoint/test_authors_imagenet.py, test_authors_upernet.py'),
    'restv2_small': ('v2', 'restv2_small', None, {}, 'test_checkpoint/test_authors_upernet.py'),
    'restv2_base': ('v2', 'restv2_base', None, {}, 'test_checkpoint/test_authors_upernet.py'),
    'restv2_large': ('v2', 'restv2_large', None, {}, 'test_checkpoint/test_authors_upernet.py'),
    'rest_test_tiny': ('v1', 'rest_lite', _TEST_TINY, {'224x224': 'stages', '64x96': 'stages'},
                       'test_checkpoint/test_loading.py, test_models/test_backbones.py (TINY)'),
    'restv2_test_tiny': ('v2', 'restv2_tiny', _TEST_TINY,
                         {'224x224': 'stages', '64x96': 'stages'},
                         'test_checkpoint/test_loading.py, test_models/test_backbones.py (TINY)'),
    'restv2_test_other': ('v2', 'restv2_tiny', _TEST_OTHER, {},
                          'test_checkpoint/test_loading.py (OTHER)'),
    'restv2_test_tasks': ('v2', 'restv2_tiny', _TEST_FLAT, {},
                          'test_apis/test_families.py (FLAT)'),
    'restv2_test_styles': ('v2', 'restv2_tiny', _TEST_WINDOWED, {},
                           'test_models/test_attn_styles.py (WINDOWED)'),
}
# Seeded inputs: the ImageNet size, and a small one whose height and width differ.
IMAGENET_INPUTS = {'224x224': ((2, 3, 224, 224), 2), '64x96': ((2, 3, 64, 96), 3)}
# The published ImageNet files hold the classifier's state dict under 'model' (the authors'
# detection and segmentation backbones read their ImageNet weights from checkpoint['model']).
IMAGENET_LAYOUT = {'top_level': ['model']}


def record_imagenet(authors: str, out_dir: str) -> List[str]:
    modules = load_authors_classifiers(authors)
    torch.manual_seed(0)
    inputs = {name: reference_input(shape, seed) for name, (shape, seed) in IMAGENET_INPUTS.items()}
    arrays: Dict[str, np.ndarray] = {}
    models = {}
    for key, (version, factory, arch, outputs, used_by) in IMAGENET_MODELS.items():
        model = build_authors_classifier(modules[version], factory, arch).eval()
        if arch is not None:
            assert authors_arch(model) == arch, (key, authors_arch(model))
        keys = [(k, list(v.shape)) for k, v in model.state_dict().items()]
        model.load_state_dict(reference_state_dict(keys), strict=True)
        # In float64: ResT v1's InstanceNorm over attention maps turns float32 rounding into
        # ~1e-4 by stage 4 (measured), more than the tests' tolerance of 1e-5.
        model.double()
        for name, kept in outputs.items():
            with torch.no_grad():
                logits, stages = authors_forward(model, inputs[name].double())
            if kept == 'logits':
                arrays[f'{key}/{name}/logits'] = logits.float().numpy()
            for i, (tokens, height, width) in enumerate(stages if kept == 'stages' else []):
                arrays[f'{key}/{name}/stage{i}'] = tokens.transpose(1, 2).reshape(
                    tokens.shape[0], -1, height, width).float().numpy()
        models[key] = {
            'version': version,
            'authors_file': AUTHORS_CLASSIFIERS[version][0],
            'factory': factory if arch is None else f'{factory}, with this arch',
            'arch': authors_arch(model),
            'outputs': outputs,
            'used_by': used_by,
            'keys': keys,
        }
        print(f'{key}: {len(keys)} tensors, outputs {outputs or "none"}')
    info = {
        'generated_by': 'tools/dev/make_reference_outputs.py imagenet',
        'weights': 'tests/reference_weights.py (reference_state_dict)',
        'authors_revision': revision(authors),
        'inputs': {k: {'shape': list(shape), 'seed': seed}
                   for k, (shape, seed) in IMAGENET_INPUTS.items()},
        'precision': 'computed in float64, stored in float32',
        'outputs': {'logits': '{model}/{input}/logits: the classifier\'s (B, 1000)',
                    'stages': '{model}/{input}/stage{i}: what the last block of stage i + 1 '
                              'returns, before any norm, as (B, C, H, W)'},
        'layout': IMAGENET_LAYOUT,
        'models': models,
    }
    return write(out_dir, 'imagenet_rest', info, arrays)
