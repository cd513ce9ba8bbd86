"""The timm face (``import mmrest.timm``): what timm's own model tests check (forward,
backward, the default config, features_only channels and reductions, the head API), the
authors' files through ``pretrained_cfg_overlay``, compile and script, and clear errors. Needs
timm (mmrest[timm]) and torch alone."""
import pickle

import pytest
import torch

from mmrest.checkpoint import CheckpointMismatchError
from mmrest.models.networks import ResTV2Net
from mmrest.utils.compat import HAS_FULLGRAPH_COMPILE
from mmrest.utils.packages import LIBRARIES, MissingPackageError
from tests.reference import (
    authors_imagenet_checkpoint,
    imagenet_input,
    imagenet_model,
    recorded,
    write_authors_imagenet,
)

timm = pytest.importorskip('timm')
import mmrest.timm  # noqa: E402

NAMES = ['rest_lite', 'rest_small', 'rest_base', 'rest_large', 'restv2_tiny', 'restv2_small',
         'restv2_base', 'restv2_large']
# A small arch (tests/common.py's TINY) for what does not need a preset's size.
TINY = dict(embed_dims=(16, 32, 64, 128), depths=(1, 1, 2, 1), num_heads=(1, 2, 4, 8))
PRESET = {k: ResTV2Net.arch_zoo['tiny'][k] for k in TINY}


@pytest.fixture(scope='module')
def tiny_file(tmp_path_factory):
    """The authors' restv2_tiny_224.pth, as published (tests/fixtures)."""
    return str(write_authors_imagenet(tmp_path_factory.mktemp('authors') / 'restv2_tiny_224.pth',
                                      'v2', PRESET))


def test_import_registers_every_model_with_the_authors_files():
    assert sorted(timm.list_models('rest*')) == sorted(NAMES)
    # (timm lists only hosted weights as pretrained: the tags are there, the files are not)
    assert timm.list_pretrained('rest*') == []
    for name in NAMES:
        cfg = timm.models.get_pretrained_cfg(f'{name}.in1k')
        assert cfg.input_size == (3, 224, 224) and cfg.pool_size == (7, 7)
        assert cfg.crop_pct == 0.875 and cfg.interpolation == 'bicubic'
        assert cfg.mean == (0.485, 0.456, 0.406) and cfg.std == (0.229, 0.224, 0.225)
        assert cfg.first_conv == 'stem.proj.0' and cfg.classifier == 'head'
        assert cfg.num_classes == 1000 and not cfg.url and not cfg.file and not cfg.hf_hub_id
        assert mmrest.timm.AUTHORS_FILES[f'{name}.in1k'] in cfg.notes[0]
    cfg = timm.models.get_pretrained_cfg('restv2_base.in1k_384')
    assert cfg.input_size == (3, 384, 384) and cfg.pool_size == (12, 12)
    assert 'restv2_base_384.pth' in cfg.notes[0]


def test_default_cfg_matches_the_model():
    model = timm.create_model('restv2_tiny').eval()
    cfg = model.pretrained_cfg
    x = torch.randn(1, *cfg['input_size'])
    with torch.no_grad():
        features = model.forward_features(x)
    assert features.shape == (1, model.num_features, *cfg['pool_size'])
    assert model.get_submodule(cfg['first_conv']).in_channels == 3
    assert model.get_classifier() is model.get_submodule(cfg['classifier'])
    assert timm.data.resolve_data_config({}, model=model) == dict(
        input_size=(3, 224, 224), interpolation='bicubic', mean=(0.485, 0.456, 0.406),
        std=(0.229, 0.224, 0.225), crop_pct=0.875, crop_mode='center')
    config = timm.data.resolve_data_config({}, model=timm.create_model('restv2_tiny.in1k_384'))
    assert config['input_size'] == (3, 384, 384) and config['crop_pct'] == 1.0


