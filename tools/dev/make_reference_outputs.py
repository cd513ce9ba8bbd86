"""Record, as figures for mmrest's tests, what the authors' released downstream checkpoints look
like and what their models compute.

    python tools/dev/make_reference_outputs.py upernet --authors PATH/TO/ResT \\
        --mmseg0 PATH/TO/mmsegmentation-0.x [--out tests/fixtures]
    PYTHONPATH=DEPS python tools/dev/make_reference_outputs.py detectron2 \\
        --authors PATH/TO/ResT --detectron2 PATH/TO/detectron2 [--out tests/fixtures]
    python tools/dev/make_reference_outputs.py imagenet --authors PATH/TO/ResT \\
        [--out tests/fixtures]

``--authors`` is a checkout of the authors' repository (wofmanaf/ResT), ``--mmseg0`` one of
mmsegmentation 0.x (whose ``UPerHead`` / ``FCNHead`` the authors trained with), ``--detectron2``
one of detectron2 (not built: its compiled ops are not needed; DEPS holds fvcore, iopath, yacs,
omegaconf, tabulate, termcolor, portalocker and cloudpickle, e.g. ``pip install --target DEPS
--no-deps ...``). Their code is read from there at development time and never copied into
mmrest. The script needs torch and mmengine, mmcv 2.x (for ``ConvModule``, whose parameter
names are those of mmcv 1.x) for the UperNet files, but not mmrest; the few timm / mmcv 1.x /
mmseg 0.x imports those modules make are stubbed below.

Every model is filled by the rule of ``tools/dev/reference_weights.py`` and run in eval mode,
on inputs made by its ``reference_input`` (the JSON records their shape and seed; the images
are not stored).

- ``upernet``: the published UperNets (ResTv2-T/S/B on ADE20K, the authors' configs), built under
  the attribute names of mmseg 0.x's ``EncoderDecoder`` (``backbone``, ``decode_head``,
  ``auxiliary_head``). ``upernet_restv2.json``: the checkpoint layout of mmcv 1.x's
  ``save_checkpoint`` and every key of ``state_dict`` with its shape; ``upernet_restv2.npz``:
  the four backbone outputs and both heads' logits.
- ``detectron2``: the published detectron2 models (Mask R-CNN ResT-S/B 1x and ResTv2-T/S/B 3x,
  RetinaNet ResT-S/B 1x), built by detectron2's ``build_model`` from the authors' configs.
  ``detectron2_rest.json``: the checkpoint layout of detectron2's checkpointer, every key of
  ``model`` with its shape, the input format (pixel mean / std, BGR or RGB); ``.npz``
  (computed in float64, stored in float32): for a normalised input, the backbone and FPN
  outputs (evenly spaced samples and statistics of large ones), per anchor the anchor box and
  the RPN objectness and deltas / RetinaNet class logits and deltas, and for given RoIs the box
  head's scores and deltas and the mask head's logits.
- ``imagenet``: the authors' ImageNet classifiers (``models/rest.py``, ``models/rest_v2.py``),
  each published preset from its factory (``rest_lite`` ... ``restv2_large``) and the small
  archs mmrest's tests use, built by a factory of theirs with only embed_dims / depths /
  num_heads changed. ``imagenet_rest.json``: the layout of the published files, every key of
  ``model`` with its shape, each model's arch; ``.npz`` (computed in float64, stored in
  float32), for two seeded inputs: the logits of the presets the tests compare, and the token map
  each stage's last block returns (before any norm, NCHW) for the small archs, caught by
  forward hooks while the authors' own ``forward`` runs.
"""
import argparse
import importlib
import importlib.util
import json
import os
import os.path as osp
import subprocess
import sys
import types
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from reference_weights import reference_input, reference_state_dict  # noqa: E402

# The authors' UperNet configs and the file names their README evaluates.
UPERNET_MODELS = {
    'restv2_tiny': 'upernet_restv2_tiny_512_160k_ade20k',
    'restv2_small': 'upernet_restv2_small_512_160k_ade20k',
    'restv2_base': 'upernet_restv2_base_512_160k_ade20k',
}
# A size both codes accept (the authors' needs multiples of 32), not square, so that a swap of
# height and width shows.
INPUT_SHAPE, INPUT_SEED = (1, 3, 64, 96), 0  # rebuilt by reference_input, not stored
# What mmcv 1.x's save_checkpoint writes (meta: mmseg 0.x tools/train.py, the checkpoint hook's
# CLASSES / PALETTE, the runner's iter / epoch, save_checkpoint's mmcv_version / time).
MMSEG0_LAYOUT = {
    'top_level': ['meta', 'state_dict', 'optimizer'],
    'meta': ['env_info', 'seed', 'exp_name', 'CLASSES', 'PALETTE', 'iter', 'epoch',
             'mmcv_version', 'time'],
}


