"""ImageNet classification through mmpretrain with converted authors' checkpoints."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint

from mmrest.apis.convert import convert_checkpoint
from tests.common import CONFIGS as REPO_CONFIGS
from tests.common import requires
from tests.reference import (
    imagenet_input,
    imagenet_model,
    recorded,
    write_authors_imagenet,
)
from tools.convert_official import main as convert_main

pytestmark = requires('mmpretrain')

CONFIGS = str(REPO_CONFIGS / 'imagenet')
VARIANTS = {'rest_lite': ('v1', 'lite'), 'rest_s': ('v1', 'small'), 'rest_b': ('v1', 'base'),
            'rest_l': ('v1', 'large'), 'restv2_t': ('v2', 'tiny'), 'restv2_s': ('v2', 'small'),
            'restv2_b': ('v2', 'base'), 'restv2_l': ('v2', 'large')}


def build_classifier(name):
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(osp.join(CONFIGS, f'{name}_in1k.py'))
    init_default_scope('mmpretrain')
    return MODELS.build(cfg.model), cfg


@pytest.mark.parametrize('name', ['rest_lite', 'restv2_t'])
def test_converted_classifier_reproduces_authors_logits(tmp_path, name):
    """The authors' file of the config's arch, converted, gives the logits their classifier
    computed (tests/fixtures/imagenet_rest.*: their code, the same weights, in float64)."""
    version, _ = VARIANTS[name]
    model, _ = build_classifier(name)
    settings = model.backbone.arch_settings
    authors_arch = {k: settings[k] for k in ('embed_dims', 'depths', 'num_heads')}
    src, dst = tmp_path / 'official.pth', tmp_path / 'converted.pth'
    write_authors_imagenet(src, version, authors_arch)
    assert convert_main([str(src), str(dst)]) == 0
    load_checkpoint(model, str(dst), map_location='cpu', strict=True)
    model.eval()
    images = imagenet_input('224x224')
    with torch.no_grad():
        ours = model(images, mode='tensor')
    theirs = recorded(f'{imagenet_model(version, authors_arch)}/224x224/logits')
    assert ours.shape == (2, 1000)
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('name', list(VARIANTS))
def test_every_imagenet_config_builds_with_the_right_arch(name):
    _, arch = VARIANTS[name]
    model, cfg = build_classifier(name)
    assert model.backbone.arch_settings == type(model.backbone).resolve_arch(arch)
    assert model.head.fc.in_features == model.backbone.embed_dims[-1]
    assert cfg.model.backbone.out_indices == (3, )


def test_convert_rejects_what_is_not_an_authors_checkpoint(tmp_path):
    from mmrest.checkpoint import CheckpointMismatchError
    path = tmp_path / 'other.pth'
    torch.save({'model': {'conv.weight': torch.zeros(1)}}, path)
    with pytest.raises(CheckpointMismatchError, match='does not look like a ResT'):
        convert_checkpoint(str(path), str(tmp_path / 'out.pth'))
