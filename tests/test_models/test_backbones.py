"""ResT / ResTv2 backbones: presets, shapes at any input size, equivalence with the authors'
computation, the OpenMMLab backbone contract (frozen_stages, norm_eval, with_cp)."""
import math

import pytest
import torch
import torch.nn as nn

from mmrest import ResT, ResTV2
from tests.common import TINY, count_parameters
from tests.reference import (
    authors_imagenet_state,
    imagenet_input,
    imagenet_model,
    recorded,
)

# ImageNet parameters of the authors' code (classifier included), ARCHITECTURE.md.
AUTHORS_PARAMS = {
    (ResT, 'lite'): 10.51e6, (ResT, 'small'): 13.68e6, (ResT, 'base'): 30.33e6,
    (ResT, 'large'): 51.68e6, (ResTV2, 'tiny'): 30.43e6, (ResTV2, 'small'): 41.21e6,
    (ResTV2, 'base'): 55.97e6, (ResTV2, 'large'): 86.53e6,
}


@pytest.mark.parametrize('cls,arch', list(AUTHORS_PARAMS))
def test_imagenet_parameter_counts(cls, arch):
    model = cls(arch=arch, out_indices=(3, ))  # norm3 plays the classifier's final norm
    head = model.embed_dims[-1] * 1000 + 1000
    assert abs(count_parameters(model) + head - AUTHORS_PARAMS[(cls, arch)]) <= 0.01e6


@pytest.mark.parametrize('cls,arch', list(AUTHORS_PARAMS))
def test_every_variant_output_shapes(cls, arch):
    model = cls(arch=arch).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 97, 130))
    dims = cls.arch_zoo[arch]['embed_dims']
    assert [tuple(o.shape) for o in outs] == [
        (1, dims[i], math.ceil(97 / 2**(i + 2)), math.ceil(130 / 2**(i + 2))) for i in range(4)
    ]


@pytest.mark.parametrize('cls,arch', [(ResT, 'lite'), (ResTV2, 'tiny')])
@pytest.mark.parametrize('size', [(800, 1199), (513, 769), (224, 225), (97, 130), (33, 31)])
def test_any_input_size(cls, arch, size):
    model = cls(arch=arch).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, *size))
    for i, out in enumerate(outs):
        assert out.shape[2:] == (math.ceil(size[0] / 2**(i + 2)), math.ceil(size[1] / 2**(i + 2)))
        assert torch.isfinite(out).all()


@pytest.mark.parametrize('cls', [ResT, ResTV2])
@pytest.mark.parametrize('size', [(224, 224), (64, 96)])
@pytest.mark.parametrize('fused_attn,tol', [(False, 1e-5), (True, 5e-4)])
def test_multiple_of_32_equals_plain_computation(cls, size, fused_attn, tol):
    """For sizes the authors' code accepts, mmrest computes what it computes (exactly with
    the explicit attention; to rounding with the fused kernel).

    Theirs: what each stage of the authors' classifier returned for the same weights and
    input (tests/fixtures/imagenet_rest.*). Both in float64: in float32, ResT v1's
    InstanceNorm over attention maps turns rounding into ~1e-4 by stage 4 in either code,
    more than 1e-5 (mmrest's float32 against float64: tests/test_devices.py).
    """
    model = cls(arch=TINY, fused_attn=fused_attn).eval()
    report = model.load_pretrained({'model': authors_imagenet_state(cls.version, TINY)})
    assert report.missing == [] and report.unexpected == []
    model.double()
    name = f'{imagenet_model(cls.version, TINY)}/{size[0]}x{size[1]}'
    x = imagenet_input(f'{size[0]}x{size[1]}').double()
    assert x.shape == (2, 3, *size)
    with torch.no_grad():
        ours = model(x)
        theirs = [recorded(f'{name}/stage{i}').double() for i in range(4)]
        assert len(ours) == len(theirs)
        for i, (out, stage) in enumerate(zip(ours, theirs)):
            tokens, (h, w) = stage.flatten(2).transpose(1, 2), stage.shape[2:]
            expected = model.stage(i).norm(tokens).transpose(1, 2).reshape(2, -1, h, w)
            torch.testing.assert_close(out, expected, rtol=tol, atol=tol)


