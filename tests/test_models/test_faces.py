"""One network, three faces: the OpenMMLab backbones, the plain-PyTorch classifiers and timm's
models are subclasses of the same network class, and with the same weights they compute the
same features and logits, for all eight published presets. The plain face on its own: the
authors' files as they are, any input size, clear errors. (torch alone: the OpenMMLab parts
skip without mmengine, the timm parts without timm.)"""
import math

import pytest
import torch

import mmrest.models as models
from mmrest.checkpoint import CheckpointMismatchError
from mmrest.models.networks import ResTNet, ResTNetBase, ResTV2Net
from mmrest.utils.packages import MissingPackageError, has_library
from tests.reference import (
    authors_imagenet_checkpoint,
    imagenet_input,
    imagenet_model,
    recorded,
    write_authors_imagenet,
)

needs_mmengine = pytest.mark.skipif(not has_library('mmengine'),
                                    reason='needs mmengine (mmrest[det], [seg] or [cls])')
needs_timm = pytest.mark.skipif(not has_library('timm'), reason='needs timm (mmrest[timm])')

PRESETS = {name: (cls, arch) for name, (cls, arch) in models.networks.MODELS.items()}
ARCH_KEYS = ('embed_dims', 'depths', 'num_heads')
SLOW = ('rest_small', 'rest_base', 'rest_large', 'restv2_small', 'restv2_base', 'restv2_large')
# The small archs of mmrest's tests (tests/common.py), whose authors' files are recorded too.
TINY = dict(embed_dims=(16, 32, 64, 128), depths=(1, 1, 2, 1), num_heads=(1, 2, 4, 8))


def authors_arch(cls, arch):
    return {k: cls.arch_zoo[arch][k] for k in ARCH_KEYS}


def network_of(name):
    return ResTNet if name.startswith('rest_') else ResTV2Net


def test_the_plain_models_are_the_networks():
    for name, (cls, arch) in PRESETS.items():
        assert issubclass(cls, network_of(name)) and arch in network_of(name).arch_zoo
        # No second copy of the construction: every face builds through the network's code.
        assert cls.build_stages is ResTNetBase.build_stages
        assert cls.forward_stages is ResTNetBase.forward_stages
    model = models.restv2_tiny()
    assert model.arch_settings == ResTV2Net.resolve_arch('tiny')


@needs_mmengine
@pytest.mark.parametrize('name', ['rest_lite', 'restv2_tiny'])
def test_all_three_faces_hold_the_same_network_class(name):
    backbone = {'rest_lite': models.ResT, 'restv2_tiny': models.ResTV2}[name]
    faces = [backbone(arch=PRESETS[name][1]), models.create_model(name)]
    if has_library('timm'):
        import timm

        import mmrest.timm  # noqa: F401
        faces.append(timm.create_model(name))
    for face in faces:
        assert isinstance(face, network_of(name))
        assert type(face).build_stages is ResTNetBase.build_stages
    # The OpenMMLab face's keys are the network's own: the classifier adds only its head.
    keys = set(faces[0].state_dict())
    for face in faces[1:]:
        assert set(face.state_dict()) - keys == {'head.weight', 'head.bias'}
        assert keys - set(face.state_dict()) == {'norm0.weight', 'norm0.bias', 'norm1.weight',
                                                 'norm1.bias', 'norm2.weight', 'norm2.bias'}


