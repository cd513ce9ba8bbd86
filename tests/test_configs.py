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
from typing import Dict, List, NamedTuple

import pytest
import torch
import torch.nn as nn
import yaml
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope, init_default_scope

import mmrest
from mmrest.analysis.model_inputs import make_data_samples
from tests.common import CONFIGS, count_parameters

CONFIG_DIR = CONFIGS
TOP_CONFIGS = sorted(p.name for p in CONFIG_DIR.glob('*.py'))
ALL_CONFIGS = sorted(
    str(p.relative_to(CONFIG_DIR)) for p in CONFIG_DIR.rglob('*.py')
    if '_base_' not in p.parts)

TOLERANCE_M = 0.3


def metafile_params_m() -> Dict[str, float]:
    """Whole-model parameters in millions by top-level config, from the model index (the
    papers' figures; mmrest's measured ones where the papers have none)."""
    index = yaml.safe_load((CONFIG_DIR.parent / 'model-index.yml').read_text())
    params = {}
    for metafile in index['Import']:
        for model in yaml.safe_load((CONFIG_DIR.parent / metafile).read_text())['Models']:
            name = Path(model['Config']).name
            if name in TOP_CONFIGS and 'Parameters' in model.get('Metadata', {}):
                params[name] = model['Metadata']['Parameters'] / 1e6
    return params


PAPER_PARAMS_M = metafile_params_m()

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
    return [dims[i] for i in backbone.get('out_indices', (0, 1, 2, 3))]  # the default


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


def family(name: str) -> str:
    return next(f for f in ('cascade', 'mask2former', 'upernet', 'mask_rcnn', 'retinanet')
                if name.startswith(f))


@pytest.mark.parametrize('name', [n for n in TOP_CONFIGS
                                  if family(n) in ('mask_rcnn', 'retinanet')])
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


@pytest.mark.parametrize('name', [n for n in TOP_CONFIGS if family(n) == 'upernet'])
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


@pytest.mark.parametrize('name', [n for n in TOP_CONFIGS if family(n) == 'cascade'])
def test_cascade_recipe(name):
    """mmdet's ConvNeXt Cascade Mask R-CNN recipe, with mmrest's layer-wise lr decay."""
    cfg = load(name)
    assert cfg.default_scope == 'mmdet' and cfg.model.type == 'CascadeRCNN'
    assert cfg.model.neck.in_channels == backbone_channels(cfg)
    heads = cfg.model.roi_head.bbox_head
    assert len(heads) == 3 and all(h.num_shared_convs == 4 and h.num_shared_fcs == 1
                                   and h.loss_bbox.type == 'GIoULoss' for h in heads)
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.constructor == 'ResTLayerDecayOptimWrapperConstructor'
    assert cfg.optim_wrapper.paramwise_cfg == dict(decay_rate=0.7, decay_type='layer_wise')
    assert cfg.optim_wrapper.optimizer == dict(
        type='AdamW', lr=2e-4, betas=(0.9, 0.999), weight_decay=0.05)
    assert cfg.train_cfg.max_epochs == 36 and cfg.param_scheduler[-1].milestones == [27, 33]
    assert cfg.train_dataloader.batch_size == 2  # x 8 GPUs = 16
    assert 'RandomChoice' in [t['type'] for t in cfg.train_dataloader.dataset.pipeline]


@pytest.mark.parametrize('name', [n for n in TOP_CONFIGS if family(n) == 'mask2former'])
def test_mask2former_recipe(name):
    """mmdet's COCO instance / mmseg's ADE20K Mask2Former recipes, Swin's optimizer keys."""
    cfg = load(name)
    coco = name.endswith('_coco.py')
    assert cfg.default_scope == ('mmdet' if coco else 'mmseg')
    head = cfg.model.panoptic_head if coco else cfg.model.decode_head
    assert head.type == 'Mask2FormerHead' and head.in_channels == backbone_channels(cfg)
    assert head.num_queries == 100
    if coco:
        assert head.num_things_classes == 80 and head.num_stuff_classes == 0
        assert cfg.model.test_cfg.instance_on and not cfg.model.test_cfg.panoptic_on
    else:
        assert head.num_classes == 150 and cfg.model.data_preprocessor.size == (512, 512)
        assert cfg.train_cfg.max_iters == 160000
    assert cfg.optim_wrapper.optimizer.type == 'AdamW' and cfg.optim_wrapper.optimizer.lr == 1e-4
    assert cfg.optim_wrapper.paramwise_cfg.custom_keys['backbone'] == dict(lr_mult=0.1,
                                                                         decay_mult=1.0)
    assert cfg.train_dataloader.batch_size == 2  # x 8 GPUs = 16


