"""CeiT backbone (I2T stem, LeFF, LCA), its LeFF module, registration and ImageNet configs."""
import copy
import functools
import importlib

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.registry import DefaultScope

import mmrest
from mmrest.models.backbones.ceit import CeiT, LCABlock
from mmrest.models.layers import LeFF
from tests.common import CONFIGS as REPO_CONFIGS
from tests.common import count_parameters, requires

CONFIGS = REPO_CONFIGS / 'imagenet'
SMALL = dict(embed_dims=32, num_layers=2, num_heads=2)  # fast stand-in for the presets

# Paper Table 1 vs. the model the paper describes, whole classifier with the 1000-class head.
# T and S come out 0.15M / 0.20M below the table; B cannot be 86.6M: DeiT-B alone is 86.6M and
# the LCA block adds 7.1M (the table repeats DeiT-B's figure).
PAPER_M = {'tiny': 6.4, 'small': 24.2, 'base': 86.6}
MEASURED = {'tiny': 6_251_560, 'small': 23_998_888, 'base': 93_998_248}


def described_params(D: int, layers: int = 12, e: int = 4, k: int = 3, stem: int = 32,
                     patch: int = 4, grid: int = 14, classes: int = 1000) -> int:
    """Parameters of CeiT as the paper describes it, counted by hand."""
    i2t = 3 * stem * 7 * 7 + stem + 2 * stem  # conv + BN
    embed = stem * patch * patch * D + D + D + (grid * grid + 1) * D  # patches, cls, pos
    attn = 4 * D * D + 4 * D  # q, k, v, proj
    leff = (D * e * D + e * D) + 2 * e * D + (k * k * e * D + e * D) + 2 * e * D \
        + (e * D * D + D) + 2 * D  # Linear1 + BN, DWConv + BN, Linear2 + BN
    mlp = D * e * D + e * D + e * D * D + D
    blocks = layers * (4 * D + attn + leff)
    lca = 4 * D + attn + mlp
    return i2t + embed + blocks + lca + 2 * D + (D * classes + classes)


@functools.lru_cache(maxsize=None)
def _parse(name: str) -> Config:
    return Config.fromfile(str(CONFIGS / name))


def load_config(name: str) -> Config:
    return copy.deepcopy(_parse(name))


def build_config(name: str, device: str = 'cpu') -> nn.Module:
    from mmpretrain.registry import MODELS
    cfg = load_config(name)
    with DefaultScope.overwrite_default_scope('mmpretrain'), torch.device(device):
        return MODELS.build(cfg.model)


@requires('mmpretrain')
@pytest.mark.parametrize('arch,suffix', [('tiny', 't'), ('small', 's'), ('base', 'b')])
def test_config_builds_with_the_described_parameter_count(arch, suffix):
    # On the meta device: no memory, no initialisation, instant even for CeiT-B.
    model = build_config(f'ceit_{suffix}_in1k.py', device='meta')
    assert isinstance(model.backbone, CeiT) and model.backbone.arch_settings == \
        CeiT.arch_zoo[arch]
    assert model.head.layers.head.in_features == model.backbone.embed_dims
    count = count_parameters(model)
    assert count == MEASURED[arch] == described_params(model.backbone.embed_dims)
    if arch != 'base':
        assert 0.1 < PAPER_M[arch] - count / 1e6 < 0.21


@requires('mmpretrain')
def test_tiny_config_classifies_and_its_optimizer_skips_decay_where_deit_does():
    from mmengine.optim import build_optim_wrapper
    cfg = load_config('ceit_t_in1k.py')
    assert cfg.train_dataloader.sampler.type == 'RepeatAugSampler'
    model = build_config('ceit_t_in1k.py')
    model.init_weights()
    with torch.no_grad():
        assert model.eval()(torch.randn(1, 3, 224, 224), mode='tensor').shape == (1, 1000)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        groups = build_optim_wrapper(model, copy.deepcopy(cfg.optim_wrapper)) \
            .optimizer.param_groups
    decay = {id(p): g['weight_decay'] for g in groups for p in g['params']}
    named = dict(model.named_parameters())
    for name in ('backbone.cls_token', 'backbone.pos_embed', 'backbone.i2t.bn.weight',
                 'backbone.layers.0.ffn.bn1.weight', 'backbone.layers.0.norm1.weight'):
        assert decay[id(named[name])] == 0.0, name
    assert decay[id(named['backbone.layers.0.ffn.fc1.weight'])] == 0.05


@pytest.mark.parametrize('scope', [pytest.param(s, marks=requires(s))
                                   for s in ('mmpretrain', 'mmdet', 'mmseg')])