def test_unknown_arch_lists_valid_ones():
    with pytest.raises(KeyError, match='tiny, small, base, large'):
        ResTV2(arch='huge')
    with pytest.raises(KeyError, match='lite, small, base, large'):
        ResT(arch='tiny')
    with pytest.raises(KeyError, match='embed_dims'):
        ResTV2(arch=dict(depths=(1, 1, 1, 1)))
    with pytest.raises(ValueError, match='4 entries'):
        ResTV2(arch=dict(embed_dims=(8, 16, 32), depths=(1, 1, 1), num_heads=(1, 1, 1)))
    with pytest.raises(ValueError, match='divisible'):
        ResTV2(arch=dict(embed_dims=(9, 16, 32, 64), depths=(1,) * 4, num_heads=(2, 2, 4, 8)))


def test_bad_arguments():
    with pytest.raises(ValueError, match='out_indices'):
        ResTV2(arch=TINY, out_indices=(4, ))
    with pytest.raises(ValueError, match='frozen_stages'):
        ResTV2(arch=TINY, frozen_stages=5)
    with pytest.raises(ValueError, match=r'\(B, C, H, W\)'):
        ResTV2(arch=TINY)(torch.randn(3, 32, 32))


def test_custom_arch_and_out_indices():
    model = ResTV2(arch=dict(TINY, sr_ratios=(4, 2, 1, 1)), out_indices=(1, 3)).eval()
    outs = model(torch.randn(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == [32, 128]
    assert not hasattr(model, 'norm0') and hasattr(model, 'norm3')
    assert model.stage1[0].attn.sr.stride == (4, 4)


@pytest.mark.parametrize('cls', [ResT, ResTV2])
@pytest.mark.parametrize('frozen_stages', [0, 2, 4])
def test_frozen_stages(cls, frozen_stages):
    model = cls(arch=TINY, frozen_stages=frozen_stages)
    model.init_weights()
    model.train()
    frozen = {'stem'} | {f'patch_{i + 1}' for i in range(1, frozen_stages)} | \
        {f'stage{i + 1}' for i in range(frozen_stages)} | {f'norm{i}' for i in range(frozen_stages)}
    for name, param in model.named_parameters():
        assert param.requires_grad == (name.split('.')[0] not in frozen), name
    for name, module in model.named_modules():
        if name and name.split('.')[0] in frozen:
            assert not module.training, name
    # BatchNorm statistics of frozen parts do not move in a training step.
    bns = {n: m.running_mean.clone() for n, m in model.named_modules()
           if isinstance(m, nn.BatchNorm2d)}
    model(torch.randn(2, 3, 64, 64))  # statistics move in the forward pass of train mode
    for name, module in model.named_modules():
        if name in bns:
            moved = not torch.equal(bns[name], module.running_mean)
            assert moved == (name.split('.')[0] not in frozen), name


@pytest.mark.parametrize('cls', [ResT, ResTV2])
def test_norm_eval_keeps_batchnorm_in_eval_mode(cls):
    model = cls(arch=TINY, norm_eval=True).train()
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and all(not m.training for m in bns)
    assert model.stage1.training
    model = cls(arch=TINY, norm_eval=False).train()
    assert all(m.training for m in model.modules() if isinstance(m, nn.BatchNorm2d))


@pytest.mark.parametrize('cls', [ResT, ResTV2])
def test_with_cp_gives_same_outputs_and_gradients(cls):
    plain = cls(arch=TINY, drop_path_rate=0.0)
    plain.init_weights()
    ckpt = cls(arch=TINY, with_cp=True)
    ckpt.load_state_dict(plain.state_dict())
    # eval: BN statistics must not move between the two runs; gradients still flow.
    plain.eval()
    ckpt.eval()
    x = torch.randn(2, 3, 64, 96)
    out_plain = plain(x)
    out_ckpt = ckpt(x)
    for a, b in zip(out_plain, out_ckpt):
        torch.testing.assert_close(a, b)
    sum((o**2).mean() for o in out_plain).backward()
    sum((o**2).mean() for o in out_ckpt).backward()
    for (name, p1), (_, p2) in zip(plain.named_parameters(), ckpt.named_parameters()):
        assert p1.grad is not None, name
        torch.testing.assert_close(p1.grad, p2.grad, rtol=1e-5, atol=1e-6, msg=name)


def test_drop_path_rises_linearly():
    model = ResTV2(arch='tiny', drop_path_rate=0.3)
    rates = [blk.drop_path.drop_prob for i in range(4) for blk in model.stage(i).blocks]
    assert rates[0] == 0 and rates[-1] == pytest.approx(0.3)
    assert rates == sorted(rates) and len(rates) == 11


def test_default_init_is_the_authors():
    model = ResTV2(arch=TINY)
    model.init_weights()
    assert model.is_init
    assert torch.all(model.stage1[0].attn.q.bias == 0)
    assert model.stage3[0].mlp.fc1.weight.std().item() == pytest.approx(0.02, rel=0.2)