def test_forward_and_backward():
    model = timm.create_model('restv2_tiny', arch=TINY, num_classes=7, drop_path_rate=0.1)
    out = model(torch.randn(2, 3, 64, 80))
    assert out.shape == (2, 7) and torch.isfinite(out).all()
    out.mean().backward()
    assert all(p.grad is not None for p in model.parameters())
    # drop_path_rate reaches the blocks, rising to it over all blocks.
    rates = [m.drop_prob for m in model.modules() if type(m).__name__ == 'DropPath']
    assert rates[0] == 0.0 and rates[-1] == pytest.approx(0.1) and len(rates) == 5


def test_head_api():
    model = timm.create_model('rest_lite', arch=TINY).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        features = model.forward_features(x)
        assert features.shape == (2, 128, 2, 2)
        pooled = model.forward_head(features, pre_logits=True)
        torch.testing.assert_close(pooled, features.mean(dim=(2, 3)))
        torch.testing.assert_close(model(x), model.head(pooled))
        model.reset_classifier(5)
        assert model(x).shape == (2, 5)
        model.reset_classifier(0, '')  # mmpretrain's TIMMBackbone does this
        assert torch.equal(model(x), features)


@pytest.mark.parametrize('out_indices', [(0, 1, 2, 3), (1, 3), (2, )])
def test_features_only_gives_the_stage_norm_outputs(out_indices, tiny_file):
    model = timm.create_model('restv2_tiny', features_only=True, out_indices=out_indices,
                              pretrained=True, pretrained_cfg_overlay=dict(file=tiny_file))
    assert model.feature_info.channels() == [(96, 192, 384, 768)[i] for i in out_indices]
    assert model.feature_info.reduction() == [(4, 8, 16, 32)[i] for i in out_indices]
    with torch.no_grad():
        outs = model.eval()(torch.randn(1, 3, 65, 97))
    assert [tuple(o.shape[1:]) for o in outs] == [
        ((96, 17, 25), (192, 9, 13), (384, 5, 7), (768, 3, 4))[i] for i in out_indices]
    # Only what those outputs need is left: no head, no later stage, no other output norm.
    names = {name.split('.')[1] for name, _ in model.named_parameters()}
    assert 'head' not in names and f'stage{max(out_indices) + 2}' not in names
    assert {n for n in names if n.startswith('norm')} == {f'norm{i}' for i in out_indices}


def test_authors_file_gives_their_logits(tiny_file):
    model = timm.create_model('restv2_tiny', pretrained=True,
                              pretrained_cfg_overlay=dict(file=tiny_file)).eval()
    with torch.no_grad():
        logits = model(imagenet_input('224x224'))
    theirs = recorded(f'{imagenet_model("v2", PRESET)}/224x224/logits')
    torch.testing.assert_close(logits, theirs, rtol=1e-4, atol=1e-4)


def test_in_chans_and_num_classes_with_the_authors_file(tmp_path):
    path = write_authors_imagenet(tmp_path / 'file.pth', 'v1', TINY)
    model = timm.create_model('rest_lite', arch=TINY, pretrained=True, in_chans=1,
                              num_classes=3, pretrained_cfg_overlay=dict(file=str(path)))
    conv = authors_imagenet_checkpoint('v1', TINY)['model']['stem.conv1.weight']
    torch.testing.assert_close(model.stem.proj[0].weight, conv.sum(dim=1, keepdim=True))
    assert model(torch.randn(1, 1, 64, 64)).shape == (1, 3)


def test_grad_checkpointing_gives_the_same_outputs_and_gradients():
    model = timm.create_model('restv2_tiny', arch=TINY)
    x = torch.randn(2, 3, 64, 64)
    results = []
    for enable in (False, True):
        model.zero_grad()
        model.set_grad_checkpointing(enable)
        out = model(x)
        out.square().mean().backward()
        results.append((out.detach(), [p.grad.clone() for p in model.parameters()]))
    torch.testing.assert_close(results[0][0], results[1][0])
    for a, b in zip(results[0][1], results[1][1]):
        torch.testing.assert_close(a, b)


@pytest.mark.skipif(not HAS_FULLGRAPH_COMPILE,
                    reason='torch.compile(fullgraph=True) of ResT needs torch >= 2.5')