@pytest.mark.parametrize('name', ['rest_lite', 'restv2_tiny'])
def test_plain_model_gives_the_authors_logits(name):
    cls, arch = PRESETS[name]
    checkpoint = authors_imagenet_checkpoint(cls.version, authors_arch(cls, arch))
    model = models.create_model(name, checkpoint=checkpoint).eval()
    with torch.no_grad():
        logits = model(imagenet_input('224x224'))
    theirs = recorded(f'{imagenet_model(cls.version, authors_arch(cls, arch))}/224x224/logits')
    torch.testing.assert_close(logits, theirs, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('cls', [models.ResTClassifier, models.ResTV2Classifier])
def test_plain_model_loads_a_file_and_reports_every_tensor(tmp_path, cls):
    path = write_authors_imagenet(tmp_path / 'authors.pth', cls.version, TINY)
    model = cls(arch=TINY)
    report = models.load_checkpoint(model, path)
    assert report.clean and report.source == str(path) and not report.skipped
    assert ('norm.weight', 'norm3.weight') in report.renamed
    assert len(report.loaded) == len(authors_imagenet_checkpoint(cls.version, TINY)['model'])
    # What the model saves loads back as it is (mmrest's own layout).
    again = cls(arch=TINY)
    models.load_checkpoint(again, {'state_dict': model.state_dict()})
    for key, value in model.state_dict().items():
        assert torch.equal(value, again.state_dict()[key]), key


@pytest.mark.parametrize('size', [(64, 96), (65, 97), (33, 31)])
def test_per_stage_layernorm_outputs_at_any_size(size):
    model = models.ResTV2Classifier(arch=TINY, out_indices=(0, 1, 2, 3)).eval()
    x = torch.randn(1, 3, *size)
    with torch.no_grad():
        outs = model.forward_intermediates(x, intermediates_only=True)
        final, intermediates = model.forward_intermediates(x)
        features = model.forward_features(x)
    assert [tuple(o.shape) for o in outs] == [
        (1, 16 * 2**i, math.ceil(size[0] / 2**(i + 2)), math.ceil(size[1] / 2**(i + 2)))
        for i in range(4)]
    torch.testing.assert_close(final, features, rtol=0, atol=0)
    for a, b in zip(outs, intermediates):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    # Each is its stage's LayerNorm output: zero mean over channels at every position.
    assert outs[0].mean(dim=1).abs().max() < 1e-5


def test_classifier_without_stage_norms_says_how_to_get_them():
    with pytest.raises(ValueError, match=r'no output norm for stages \[0, 1\].*out_indices'):
        models.ResTV2Classifier(arch=TINY).forward_intermediates(torch.randn(1, 3, 64, 64),
                                                                 indices=(0, 1, 3))
    with pytest.raises(ValueError, match='must include the last stage'):
        models.ResTV2Classifier(arch=TINY, out_indices=(0, 1))


def test_plain_model_errors():
    with pytest.raises(KeyError, match="unknown model 'restv2_tinyy'; mmrest has rest_lite"):
        models.create_model('restv2_tinyy')
    small = authors_imagenet_checkpoint('v2', authors_arch(ResTV2Net, 'small'))
    with pytest.raises(CheckpointMismatchError,
                       match=r"depths=\[1, 2, 12, 2\] \(arch 'small'\); the model has .*"
                             r"\(arch 'tiny'\)"):
        models.restv2_tiny(checkpoint=small)
    v2 = authors_imagenet_checkpoint('v2', TINY)
    with pytest.raises(CheckpointMismatchError, match=r'ResTv2 checkpoint but the model is '):
        models.load_checkpoint(models.ResTClassifier(arch=TINY), v2)
    # The authors' detectors and segmentors are no classifiers: the converter is named.
    backbone = v2['model']
    for prefix, other in (('backbone.bottom_up.', 'roi_heads.box_predictor.cls_score.weight'),
                          ('backbone.', 'decode_head.conv_seg.weight')):
        state = {prefix + k: v for k, v in backbone.items() if not k.startswith('head.')}
        state[other] = torch.zeros(2)
        with pytest.raises(CheckpointMismatchError,
                           match='is not an ImageNet classifier.*tools/convert_official.py'):
            models.load_checkpoint(models.ResTV2Classifier(arch=TINY), {'model': state})


def test_head_and_input_channels_follow_the_model():
    checkpoint = authors_imagenet_checkpoint('v2', TINY)
    model = models.ResTV2Classifier(arch=TINY, num_classes=10, in_chans=1)
    report = models.load_checkpoint(model, checkpoint)
    assert report.skipped == {'a head of 1000 classes (the model has 10)':
                              ['head.weight', 'head.bias']}
    conv = checkpoint['model']['stem.proj.0.weight']
    torch.testing.assert_close(model.stem.proj[0].weight, conv.sum(dim=1, keepdim=True))
    assert model.head.out_features == 10 and model(torch.randn(2, 1, 64, 64)).shape == (2, 10)
    model.reset_classifier(0)
    assert model(torch.randn(2, 1, 64, 64)).shape == (2, 128)
    assert model.forward_head(model.forward_features(torch.randn(2, 1, 64, 64)),
                              pre_logits=True).shape == (2, 128)


@pytest.mark.parametrize('name', [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n
                                  for n in PRESETS])
def test_faces_agree_with_the_same_weights(name, tmp_path):
    """Features and logits of the OpenMMLab backbone, the plain model and timm's (logits and
    features_only), from the authors' file of each preset (the larger ones are slow)."""
    cls, arch = PRESETS[name]
    checkpoint = authors_imagenet_checkpoint(cls.version, authors_arch(cls, arch))
    x = torch.randn(1, 3, 72, 88)
    plain = models.create_model(name, checkpoint=checkpoint, out_indices=(0, 1, 2, 3)).eval()
    with torch.no_grad():
        logits = plain(x)
        features = plain.forward_intermediates(x, intermediates_only=True)
    head = checkpoint['model']['head.weight'], checkpoint['model']['head.bias']
    if has_library('mmengine'):
        backbone = {'v1': models.ResT, 'v2': models.ResTV2}[cls.version](arch=arch)
        backbone.load_pretrained(checkpoint)
        with torch.no_grad():
            theirs = backbone.eval()(x)
        for a, b in zip(theirs, features):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
        pooled = theirs[3].mean(dim=(2, 3))
        torch.testing.assert_close(logits, pooled @ head[0].T + head[1], rtol=1e-5, atol=1e-5)
    if has_library('timm'):
        import timm

        import mmrest.timm  # noqa: F401
        path = tmp_path / 'authors.pth'
        torch.save(checkpoint, path)
        overlay = dict(file=str(path))
        timm_model = timm.create_model(name, pretrained=True, pretrained_cfg_overlay=overlay)
        timm_features = timm.create_model(name, pretrained=True, features_only=True,
                                          pretrained_cfg_overlay=overlay)
        with torch.no_grad():
            torch.testing.assert_close(timm_model.eval()(x), logits, rtol=0, atol=0)
            for a, b in zip(timm_features.eval()(x), features):
                torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_openmmlab_classes_name_the_extra_without_mmengine(monkeypatch):
    from mmrest.utils import packages
    monkeypatch.setattr(packages, '_library_problem',
                        lambda package: ', which is not installed')
    with pytest.raises(MissingPackageError) as error:
        models.ResTV2(arch='tiny')
    message = str(error.value)
    assert message.startswith('ResTV2 (the OpenMMLab backbone; plain PyTorch: '
                              'mmrest.models.create_model) needs mmengine, which is not '
                              'installed: pip install "mmrest[det]" or "mmrest[seg]" or '
                              '"mmrest[cls]"'), message
    assert '\n' not in message
