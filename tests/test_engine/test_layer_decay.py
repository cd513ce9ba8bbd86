"""ResTLayerDecayOptimWrapperConstructor: lr scales per stem / stage / block / neck, weight
decay of 1-D parameters, registration in every scope, errors, and a working optimizer."""
import importlib
from typing import Dict, Optional

import pytest
import torch
import torch.nn as nn
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope

import mmrest
from mmrest import ResT, ResTV2
from mmrest.engine import ResTLayerDecayOptimWrapperConstructor
from mmrest.registry import OPTIM_WRAPPER_CONSTRUCTORS
from tests.common import DEEP

LR, WD, RATE = 1e-3, 0.05, 0.9


class Detector(nn.Module):
    """A backbone under ``backbone.`` and something outside it, like an mmdet/mmseg model."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.neck = nn.Conv2d(128, 8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.neck(self.backbone(x)[-1])


def make_constructor(**paramwise) -> ResTLayerDecayOptimWrapperConstructor:
    optim_wrapper_cfg = dict(
        type='OptimWrapper', optimizer=dict(type='AdamW', lr=LR, weight_decay=WD))
    return ResTLayerDecayOptimWrapperConstructor(optim_wrapper_cfg, paramwise)


def group_of(optimizer: torch.optim.Optimizer, model: nn.Module) -> Dict[str, dict]:
    """Parameter name -> its param group."""
    by_id = {id(p): g for g in optimizer.param_groups for p in g['params']}
    return {n: by_id[id(p)] for n, p in model.named_parameters() if id(p) in by_id}


@pytest.fixture(scope='module')
def detector() -> Detector:
    return Detector(ResTV2(arch=DEEP))


def test_stage_wise_scales(detector):
    optimizer = make_constructor(decay_rate=RATE, decay_type='stage_wise',
                                 num_layers=6)(detector).optimizer
    groups = group_of(optimizer, detector)
    expected = {
        'backbone.stem.proj.0.weight': 6,  # stem: id 0
        'backbone.stem.norm.weight': 6,
        'backbone.stage1.0.attn.q.weight': 5,
        'backbone.norm0.weight': 5,  # norm0 follows stage 1
        'backbone.patch_2.proj.weight': 4,  # patch_i goes with stage i
        'backbone.stage2.1.mlp.fc1.weight': 4,
        'backbone.patch_3.pos.pa_conv.weight': 3,
        'backbone.stage3.1.attn.up.0.weight': 3,
        'backbone.stage4.0.attn.kv.weight': 2,
        'backbone.norm3.bias': 2,
        'neck.weight': 0,  # outside the backbone: full lr
        'neck.bias': 0,
    }
    for name, power in expected.items():
        assert groups[name]['lr'] == pytest.approx(LR * RATE**power), name
        assert groups[name]['lr_scale'] == pytest.approx(RATE**power), name
    # Every trainable parameter is in exactly one group.
    assert set(groups) == {n for n, _ in detector.named_parameters()}
    assert sum(len(g['params']) for g in optimizer.param_groups) == len(groups)


def test_weight_decay_only_on_weights(detector):
    optimizer = make_constructor(decay_rate=RATE, num_layers=6)(detector).optimizer
    groups = group_of(optimizer, detector)
    for name, param in detector.named_parameters():
        no_decay = param.ndim <= 1 or name.endswith('.bias')
        assert groups[name]['weight_decay'] == (0.0 if no_decay else WD), name
    assert groups['backbone.stage3.0.attn.q.weight']['weight_decay'] == WD
    assert groups['backbone.stem.pos.pa_conv.bias']['weight_decay'] == 0.0
    assert groups['backbone.stage3.0.norm1.weight']['weight_decay'] == 0.0
    assert groups['backbone.stem.proj.1.weight']['weight_decay'] == 0.0  # stem BatchNorm


def test_layer_wise_ids_follow_blocks(detector):
    # depths (1, 2, 2, 1): stem 0 | stage1.0 1 | stage2.0 2, stage2.1 3 | stage3.0 4,
    # stage3.1 5 | stage4.0 6 | top 7 (default num_layers = deepest id + 1).
    optimizer = make_constructor(decay_rate=RATE, decay_type='layer_wise')(detector).optimizer
    groups = group_of(optimizer, detector)
    ids = {
        'backbone.stem.proj.6.weight': 0,
        'backbone.stage1.0.attn.q.weight': 1,
        'backbone.norm0.weight': 1,
        'backbone.patch_2.proj.weight': 2,  # with the first block of its stage
        'backbone.stage2.0.attn.q.weight': 2,
        'backbone.stage2.1.attn.q.weight': 3,
        'backbone.norm1.weight': 3,  # with the last block of its stage
        'backbone.patch_3.norm.weight': 4,
        'backbone.stage3.1.mlp.fc2.weight': 5,
        'backbone.patch_4.proj.bias': 6,
        'backbone.stage4.0.attn.proj.weight': 6,
        'backbone.norm3.weight': 6,
        'neck.weight': 7,
    }
    for name, layer_id in ids.items():
        assert groups[name]['lr'] == pytest.approx(LR * RATE**(7 - layer_id)), name


def test_bare_backbone_and_resT_v1_names():
    # Without the ``backbone.`` prefix, and with v1's module names (BN patch embeddings,
    # transform_conv); the last output norm of out_indices=(1, 2) is norm2 (stage 3).
    backbone = ResT(arch=DEEP, out_indices=(1, 2))
    optimizer = make_constructor(decay_rate=0.5, num_layers=6)(backbone).optimizer
    groups = group_of(optimizer, backbone)
    assert set(groups) == {n for n, _ in backbone.named_parameters()}
    for name, stage_id in {'stem.proj.0.weight': 0, 'stage1.0.attn.q.weight': 1,
                           'patch_2.norm.weight': 2, 'stage2.0.attn.transform_conv.weight': 2,
                           'norm1.weight': 2, 'norm2.bias': 3,
                           'stage4.0.mlp.fc1.weight': 4}.items():
        assert groups[name]['lr'] == pytest.approx(LR * 0.5**(6 - stage_id)), name


def test_cwin_convs_go_with_the_end_of_their_stage():
    model = Detector(ResTV2(arch=DEEP, attn_style='cwin', window_size=4))
    groups = group_of(make_constructor(decay_rate=RATE, num_layers=6)(model).optimizer, model)
    assert groups['backbone.cwin2.conv.weight']['lr'] == pytest.approx(LR * RATE**4)
    groups = group_of(
        make_constructor(decay_rate=RATE, decay_type='layer_wise')(model).optimizer, model)
    # The last block of stage 2 has id 3 (depths 1, 2, 2, 1); the top is 7.
    assert groups['backbone.cwin2.conv.weight']['lr'] == pytest.approx(LR * RATE**4)
    assert groups['backbone.cwin4.conv.bias']['lr'] == pytest.approx(LR * RATE**1)


@pytest.mark.parametrize('decay_type', ['stage_wise', 'layer_wise'])
def test_frozen_parameters_are_left_out(decay_type):
    model = Detector(ResTV2(arch=DEEP, frozen_stages=1))
    optimizer = make_constructor(decay_rate=RATE, decay_type=decay_type)(model).optimizer
    groups = group_of(optimizer, model)
    assert not any(n.startswith(('backbone.stem.', 'backbone.stage1.', 'backbone.norm0.'))
                   for n in groups)
    assert 'backbone.patch_2.proj.weight' in groups and 'neck.weight' in groups
    # Freezing does not renumber what stays trainable: same lr as without freezing.
    unfrozen = Detector(ResTV2(arch=DEEP))
    reference = group_of(
        make_constructor(decay_rate=RATE, decay_type=decay_type)(unfrozen).optimizer, unfrozen)
    for name in ('backbone.stage2.0.attn.q.weight', 'backbone.stage4.0.attn.q.weight'):
        assert groups[name]['lr'] == pytest.approx(reference[name]['lr']), name


@pytest.mark.parametrize('paramwise,message', [
    (dict(decay_rate=RATE, decay_type='block_wise'), 'Unknown decay_type'),
    (dict(decay_type='stage_wise'), 'decay_rate'),
    (dict(decay_rate=1.5), 'decay_rate'),
    (dict(decay_rate=RATE, custom_keys={'norm': dict(decay_mult=0.)}), 'custom_keys'),
])
def test_bad_paramwise_cfg(paramwise, message):
    with pytest.raises(ValueError, match=message):
        make_constructor(**paramwise)


def test_num_layers_below_the_backbone_depth(detector):
    with pytest.raises(ValueError, match='num_layers'):
        make_constructor(decay_rate=RATE, num_layers=3)(detector)


def test_other_backbones_are_rejected():
    model = nn.Module()
    model.backbone = nn.Sequential(nn.Conv2d(3, 8, 3))
    with pytest.raises(ValueError, match='ResT / ResTV2'):
        make_constructor(decay_rate=RATE)(model)


@pytest.mark.parametrize('package', ['mmdet', 'mmseg', 'mmpretrain'])
def test_registered_in_downstream_scopes(package):
    pytest.importorskip(package)
    registry = importlib.import_module(f'{package}.registry').OPTIM_WRAPPER_CONSTRUCTORS
    assert registry.get('ResTLayerDecayOptimWrapperConstructor') is \
        ResTLayerDecayOptimWrapperConstructor


@pytest.mark.parametrize('scope,type_name', [
    ('mmseg', 'ResTLayerDecayOptimWrapperConstructor'),
    ('mmdet', 'ResTLayerDecayOptimWrapperConstructor'),
    (None, 'mmrest.ResTLayerDecayOptimWrapperConstructor'),
])
def test_builds_a_working_optimizer(scope: Optional[str], type_name: str):
    if scope is not None:
        pytest.importorskip(scope)
    model = Detector(ResTV2(arch=DEEP))
    cfg = dict(
        type='OptimWrapper',
        optimizer=dict(type='AdamW', lr=LR, betas=(0.9, 0.999), weight_decay=WD),
        constructor=type_name,
        paramwise_cfg=dict(decay_rate=RATE, decay_type='stage_wise', num_layers=6))
    # The default scope of the task's configs decides which registry the name is looked up in.
    with DefaultScope.overwrite_default_scope(scope):
        optim_wrapper = build_optim_wrapper(model, cfg)
    assert isinstance(optim_wrapper.optimizer, torch.optim.AdamW)

    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    loss = model(torch.randn(2, 3, 64, 64)).square().mean()
    optim_wrapper.update_params(loss)
    changed = [n for n, p in model.named_parameters() if not torch.equal(p, before[n])]
    assert 'backbone.stem.proj.0.weight' in changed and 'neck.weight' in changed
    lrs = optim_wrapper.get_lr()['lr']
    assert min(lrs) == pytest.approx(LR * RATE**6) and max(lrs) == pytest.approx(LR)


def test_registered_in_mmrest_scope():
    assert OPTIM_WRAPPER_CONSTRUCTORS.get('ResTLayerDecayOptimWrapperConstructor') is \
        ResTLayerDecayOptimWrapperConstructor
    assert mmrest.engine.ResTLayerDecayOptimWrapperConstructor is \
        ResTLayerDecayOptimWrapperConstructor