def test_compile_fullgraph_matches_eager():
    model = timm.create_model('restv2_tiny', arch=TINY).eval()
    x = torch.randn(1, 3, 64, 96)
    compiled = torch.compile(model, fullgraph=True, backend='aot_eager')
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x), rtol=1e-5, atol=1e-5)


def test_torchscript_raises_one_clear_error():
    with pytest.raises(RuntimeError, match='cannot be compiled by torch.jit.script.*'
                                           'torch.compile'):
        torch.jit.script(timm.create_model('restv2_tiny', arch=TINY))


def test_pretrained_without_a_file_names_the_overlay():
    for name in ('restv2_tiny', 'restv2_tiny.in1k_384'):
        with pytest.raises(RuntimeError) as error:
            timm.create_model(name, pretrained=True)
        message = str(error.value)
        assert 'pretrained_cfg_overlay=dict(file=' in message and '\n' not in message
    assert 'restv2_tiny_384.pth' in message


def test_a_file_of_another_size_is_named(tmp_path):
    path = write_authors_imagenet(tmp_path / 'restv2_small_224.pth', 'v2',
                                  {k: ResTV2Net.arch_zoo['small'][k] for k in TINY})
    with pytest.raises(CheckpointMismatchError,
                       match=r"\(arch 'small'\); the model has .*\(arch 'tiny'\)"):
        timm.create_model('restv2_tiny', pretrained=True,
                          pretrained_cfg_overlay=dict(file=str(path)))


def test_detectors_and_segmentors_name_the_converter(tmp_path):
    backbone = {k: v for k, v in authors_imagenet_checkpoint('v2', TINY)['model'].items()
                if not k.startswith('head.')}
    files = {
        'detectron2.pth': {'model': {**{'backbone.bottom_up.' + k: v
                                        for k, v in backbone.items()},
                                     'roi_heads.box_predictor.cls_score.weight': torch.zeros(2)},
                           'iteration': 1},
        'upernet.pth': {'state_dict': {**{'backbone.' + k: v for k, v in backbone.items()},
                                       'decode_head.conv_seg.weight': torch.zeros(2)},
                        'meta': {}},
    }
    for name, checkpoint in files.items():
        torch.save(checkpoint, tmp_path / name)
    with open(tmp_path / 'detectron2.pkl', 'wb') as f:
        pickle.dump({'model': {'backbone.bottom_up.stem.norm.weight': [0.0]}}, f)
    for name in (*files, 'detectron2.pkl'):
        with pytest.raises(CheckpointMismatchError, match='tools/convert_official.py'):
            timm.create_model('restv2_tiny', arch=TINY, pretrained=True,
                              pretrained_cfg_overlay=dict(file=str(tmp_path / name)))


def test_unknown_names_and_missing_files():
    with pytest.raises(RuntimeError, match=r'Unknown model \(restv2_tinyy\)'):
        timm.create_model('restv2_tinyy')
    with pytest.raises(RuntimeError, match=r'Invalid pretrained tag \(in21k\)'):
        timm.create_model('restv2_tiny.in21k')
    with pytest.raises(FileNotFoundError, match="not found: 'nowhere/restv2_tiny_224.pth'"):
        timm.create_model('restv2_tiny', pretrained=True,
                          pretrained_cfg_overlay=dict(file='nowhere/restv2_tiny_224.pth'))


def test_an_older_timm_is_refused_in_one_line(monkeypatch):
    from mmrest.utils import packages
    packages._library_problem.cache_clear()
    monkeypatch.setattr(packages, 'version', lambda name: '0.9.16')
    try:
        with pytest.raises(MissingPackageError) as error:
            packages.require('timm', 'mmrest.timm')
    finally:
        packages._library_problem.cache_clear()
    assert str(error.value) == (
        f'mmrest.timm needs timm >= {LIBRARIES["timm"].minimum}, and this is timm 0.9.16: '
        f'pip install "mmrest[timm]" (or pip install "timm>={LIBRARIES["timm"].minimum}")')
