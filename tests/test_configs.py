"""The configs in configs/: they load, build through mmdet's / mmseg's registries after
``import mmrest``, have the papers' parameter counts, wire the backbone channels into the
necks and heads, follow the papers' recipes, and their optimizers build.

Each model is built once (backbone ``init_cfg=None``: no checkpoint needed) for all the tests
of its config, and only one is alive at a time.
"""
import copy
import functools
import importlib
from pathlib import Path
from typing import List, NamedTuple

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope, init_default_scope

import mmrest

CONFIG_DIR = Path(__file__).resolve().parent.parent / 'configs'
TOP_CONFIGS = sorted(p.name for p in CONFIG_DIR.glob('*.py'))
ALL_CONFIGS = sorted(
    str(p.relative_to(CONFIG_DIR)) for p in CONFIG_DIR.rglob('*.py')
    if '_base_' not in p.parts)

# Whole-model parameters in millions (ARCHITECTURE.md, from the papers); tolerance 0.3M.
PAPER_PARAMS_M = {
    'mask_rcnn_restv2_t_1x.py': 49.94,
    # Fine-tuning attention styles (ResTv2 Table 4): CWin adds a 3x3 depth-wise conv per stage.
    'mask_rcnn_restv2_t_1x_win.py': 49.94,
    'mask_rcnn_restv2_t_1x_cwin.py': 49.96,
    'mask_rcnn_restv2_t_1x_hwin.py': 49.94,
    'mask_rcnn_restv2_t_3x.py': 49.9,
    'mask_rcnn_restv2_t_3x_win.py': 49.94,
    'mask_rcnn_restv2_t_3x_cwin.py': 49.96,
    'mask_rcnn_restv2_t_3x_hwin.py': 49.94,
    'mask_rcnn_restv2_s_3x.py': 60.7,
    'mask_rcnn_restv2_b_3x.py': 75.5,
    'mask_rcnn_rest_s_1x.py': 33.3,
    'mask_rcnn_rest_b_1x.py': 49.8,
    'retinanet_rest_s_1x.py': 23.4,
    'retinanet_rest_b_1x.py': 40.5,
    'retinanet_rest_l_1x.py': 61.8,
    # Not in the papers: measured (ResTv2-T backbone without norm0 + ResT's RetinaNet neck and
    # head), kept to catch accidental changes.
    'retinanet_restv2_t_3x.py': 40.60,
    'upernet_restv2_t_160k_ade20k.py': 62.1,
    'upernet_restv2_s_160k_ade20k.py': 72.9,
    'upernet_restv2_b_160k_ade20k.py': 87.6,
}
TOLERANCE_M = 0.3

CHECKPOINTS = {
    ('ResT', 'small'): 'checkpoints/rest_small.pth',
    ('ResT', 'base'): 'checkpoints/rest_base.pth',
    ('ResT', 'large'): 'checkpoints/rest_large.pth',
    ('ResTV2', 'tiny'): 'checkpoints/restv2_tiny_224.pth',
    ('ResTV2', 'small'): 'checkpoints/restv2_small_224.pth',
    ('ResTV2', 'base'): 'checkpoints/restv2_base_224.pth',
}
# Drop path per variant (ResTv2 paper App. C.2; ResT v1: its ImageNet rates).
DROP_PATH = {
    ('ResT', 'small'): 0.1, ('ResT', 'base'): 0.2, ('ResT', 'large'): 0.3,
    ('ResTV2', 'tiny'): 0.1, ('ResTV2', 'small'): 0.2, ('ResTV2', 'base'): 0.3,
}


@functools.lru_cache(maxsize=None)
def _parse(name: str) -> Config:
    return Config.fromfile(str(CONFIG_DIR / name))


def load(name: str) -> Config:
    """A private copy of the parsed config (parsing the mmdet/mmseg bases takes a while)."""
    return copy.deepcopy(_parse(name))


def scope_of(cfg: Config) -> str:
    return cfg.get('default_scope', 'mmdet')


def backbone_channels(cfg: Config) -> List[int]:
    backbone = cfg.model.backbone
    dims = getattr(mmrest, backbone.type).arch_zoo[backbone.arch]['embed_dims']
    return [dims[i] for i in backbone.out_indices]


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


class Built(NamedTuple):
    name: str
    cfg: Config
    model: nn.Module


@pytest.fixture(scope='module', params=TOP_CONFIGS)
def built(request) -> Built:
    """The config's model, built through the registry of its scope. Module-scoped and
    parametrised, so pytest runs all tests of one config together and keeps one model alive
    at a time (all of them together would take gigabytes)."""
    name = request.param
    cfg = load(name)
    scope = scope_of(cfg)
    pytest.importorskip(scope)
    init_default_scope(scope)
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.backbone.init_cfg = None
    registry = importlib.import_module(f'{scope}.registry').MODELS
    return Built(name, cfg, registry.build(model_cfg).eval())


def test_every_top_level_config_has_a_figure():
    assert set(TOP_CONFIGS) == set(PAPER_PARAMS_M)


@pytest.mark.parametrize('name', ALL_CONFIGS)
def test_config_loads(name):
    cfg = load(name)
    assert 'mmrest' in cfg.custom_imports['imports']
    assert not cfg.custom_imports.get('allow_failed_imports', False)
    assert cfg.model.backbone.type in ('ResT', 'ResTV2', 'mmrest.ResT', 'mmrest.ResTV2', 'CeiT',
                                      'mmrest.CeiT')


@pytest.mark.parametrize('name', TOP_CONFIGS)
def test_backbone_settings(name):
    backbone = load(name).model.backbone
    key = (backbone.type, backbone.arch)
    assert backbone.init_cfg == dict(type='Pretrained', checkpoint=CHECKPOINTS[key])
    assert backbone.drop_path_rate == DROP_PATH[key]
    assert backbone.frozen_stages == -1 and not backbone.norm_eval and not backbone.with_cp