def _module(name: str, **attrs: Any) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    sys.modules[name] = module
    parent, _, child = name.rpartition('.')
    if parent in sys.modules:
        setattr(sys.modules[parent], child, module)
    return module


def _package(name: str, path: Optional[str] = None, **attrs: Any) -> types.ModuleType:
    """A package whose ``__init__`` is not run: its submodules load one file at a time."""
    return _module(name, __path__=[path] if path else [], **attrs)


def _load_file(name: str, path: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class _Registry:
    def register_module(self, *args: Any, **kwargs: Any) -> Callable:
        return lambda cls: cls


def _identity_decorator(*args: Any, **kwargs: Any) -> Callable:
    return lambda func: func


def _stub_timm() -> None:
    """What the authors' modules take from timm: three helpers, and the model registry's
    decorator (an identity: nothing here builds their models by name)."""

    class DropPath(nn.Module):  # the models run in eval mode, where it is the identity
        def __init__(self, p: float = 0.0) -> None:
            super().__init__()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

    _package('timm')
    _package('timm.models')
    _module('timm.models.layers', DropPath=DropPath, to_2tuple=lambda x: (x, x),
            trunc_normal_=nn.init.trunc_normal_)
    _module('timm.models.registry', register_model=lambda func: func)


def install_stubs(mmseg0: str) -> None:
    """Just enough of timm, mmcv 1.x and mmseg 0.x for the authors' backbone module and mmseg
    0.x's decode heads; the heads' own files come from the ``mmseg0`` checkout."""
    from mmengine.model import BaseModule, normal_init
    _stub_timm()

    import mmcv.cnn  # mmcv 2.x: ConvModule keeps mmcv 1.x's parameter names
    if not hasattr(mmcv.cnn, 'normal_init'):
        mmcv.cnn.normal_init = normal_init
    _module('mmcv.runner', BaseModule=BaseModule, auto_fp16=_identity_decorator,
            force_fp32=_identity_decorator,
            _load_checkpoint=lambda *a, **k: (_ for _ in ()).throw(NotImplementedError()))

    root = osp.join(mmseg0, 'mmseg')
    _package('mmseg', root)
    _package('mmseg.ops', osp.join(root, 'ops'))
    wrappers = _load_file('mmseg.ops.wrappers', osp.join(root, 'ops', 'wrappers.py'))
    sys.modules['mmseg.ops'].resize = wrappers.resize
    _module('mmseg.core', build_pixel_sampler=None, add_prefix=None)
    _module('mmseg.utils', get_root_logger=lambda *a, **k: None)
    _package('mmseg.models', osp.join(root, 'models'))
    _module('mmseg.models.builder', HEADS=_Registry(), BACKBONES=_Registry(),
            build_loss=lambda cfg: nn.Identity())  # losses hold no parameters
    _module('mmseg.models.losses', accuracy=None)
    _package('mmseg.models.decode_heads', osp.join(root, 'models', 'decode_heads'))


def _exec_config(path: str) -> Dict[str, Any]:
    namespace: Dict[str, Any] = {}
    with open(path) as f:
        exec(compile(f.read(), path, 'exec'), namespace)  # plain assignments only
    return namespace


def _merge(base: Dict[str, Any], override: Dict[str, Any]) -> Dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict) \
                and not value.get('_delete_'):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = {k: v for k, v in value.items() if k != '_delete_'} \
                if isinstance(value, dict) else value
    return merged


def _build_args(cfg: Dict[str, Any]) -> Dict[str, Any]:
    args = {k: v for k, v in cfg.items() if k not in ('type', 'pretrained', 'init_cfg')}
    if 'norm_cfg' in args:  # SyncBN needs a process group; BN has the same tensors
        args['norm_cfg'] = dict(args['norm_cfg'], type='BN')
    return args