@pytest.mark.parametrize('type_name', ['CeiT', 'mmrest.CeiT'])
def test_builds_in_every_scope(scope, type_name):
    registry = importlib.import_module(f'{scope}.registry').MODELS
    with DefaultScope.overwrite_default_scope(scope):
        model = registry.build(dict(type=type_name, arch=SMALL, out_type='featmap'))
    assert type(model) is CeiT is mmrest.models.CeiT


def test_output_types_and_sizes():
    x = torch.randn(2, 3, 96, 160)  # 6 x 10 tokens; pos_embed interpolated from 14 x 14
    with torch.no_grad():
        (cls_token, ) = CeiT(SMALL).eval()(x)
        feats = CeiT(SMALL, out_type='featmap', out_indices=(0, 1)).eval()(x)
        (raw, ) = CeiT(SMALL, out_type='raw').eval()(x)
        (avg, ) = CeiT(SMALL, out_type='avg_featmap').eval()(x)
    assert cls_token.shape == avg.shape == (2, 32)
    assert [f.shape for f in feats] == [(2, 32, 6, 10)] * 2
    assert raw.shape == (2, 1 + 60, 32)
    model = CeiT(SMALL, out_type='featmap')
    assert model.lca is None  # would get no gradients (DDP error) when not used
    assert model.token_grid((224, 224)) == (14, 14) and model.token_grid((384, 384)) == (24, 24)


def test_bad_arguments_are_explained():
    with pytest.raises(KeyError, match="valid presets: tiny, small, base"):
        CeiT('huge')
    with pytest.raises(KeyError, match='embed_dims'):
        CeiT(dict(embed_dims=32))
    with pytest.raises(ValueError, match='out_type must be one of'):
        CeiT(SMALL, out_type='tokens')
    with pytest.raises(ValueError, match='LCA output'):
        CeiT(SMALL, out_indices=(0, 1))
    with pytest.raises(ValueError, match='odd'):
        LeFF(8, 32, kernel_size=4)


def test_leff_on_tokens_without_class_token_is_local():
    """ResT-style use: all tokens are patches; a token only reaches its 3x3 neighbours."""
    leff = LeFF(8, 32).eval()  # eval: BatchNorm by running statistics, no batch coupling
    hw = (5, 7)
    x = torch.randn(2, 35, 8)
    with torch.no_grad():
        y = leff(x, hw)
        x2 = x.clone()
        x2[:, 2 * 7 + 3] += 1.0  # token (2, 3)
        changed = (leff(x2, hw) - y).abs().amax(dim=(0, 2)).view(5, 7) > 0
    assert y.shape == x.shape
    expected = torch.zeros(5, 7, dtype=torch.bool)
    expected[1:4, 2:5] = True
    assert torch.equal(changed, expected)
    with pytest.raises(ValueError, match='35 patch tokens for a 5x6 map'):
        leff(x, (5, 6))


def test_class_token_bypasses_leff_and_lca_queries_with_the_last_one():
    leff = LeFF(8, 32, with_cls_token=True).eval()
    plain = LeFF(8, 32).eval()
    plain.load_state_dict(leff.state_dict())
    x = torch.randn(2, 1 + 12, 8)
    with torch.no_grad():
        y = leff(x, (3, 4))
        assert torch.equal(y[:, 0], torch.zeros(2, 8))  # residual block: class token unchanged
        torch.testing.assert_close(y[:, 1:], plain(x[:, 1:], (3, 4)))

    model = CeiT(SMALL).eval()
    block = model.layers[0]
    tokens = torch.randn(2, 1 + 16, 32)
    with torch.no_grad():
        after_attn = tokens + block.attn(block.norm1(tokens))
        out = block(tokens, (4, 4))
    torch.testing.assert_close(out[:, 0], after_attn[:, 0])  # LeFF left it alone...
    assert not torch.allclose(out[:, 1:], after_attn[:, 1:])  # ...but not the patches

    # LCA gets the class token of every layer, and only the last one asks: the others are
    # an unordered set of keys/values.
    seen = {}
    model.lca.register_forward_hook(lambda m, args, out: seen.update(inp=args[0]))
    for i, layer in enumerate(model.layers):
        layer.register_forward_hook(lambda m, args, out, i=i: seen.update({i: out[:, 0]}))
    with torch.no_grad():
        model(torch.randn(2, 3, 64, 64))
    assert torch.equal(seen['inp'], torch.stack([seen[0], seen[1]], dim=1))
    lca = LCABlock(32, 2, 128).eval()
    cls_tokens = torch.randn(2, 5, 32)
    with torch.no_grad():
        ref = lca(cls_tokens)
        torch.testing.assert_close(lca(cls_tokens[:, [2, 0, 3, 1, 4]]), ref)
        assert not torch.allclose(lca(cls_tokens[:, [0, 1, 2, 4, 3]]), ref)