@pytest.mark.parametrize('name', [n for n in TOP_CONFIGS if not n.startswith('upernet')])
def test_detection_recipe(name):
    cfg = load(name)
    assert cfg.default_scope == 'mmdet'
    assert cfg.model.neck.in_channels == backbone_channels(cfg)
    assert cfg.optim_wrapper.optimizer == dict(
        type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05)
    assert cfg.optim_wrapper.paramwise_cfg.norm_decay_mult == 0.0
    assert cfg.auto_scale_lr == dict(enable=False, base_batch_size=16)
    assert cfg.train_dataloader.batch_size == 2  # x 8 GPUs = 16
    assert cfg.train_dataloader.dataset.data_root == 'data/coco/'
    epochs = 36 if '_3x' in name else 12
    assert cfg.train_cfg.max_epochs == epochs
    assert cfg.param_scheduler[-1].milestones == ([27, 33] if epochs == 36 else [8, 11])
    pipeline_types = [t['type'] for t in cfg.train_dataloader.dataset.pipeline]
    if name.startswith('mask_rcnn_restv2') and '_3x' in name:
        assert 'RandomChoice' in pipeline_types  # Swin's multi-scale crop augmentation
    else:
        resize = cfg.train_dataloader.dataset.pipeline[pipeline_types.index('RandomResize')]
        assert resize.scale == [(1333, 480), (1333, 800)] and resize.keep_ratio


@pytest.mark.parametrize('name', [n for n in TOP_CONFIGS if n.startswith('upernet')])
def test_segmentation_recipe(name):
    cfg = load(name)
    assert cfg.default_scope == 'mmseg'
    channels = backbone_channels(cfg)
    assert cfg.model.decode_head.in_channels == channels
    assert cfg.model.decode_head.in_index == [0, 1, 2, 3]
    assert cfg.model.auxiliary_head.in_index == 2
    assert cfg.model.auxiliary_head.in_channels == channels[2]
    assert cfg.model.decode_head.num_classes == cfg.model.auxiliary_head.num_classes == 150
    assert cfg.optim_wrapper.constructor == 'ResTLayerDecayOptimWrapperConstructor'
    assert cfg.optim_wrapper.optimizer == dict(
        type='AdamW', lr=1.5e-4, betas=(0.9, 0.999), weight_decay=0.05)
    assert cfg.optim_wrapper.paramwise_cfg == dict(
        decay_rate=0.9, decay_type='stage_wise', num_layers=6)
    warmup, poly = cfg.param_scheduler
    assert (warmup.type, warmup.end, poly.type, poly.begin, poly.end) == (
        'LinearLR', 1500, 'PolyLR', 1500, 160000)
    assert cfg.train_cfg.max_iters == 160000
    assert cfg.train_dataloader.batch_size == 2  # x 8 GPUs = 16
    assert cfg.crop_size == (512, 512) and cfg.model.data_preprocessor.size == (512, 512)
    assert cfg.train_dataloader.dataset.data_root.rstrip('/') == 'data/ade/ADEChallengeData2016'


def test_parameter_count(built):
    name = built.name
    count_m = n_params(built.model) / 1e6
    assert abs(count_m - PAPER_PARAMS_M[name]) <= TOLERANCE_M, f'{name}: {count_m:.2f}M'


def test_forward_wiring(built):
    """Backbone -> neck -> heads run: the configured channels match the backbone's."""
    name, model = built.name, built.model
    with torch.no_grad():
        feats = model.extract_feat(torch.randn(1, 3, 64, 96))
        if name.startswith('upernet'):
            assert model.decode_head(feats).shape == (1, 150, 16, 24)
            assert model.auxiliary_head(feats).shape == (1, 150, 4, 6)
        else:
            assert [f.shape[1] for f in feats] == [256] * 5
            head = model.rpn_head if hasattr(model, 'rpn_head') else model.bbox_head
            cls_scores = head(feats)[0]
            assert len(cls_scores) == 5


def test_optimizer_builds(built):
    name, cfg, model = built
    with DefaultScope.overwrite_default_scope(scope_of(cfg)):
        optim_wrapper = build_optim_wrapper(model, copy.deepcopy(cfg.optim_wrapper))
    groups = optim_wrapper.optimizer.param_groups
    assert sum(len(g['params']) for g in groups) == len(list(model.parameters()))
    by_param = {id(p): g for g in groups for p in g['params']}
    named = dict(model.named_parameters())
    # Norms (the stem's BatchNorm too), position-conv biases and CWin convs get no weight
    # decay.
    no_decay = ['backbone.stage3.0.norm1.weight', 'backbone.stem.proj.1.weight',
                'backbone.stem.pos.pa_conv.bias']
    if 'backbone.cwin1.conv.weight' in named:
        no_decay += ['backbone.cwin1.conv.weight', 'backbone.cwin4.conv.bias']
    for pname in no_decay:
        assert by_param[id(named[pname])]['weight_decay'] == 0.0, pname
    assert by_param[id(named['backbone.stage3.0.attn.q.weight'])]['weight_decay'] == 0.05
    lr_of = {n: by_param[id(p)]['lr'] for n, p in named.items()}
    base_lr = cfg.optim_wrapper.optimizer.lr
    if name.startswith('upernet'):
        assert lr_of['backbone.stem.proj.0.weight'] == pytest.approx(base_lr * 0.9**6)
        assert lr_of['backbone.stage3.0.attn.q.weight'] == pytest.approx(base_lr * 0.9**3)
        assert lr_of['decode_head.conv_seg.weight'] == pytest.approx(base_lr)
    else:
        assert set(lr_of.values()) == {base_lr}