class UperNet0(nn.Module):
    """mmseg 0.x's ``EncoderDecoder`` as far as its checkpoint keys go (no neck)."""

    def __init__(self, backbone: nn.Module, decode_head: nn.Module,
                 auxiliary_head: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.decode_head = decode_head
        self.auxiliary_head = auxiliary_head


def build_upernet(authors: str, name: str) -> UperNet0:
    seg = osp.join(authors, 'semantic_segmentation')
    backbone_module = sys.modules.get('authors_restv2_seg') or _load_file(
        'authors_restv2_seg', osp.join(seg, 'backbone', 'rest_v2.py'))
    uper_head = importlib.import_module('mmseg.models.decode_heads.uper_head')
    fcn_head = importlib.import_module('mmseg.models.decode_heads.fcn_head')
    base = _exec_config(osp.join(seg, 'configs', '_base_', 'models', 'upernet_restv2.py'))
    own = _exec_config(osp.join(seg, 'configs', 'ResTv2', f'{name}.py'))
    model_cfg = _merge(base['model'], own['model'])
    return UperNet0(
        getattr(backbone_module, model_cfg['backbone']['type'])(
            **_build_args(model_cfg['backbone'])),
        getattr(uper_head, model_cfg['decode_head']['type'])(
            **_build_args(model_cfg['decode_head'])),
        getattr(fcn_head, model_cfg['auxiliary_head']['type'])(
            **_build_args(model_cfg['auxiliary_head'])))


def _revision(path: str) -> str:
    try:
        return subprocess.run(['git', '-C', path, 'rev-parse', 'HEAD'], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return 'unknown (not a git checkout)'


def record_upernet(authors: str, mmseg0: str, out_dir: str) -> List[str]:
    install_stubs(mmseg0)
    torch.manual_seed(0)
    image = reference_input(INPUT_SHAPE, INPUT_SEED)
    arrays: Dict[str, np.ndarray] = {}
    models = {}
    for key, name in UPERNET_MODELS.items():
        model = build_upernet(authors, name).eval()
        keys = [(k, list(v.shape)) for k, v in model.state_dict().items()]
        model.load_state_dict(reference_state_dict(keys), strict=True)
        with torch.no_grad():
            features = model.backbone(image)
            decode = model.decode_head(list(features))
            aux = model.auxiliary_head(list(features))
        for i, feature in enumerate(features):
            arrays[f'{key}/backbone.{i}'] = feature.numpy()
        arrays[f'{key}/decode_head'] = decode.numpy()
        arrays[f'{key}/auxiliary_head'] = aux.numpy()
        models[key] = {
            'authors_config': f'semantic_segmentation/configs/ResTv2/{name}.py',
            'file': f'{name}.pth',
            'keys': keys,
        }
        print(f'{key}: {len(keys)} tensors, outputs '
              f'{[tuple(f.shape) for f in features]}, logits {tuple(decode.shape)}')
    version: Dict[str, Any] = {}
    exec(open(osp.join(mmseg0, 'mmseg', 'version.py')).read(), version)
    info = {
        'generated_by': 'tools/dev/make_reference_outputs.py upernet',
        'weights': 'tools/dev/reference_weights.py (reference_state_dict)',
        'authors_revision': _revision(authors),
        'mmseg0_version': version.get('__version__', 'unknown'),
        'mmseg0_revision': _revision(mmseg0),
        'input_shape': list(INPUT_SHAPE),
        'input_seed': INPUT_SEED,
        'layout': MMSEG0_LAYOUT,
        'models': models,
    }
    return _write(out_dir, 'upernet_restv2', info, arrays)


# The authors' detectron2 configs of the published models: (config, ResT version).
D2_MODELS = {
    'mask_rcnn_rest_small': ('ResTv1/mask_rcnn_rest_small_FPN_1x.yaml', 'v1'),
    'mask_rcnn_rest_base': ('ResTv1/mask_rcnn_rest_base_FPN_1x.yaml', 'v1'),
    'mask_rcnn_restv2_tiny': ('ResTv2/mask_rcnn_restv2_tiny_FPN_3x.yaml', 'v2'),
    'mask_rcnn_restv2_small': ('ResTv2/mask_rcnn_restv2_small_FPN_3x.yaml', 'v2'),
    'mask_rcnn_restv2_base': ('ResTv2/mask_rcnn_restv2_base_FPN_3x.yaml', 'v2'),
    'retinanet_rest_small': ('ResTv1/retinanet_rest_small_FPN_1x.yaml', 'v1'),
    'retinanet_rest_base': ('ResTv1/retinanet_rest_base_FPN_1x.yaml', 'v1'),
}
D2_INPUT_SHAPE = (1, 3, 128, 160)  # normalised, a multiple of the FPN's 32
D2_INPUT_SEED = 1
# RoIs (x0, y0, x1, y1) in input pixels, of sizes that map to every FPN level (2-5).
D2_ROIS = [[10.0, 12.0, 50.0, 60.0], [4.5, 30.25, 100.0, 90.0], [0.0, 0.0, 159.0, 127.0],
           [20.0, 8.0, 140.0, 120.0], [-40.0, -60.0, 260.0, 250.0], [-150.0, -150.0, 350.0, 330.0]]
SAMPLES = 1024  # values kept of a large output: evenly spaced over its flattened elements
RETINA_ANCHORS = 512  # anchors kept of RetinaNet's, evenly spaced over all levels
# What detectron2's DefaultTrainer checkpointer writes (model, the trainer's state, iteration).
D2_LAYOUT = {'top_level': ['model', 'trainer', 'iteration']}


def summarise(name: str, tensor: torch.Tensor, arrays: Dict[str, np.ndarray]) -> None:
    """Evenly spaced samples, mean and mean absolute value of ``tensor`` under ``name``."""
    flat = tensor.detach().reshape(-1)
    index = np.linspace(0, flat.numel() - 1, min(SAMPLES, flat.numel())).round().astype(np.int64)
    arrays[f'{name}.shape'] = np.array(tensor.shape, dtype=np.int64)
    arrays[f'{name}.sample'] = flat[torch.from_numpy(index)].float().numpy()
    arrays[f'{name}.stats'] = np.array([flat.mean().item(), flat.abs().mean().item()])


def install_detectron2_stubs(authors: str, detectron2: str) -> None:
    _stub_timm()
    for path in (osp.join(authors, 'object_detection'), detectron2):
        if path not in sys.path:
            sys.path.insert(0, path)


def record_detectron2(authors: str, detectron2: str, out_dir: str) -> List[str]:
    install_detectron2_stubs(authors, detectron2)
    import restv2  # noqa: F401  (the authors' backbones register themselves)
    from detectron2.config import get_cfg
    from detectron2.modeling import build_model
    from detectron2.modeling.meta_arch.dense_detector import permute_to_N_HWA_K
    from detectron2.structures import Boxes
    from restv2.config import add_restv1_config, add_restv2_config

    torch.manual_seed(0)
    image = reference_input(D2_INPUT_SHAPE, D2_INPUT_SEED).double()
    rois = torch.tensor(D2_ROIS, dtype=torch.float64)
    arrays: Dict[str, np.ndarray] = {'rois': rois.numpy()}
    models = {}
    for key, (config, version) in D2_MODELS.items():
        cfg = get_cfg()
        (add_restv1_config if version == 'v1' else add_restv2_config)(cfg)
        cfg.merge_from_file(osp.join(authors, 'object_detection', 'configs', config))
        cfg.MODEL.DEVICE = 'cpu'
        # The v1 backbone's freezing fails for FREEZE_AT >= 1 (it looks up patch_embed_0);
        # freezing changes nothing in eval mode.
        cfg.MODEL.BACKBONE.FREEZE_AT = 0
        model = build_model(cfg).eval()
        keys = [(k, list(v.shape)) for k, v in model.state_dict().items()]
        model.load_state_dict(reference_state_dict(keys), strict=True)
        # In float64: with random weights, float32 rounding in ResT v1's InstanceNorm over
        # attention maps grows to ~4e-4 by stage 4, in anyone's implementation.
        model.double()
        with torch.no_grad():
            bottom_up = model.backbone.bottom_up(image)
            fpn = model.backbone(image)
            for name, feature in bottom_up.items():
                summarise(f'{key}/backbone.{name}', feature, arrays)
            for name, feature in fpn.items():
                summarise(f'{key}/fpn.{name}', feature, arrays)
            if hasattr(model, 'proposal_generator'):
                rpn = model.proposal_generator
                features = [fpn[f] for f in rpn.in_features]
                logits, deltas = rpn.rpn_head(features)
                arrays[f'{key}/rpn.anchors'] = torch.cat(
                    [a.tensor for a in rpn.anchor_generator(features)]).numpy()
                arrays[f'{key}/rpn.objectness'] = torch.cat(
                    [permute_to_N_HWA_K(x, 1)[0, :, 0] for x in logits]).numpy()
                arrays[f'{key}/rpn.deltas'] = torch.cat(
                    [permute_to_N_HWA_K(x, 4)[0] for x in deltas]).numpy()
                heads = model.roi_heads
                boxes = [Boxes(rois)]
                box_features = heads.box_pooler([fpn[f] for f in heads.box_in_features], boxes)
                scores, box_deltas = heads.box_predictor(heads.box_head(box_features))
                arrays[f'{key}/box.scores'] = scores.numpy()
                arrays[f'{key}/box.deltas'] = box_deltas.numpy()
                mask_features = heads.mask_pooler([fpn[f] for f in heads.mask_in_features], boxes)
                summarise(f'{key}/mask.logits', heads.mask_head.layers(mask_features), arrays)
            else:
                features = [fpn[f] for f in model.head_in_features]
                logits, deltas = model.head(features)
                anchors = torch.cat([a.tensor for a in model.anchor_generator(features)])
                logits = torch.cat([permute_to_N_HWA_K(x, model.num_classes)[0] for x in logits])
                deltas = torch.cat([permute_to_N_HWA_K(x, 4)[0] for x in deltas])
                keep = torch.from_numpy(np.linspace(0, len(anchors) - 1, RETINA_ANCHORS)
                                        .round().astype(np.int64))
                arrays[f'{key}/retina.anchors'] = anchors[keep].numpy()
                arrays[f'{key}/retina.logits'] = logits[keep].numpy()
                arrays[f'{key}/retina.deltas'] = deltas[keep].numpy()
                arrays[f'{key}/retina.num_anchors'] = np.array(len(anchors))
        models[key] = {
            'authors_config': f'object_detection/configs/{config}',
            'version': version,
            'input': {'pixel_mean': list(cfg.MODEL.PIXEL_MEAN),
                      'pixel_std': list(cfg.MODEL.PIXEL_STD), 'format': cfg.INPUT.FORMAT},
            'keys': keys,
        }
        print(f'{key}: {len(keys)} tensors, features '
              f'{ {k: tuple(v.shape) for k, v in fpn.items()} }')
    info = {
        'generated_by': 'tools/dev/make_reference_outputs.py detectron2',
        'weights': 'tools/dev/reference_weights.py (reference_state_dict)',
        'authors_revision': _revision(authors),
        'detectron2_revision': _revision(detectron2),
        'input_shape': list(D2_INPUT_SHAPE),
        'input_seed': D2_INPUT_SEED,
        'samples': f'{SAMPLES} evenly spaced values (np.linspace over the flattened tensor, '
                   'rounded), then mean and mean absolute value',
        'layout': D2_LAYOUT,
        'models': models,
    }
    arrays = {k: v.astype(np.float32) if v.dtype == np.float64 and not k.endswith('.stats')
              else v for k, v in arrays.items()}  # float64 results, kept to float32 precision
    return _write(out_dir, 'detectron2_rest', info, arrays)


# The authors' ImageNet model files, per ResT version, and the class their factories build.
AUTHORS_CLASSIFIERS = {'v1': ('models/rest.py', 'ResT'), 'v2': ('models/rest_v2.py', 'ResTV2')}
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


def load_authors_classifiers(authors: str, versions: Sequence[str] = ('v1', 'v2')
                             ) -> Dict[str, types.ModuleType]:
    """The authors' ImageNet model files of ``versions``, loaded from the checkout ``authors``
    (timm stubbed); shared by this generator and ``benchmarks/fast_path.py``."""
    _stub_timm()
    return {version: sys.modules.get(f'authors_imagenet_{version}') or _load_file(
        f'authors_imagenet_{version}', osp.join(authors, AUTHORS_CLASSIFIERS[version][0]))
        for version in versions}


def build_authors_classifier(module: types.ModuleType, factory: str,
                             arch: Optional[Mapping[str, Sequence[int]]] = None) -> nn.Module:
    """The authors' ``factory`` (e.g. ``rest_lite``) from their ``module``; with ``arch``, the
    same call with its embed_dims / depths / num_heads instead, every other argument (qkv
    bias, multi-head interaction, ratios) as the factory passes it."""
    if arch is None:
        return getattr(module, factory)()
    name = next(cls for _, cls in AUTHORS_CLASSIFIERS.values() if hasattr(module, cls))
    original = getattr(module, name)

    def with_arch(**kwargs: Any) -> nn.Module:
        return original(**{**kwargs, **{k: list(v) for k, v in arch.items()}})

    setattr(module, name, with_arch)  # the factory looks its class up in the module
    try:
        return getattr(module, factory)()
    finally:
        setattr(module, name, original)


def authors_arch(model: nn.Module) -> Dict[str, List[int]]:
    """embed_dims, depths and num_heads of one of the authors' classifiers, read off it."""
    stages = [getattr(model, f'stage{i + 1}') for i in range(4)]
    return {'embed_dims': [s[0].norm1.normalized_shape[0] for s in stages],
            'depths': [len(s) for s in stages],
            'num_heads': [s[0].attn.num_heads for s in stages]}


def authors_forward(model: nn.Module, x: torch.Tensor
                    ) -> Tuple[torch.Tensor, List[Tuple[torch.Tensor, int, int]]]:
    """The authors' own ``forward`` of a classifier: its logits, and what the last block of
    each stage returns (tokens (B, H * W, C) before any norm, with H and W), caught by
    forward hooks, since their classifiers have no per-stage output to call."""
    stages: List[Tuple[torch.Tensor, int, int]] = []

    def catch(block: nn.Module, args: Tuple[Any, ...], tokens: torch.Tensor) -> None:
        _, height, width = args  # every block is called as blk(x, H, W)
        stages.append((tokens, height, width))

    handles = [getattr(model, f'stage{i + 1}')[-1].register_forward_hook(catch)
               for i in range(4)]
    try:
        logits = model(x)
    finally:
        for handle in handles:
            handle.remove()
    return logits, stages


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
        'weights': 'tools/dev/reference_weights.py (reference_state_dict)',
        'authors_revision': _revision(authors),
        'inputs': {k: {'shape': list(shape), 'seed': seed}
                   for k, (shape, seed) in IMAGENET_INPUTS.items()},
        'precision': 'computed in float64, stored in float32',
        'outputs': {'logits': '{model}/{input}/logits: the classifier\'s (B, 1000)',
                    'stages': '{model}/{input}/stage{i}: what the last block of stage i + 1 '
                              'returns, before any norm, as (B, C, H, W)'},
        'layout': IMAGENET_LAYOUT,
        'models': models,
    }
    return _write(out_dir, 'imagenet_rest', info, arrays)


def _write(out_dir: str, name: str, info: Dict[str, Any],
           arrays: Dict[str, np.ndarray]) -> List[str]:
    os.makedirs(out_dir, exist_ok=True)
    json_path, npz_path = osp.join(out_dir, f'{name}.json'), osp.join(out_dir, f'{name}.npz')
    with open(json_path, 'w') as f:
        json.dump(info, f, indent=1)
    np.savez_compressed(npz_path, **arrays)
    return [json_path, npz_path]


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('family', choices=['upernet', 'detectron2', 'imagenet'],
                        help='which published files')
    parser.add_argument('--authors', required=True, help="checkout of the authors' ResT repo")
    parser.add_argument('--mmseg0', help='checkout of mmsegmentation 0.x (upernet)')
    parser.add_argument('--detectron2', help='checkout of detectron2 (detectron2)')
    parser.add_argument('--out', default=osp.join('tests', 'fixtures'), help='output folder')
    args = parser.parse_args(argv)
    needed = {'upernet': 'mmseg0', 'detectron2': 'detectron2'}.get(args.family)
    if needed is not None and getattr(args, needed) is None:
        parser.error(f'{args.family} needs --{needed}')
    if args.family == 'upernet':
        paths = record_upernet(args.authors, args.mmseg0, args.out)
    elif args.family == 'detectron2':
        paths = record_detectron2(args.authors, args.detectron2, args.out)
    else:
        paths = record_imagenet(args.authors, args.out)
    for path in paths:
        print(f'wrote {path} ({osp.getsize(path) / 1e6:.2f} MB)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