@pytest.mark.slow  # builds every model
def test_parameter_count(built):
    name = built.name
    count_m = count_parameters(built.model) / 1e6
    assert abs(count_m - PAPER_PARAMS_M[name]) <= TOLERANCE_M, f'{name}: {count_m:.2f}M'


@pytest.mark.slow  # builds every model
def test_backbone_trains_whole(built):
    """The papers fine-tune every stage, with BatchNorm statistics updated, without
    activation checkpointing (the backbones' defaults)."""
    backbone = built.model.backbone
    assert backbone.frozen_stages == -1 and not backbone.norm_eval and not backbone.with_cp


@pytest.mark.slow  # builds every model
def test_forward_wiring(built):
    """Backbone -> neck -> heads run: the configured channels match the backbone's."""
    name, model = built.name, built.model
    with torch.no_grad():
        feats = model.extract_feat(torch.randn(1, 3, 64, 96))
        if family(name) == 'upernet':
            assert model.decode_head(feats).shape == (1, 150, 16, 24)
            assert model.auxiliary_head(feats).shape == (1, 150, 4, 6)
        elif family(name) == 'mask2former':
            scope = scope_of(built.cfg)
            samples = make_data_samples(scope, 1, (64, 96))
            head = model.panoptic_head if scope == 'mmdet' else model.decode_head
            cls_scores, mask_preds = head(feats, samples)
            assert cls_scores[-1].shape[:2] == mask_preds[-1].shape[:2] == (1, 100)
        else:
            assert [f.shape[1] for f in feats] == [256] * 5
            head = model.rpn_head if hasattr(model, 'rpn_head') else model.bbox_head
            cls_scores = head(feats)[0]
            assert len(cls_scores) == 5


@pytest.mark.slow  # builds every model
def test_optimizer_builds(built):
    name, cfg, model = built
    optim_cfg = copy.deepcopy(cfg.optim_wrapper)
    if optim_cfg.type == 'AmpOptimWrapper' and not torch.cuda.is_available():
        optim_cfg.type = 'OptimWrapper'  # mmengine's AMP wrapper needs a GPU; same groups
    with DefaultScope.overwrite_default_scope(scope_of(cfg)):
        optim_wrapper = build_optim_wrapper(model, optim_cfg)
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
    backbone = {n: lr for n, lr in lr_of.items() if n.startswith('backbone.')}
    others = {n: lr for n, lr in lr_of.items() if not n.startswith('backbone.')}
    if family(name) == 'upernet':
        assert lr_of['backbone.stem.proj.0.weight'] == pytest.approx(base_lr * 0.9**6)
        assert lr_of['backbone.stage3.0.attn.q.weight'] == pytest.approx(base_lr * 0.9**3)
        assert lr_of['decode_head.conv_seg.weight'] == pytest.approx(base_lr)
    elif family(name) == 'cascade':  # one id per block: stem 0, top = blocks + 1
        top = sum(model.backbone.depths) + 1
        assert lr_of['backbone.stem.proj.0.weight'] == pytest.approx(base_lr * 0.7**top)
        assert lr_of['backbone.stage1.0.attn.q.weight'] == pytest.approx(base_lr * 0.7**(top - 1))
        assert set(others.values()) == {base_lr}
    elif family(name) == 'mask2former':  # the whole backbone at 0.1x, every norm without decay
        assert all(lr == pytest.approx(base_lr * 0.1) for lr in backbone.values())
        assert set(others.values()) == {base_lr}
        norms = [n for n, m in model.backbone.named_modules()
                 if isinstance(m, (nn.LayerNorm, nn.BatchNorm2d))]
        assert len(norms) > 10
        for norm in norms:
            assert by_param[id(named[f'backbone.{norm}.weight'])]['weight_decay'] == 0.0, norm
        query = named['panoptic_head.query_embed.weight' if 'panoptic_head.query_embed.weight'
                      in named else 'decode_head.query_embed.weight']
        assert by_param[id(query)]['weight_decay'] == 0.0
    else:
        assert set(lr_of.values()) == {base_lr}
