"""The authors' published UperNets (ResTv2-T/S/B on ADE20K, their configs), built under the
attribute names of mmseg 0.x's ``EncoderDecoder`` (``backbone``, ``decode_head``,
``auxiliary_head``) from their backbone module and mmseg 0.x's decode heads (``--mmseg0``, whose
``UPerHead`` / ``FCNHead`` they trained with; mmcv 2.x provides ``ConvModule``, whose parameter
names are those of mmcv 1.x; the few mmcv 1.x / mmseg 0.x imports are stubbed).

``upernet_restv2.json``: the checkpoint layout of mmcv 1.x's ``save_checkpoint`` and every key of
``state_dict`` with its shape; ``upernet_restv2.npz``: the four backbone outputs and both heads'
logits.
"""
import importlib
import os.path as osp
import sys
from typing import Any, Callable, Dict, List

import numpy as np
import torch
import torch.nn as nn

from tests.reference_weights import reference_input, reference_state_dict

from ..authors_code import load_file, stub_module, stub_package, stub_timm
from .files import revision, write

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


class _Registry:
    def register_module(self, *args: Any, **kwargs: Any) -> Callable:
        return lambda cls: cls


def _identity_decorator(*args: Any, **kwargs: Any) -> Callable:
    return lambda func: func


def install_stubs(mmseg0: str) -> None:
    """Just enough of timm, mmcv 1.x and mmseg 0.x for the authors' backbone module and mmseg
    0.x's decode heads; the heads' own files come from the ``mmseg0`` checkout."""
    from mmengine.model import BaseModule, normal_init
    stub_timm()

    import mmcv.cnn  # mmcv 2.x: ConvModule keeps mmcv 1.x's parameter names
    if not hasattr(mmcv.cnn, 'normal_init'):
        mmcv.cnn.normal_init = normal_init
    stub_module('mmcv.runner', BaseModule=BaseModule, auto_fp16=_identity_decorator,
                force_fp32=_identity_decorator,
                _load_checkpoint=lambda *a, **k: (_ for _ in ()).throw(NotImplementedError()))

    root = osp.join(mmseg0, 'mmseg')
    stub_package('mmseg', root)
    stub_package('mmseg.ops', osp.join(root, 'ops'))
    wrappers = load_file('mmseg.ops.wrappers', osp.join(root, 'ops', 'wrappers.py'))
    sys.modules['mmseg.ops'].resize = wrappers.resize
    stub_module('mmseg.core', build_pixel_sampler=None, add_prefix=None)
    stub_module('mmseg.utils', get_root_logger=lambda *a, **k: None)
    stub_package('mmseg.models', osp.join(root, 'models'))
    stub_module('mmseg.models.builder', HEADS=_Registry(), BACKBONES=_Registry(),
                build_loss=lambda cfg: nn.Identity())  # losses hold no parameters
    stub_module('mmseg.models.losses', accuracy=None)
    stub_package('mmseg.models.decode_heads', osp.join(root, 'models', 'decode_heads'))


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
    backbone_module = sys.modules.get('authors_restv2_seg') or load_file(
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
        'weights': 'tests/reference_weights.py (reference_state_dict)',
        'authors_revision': revision(authors),
        'mmseg0_version': version.get('__version__', 'unknown'),
        'mmseg0_revision': revision(mmseg0),
        'input_shape': list(INPUT_SHAPE),
        'input_seed': INPUT_SEED,
        'layout': MMSEG0_LAYOUT,
        'models': models,
    }
    return write(out_dir, 'upernet_restv2', info, arrays)