def test_backward_and_checkpointing_keep_results_and_batchnorm_statistics():
    x = torch.randn(2, 3, 64, 64)
    grads, stats = [], []
    for with_cp in (False, True):
        torch.manual_seed(0)
        model = CeiT(SMALL, drop_path_rate=0.1, with_cp=with_cp)
        model.init_weights()
        model.train()
        torch.manual_seed(1)  # same drop-path masks
        model(x)[0].square().mean().backward()
        missing = [n for n, p in model.named_parameters() if p.grad is None]
        assert not missing, missing
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
        stats.append({k: v for k, v in model.state_dict().items() if 'running' in k
                      or 'num_batches' in k})
    torch.testing.assert_close(grads[1], grads[0])
    for k in stats[0]:  # the recomputation did not update BatchNorm a second time
        torch.testing.assert_close(stats[1][k], stats[0][k], msg=k)


def test_frozen_stages_norm_eval_and_layer_depth():
    model = CeiT(SMALL, frozen_stages=1, norm_eval=True).train()
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    assert {n.split('.')[0] for n in frozen} == {'i2t', 'patch_embed', 'cls_token',
                                                 'pos_embed', 'layers'}
    assert all(n.startswith('layers.0.') for n in frozen if n.startswith('layers'))
    assert not model.layers[0].training and model.layers[1].training
    assert not model.layers[1].ffn.bn1.training  # norm_eval
    assert model.get_layer_depth('backbone.pos_embed', 'backbone.') == (0, 4)
    assert model.get_layer_depth('backbone.layers.1.ffn.fc1.weight', 'backbone.') == (2, 4)
    assert model.get_layer_depth('backbone.lca.attn.q.weight', 'backbone.') == (3, 4)
    assert model.get_layer_depth('head.layers.head.weight', 'backbone.') == (3, 4)


def test_checkpoint_at_another_size_loads_with_resized_pos_embed():
    src = CeiT(SMALL, img_size=224)
    src.init_weights()
    dst = CeiT(SMALL, img_size=384)
    dst.load_state_dict(src.state_dict())  # strict: only pos_embed differs, and is resized
    assert dst.pos_embed.shape == (1, 1 + 24 * 24, 32)
    torch.testing.assert_close(dst.pos_embed[:, 0], src.pos_embed[:, 0])
    x = torch.randn(1, 3, 384, 384)
    with torch.no_grad():  # a 224 model at 384 interpolates the same way at run time
        torch.testing.assert_close(src.eval()(x)[0], dst.eval()(x)[0])


def small_classifier() -> nn.Module:
    from mmpretrain.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(dict(type='ImageClassifier', backbone=dict(type='CeiT', arch=SMALL),
                                 head=dict(type='VisionTransformerClsHead', num_classes=5,
                                           in_channels=32)))


@requires('mmpretrain')
def test_classifier_checkpoint_loads_through_init_cfg_with_a_report(tmp_path):
    """CeiT loads like ResT: a whole classifier's checkpoint (backbone. tensors taken, head
    skipped and said so), the positional embedding resized to the new img_size."""
    classifier = small_classifier()
    classifier.init_weights()
    path = tmp_path / 'classifier.pth'
    torch.save({'state_dict': classifier.state_dict()}, path)
    model = CeiT(SMALL, img_size=96, init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    model.init_weights()
    report = model.load_report
    assert report.clean and len(report.loaded) == len(model.state_dict())
    assert report.skipped == {'not part of the backbone': ['head.layers.head.weight',
                                                           'head.layers.head.bias']}
    assert model.pos_embed.shape == (1, 1 + 6 * 6, 32)
    torch.testing.assert_close(model.cls_token, classifier.backbone.cls_token)


@requires('mmpretrain')
def test_layer_decay_constructor_takes_ceit():
    from mmengine.optim import build_optim_wrapper
    model = small_classifier()
    cfg = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
               constructor='ResTLayerDecayOptimWrapperConstructor',
               paramwise_cfg=dict(decay_rate=0.5, decay_type='layer_wise'))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        optimizer = build_optim_wrapper(model, copy.deepcopy(cfg)).optimizer
    lr = {n: g['lr'] for g in optimizer.param_groups for n in g['param_names']}
    # Ids: stem 0, layers 1-2, LCA and final norm 3; the head (outside) is the top, 4.
    assert lr['backbone.pos_embed'] == pytest.approx(1e-3 * 0.5**4)
    assert lr['backbone.layers.1.attn.q.weight'] == pytest.approx(1e-3 * 0.5**2)
    assert lr['backbone.lca.mlp.fc1.weight'] == pytest.approx(1e-3 * 0.5)
    assert lr['head.layers.head.weight'] == pytest.approx(1e-3)
    cfg['paramwise_cfg']['decay_type'] = 'stage_wise'
    with DefaultScope.overwrite_default_scope('mmpretrain'), \
            pytest.raises(ValueError, match='no stages'):
        build_optim_wrapper(model, cfg)
