"""ImageNet classification through mmpretrain with converted authors' checkpoints."""
import os.path as osp

import pytest
import torch

pytest.importorskip('mmpretrain')
from mmengine.config import Config  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmengine.runner import load_checkpoint  # noqa: E402

from tests.reference.official import OfficialResT, OfficialResTV2, randomize_  # noqa: E402
from tools.convert_official import convert, main as convert_main  # noqa: E402

CONFIGS = osp.join(osp.dirname(osp.dirname(__file__)), 'configs', 'imagenet')
VARIANTS = {'rest_lite': (OfficialResT, 'lite'), 'rest_s': (OfficialResT, 'small'),
            'rest_b': (OfficialResT, 'base'), 'rest_l': (OfficialResT, 'large'),
            'restv2_t': (OfficialResTV2, 'tiny'), 'restv2_s': (OfficialResTV2, 'small'),
            'restv2_b': (OfficialResTV2, 'base'), 'restv2_l': (OfficialResTV2, 'large')}


def build_classifier(name):
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(osp.join(CONFIGS, f'{name}_in1k.py'))
    init_default_scope('mmpretrain')
    return MODELS.build(cfg.model), cfg


@pytest.mark.parametrize('name', ['rest_lite', 'restv2_t'])
def test_converted_classifier_reproduces_authors_logits(tmp_path, name):
    official_cls, arch = VARIANTS[name]
    model, _ = build_classifier(name)
    settings = model.backbone.arch_settings
    official = randomize_(official_cls(settings['embed_dims'], settings['depths'],
                                       settings['num_heads']))
    src, dst = tmp_path / 'official.pth', tmp_path / 'converted.pth'
    torch.save({'model': official.state_dict()}, src)
    assert convert_main([str(src), str(dst)]) == 0
    load_checkpoint(model, str(dst), map_location='cpu', strict=True)
    model.eval()
    images = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        ours = model(images, mode='tensor')
        theirs = official(images)
    assert ours.shape == (2, 1000)
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('name', list(VARIANTS))
def test_every_imagenet_config_builds_with_the_right_arch(name):
    official_cls, arch = VARIANTS[name]
    model, cfg = build_classifier(name)
    assert model.backbone.arch_settings == type(model.backbone).resolve_arch(arch)
    assert model.head.fc.in_features == model.backbone.embed_dims[-1]
    assert cfg.model.backbone.out_indices == (3, )


def test_convert_rejects_what_is_not_an_authors_checkpoint(tmp_path):
    from mmrest.models.checkpoint import CheckpointMismatchError
    path = tmp_path / 'other.pth'
    torch.save({'model': {'conv.weight': torch.zeros(1)}}, path)
    with pytest.raises(CheckpointMismatchError, match='does not look like a ResT'):
        convert(str(path), str(tmp_path / 'out.pth'))
