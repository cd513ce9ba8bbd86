"""The authors' published detectron2 models (Mask R-CNN ResT-S/B 1x and ResTv2-T/S/B 3x,
RetinaNet ResT-S/B 1x), built by detectron2's ``build_model`` from their configs (``--detectron2``:
a checkout of detectron2, not built: its compiled ops are not needed; DEPS holds fvcore, iopath,
yacs, omegaconf, tabulate, termcolor, portalocker and cloudpickle).

``detectron2_rest.json``: the checkpoint layout of detectron2's checkpointer, every key of
``model`` with its shape, the input format (pixel mean / std, BGR or RGB); ``.npz`` (computed in
float64, stored in float32): for a normalised input, the backbone and FPN outputs (evenly spaced
samples and statistics of large ones), per anchor the anchor box and the RPN objectness and
deltas / RetinaNet class logits and deltas, and for given RoIs the box head's scores and deltas
and the mask head's logits.
"""
import os.path as osp
import sys
from typing import Any, Dict, List, Tuple

import numpy as np
import torch
import torch.nn as nn

from tests.reference_weights import reference_input, reference_state_dict

from ..authors_code import stub_timm
from .files import revision, write

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
    stub_timm()
    for path in (osp.join(authors, 'object_detection'), detectron2):
        if path not in sys.path:
            sys.path.insert(0, path)


def build_detectron2_model(authors: str, config: str, version: str) -> Tuple[Any, nn.Module]:
    """The detectron2 config (``config`` under the authors' ``object_detection/configs``) and
    its model, in eval mode on the CPU."""
    from detectron2.config import get_cfg
    from detectron2.modeling import build_model
    from restv2.config import add_restv1_config, add_restv2_config

    cfg = get_cfg()
    (add_restv1_config if version == 'v1' else add_restv2_config)(cfg)
    cfg.merge_from_file(osp.join(authors, 'object_detection', 'configs', config))
    cfg.MODEL.DEVICE = 'cpu'
    # The v1 backbone's freezing fails for FREEZE_AT >= 1 (it looks up patch_embed_0);
    # freezing changes nothing in eval mode.
    cfg.MODEL.BACKBONE.FREEZE_AT = 0
    return cfg, build_model(cfg).eval()


def _record_rcnn_heads(key: str, model: nn.Module, fpn: Dict[str, torch.Tensor],
                       rois: torch.Tensor, arrays: Dict[str, np.ndarray]) -> None:
    """Mask R-CNN: per anchor its box and the RPN's objectness and deltas; for ``rois`` the box
    head's scores and deltas and the mask head's logits."""
    from detectron2.modeling.meta_arch.dense_detector import permute_to_N_HWA_K
    from detectron2.structures import Boxes

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


def _record_retinanet_head(key: str, model: nn.Module, fpn: Dict[str, torch.Tensor],
                           arrays: Dict[str, np.ndarray]) -> None:
    """RetinaNet: for evenly spaced anchors, the anchor box and the class logits and deltas."""
    from detectron2.modeling.meta_arch.dense_detector import permute_to_N_HWA_K

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


def record_detectron2(authors: str, detectron2: str, out_dir: str) -> List[str]:
    install_detectron2_stubs(authors, detectron2)
    import restv2  # noqa: F401  (the authors' backbones register themselves)

    torch.manual_seed(0)
    image = reference_input(D2_INPUT_SHAPE, D2_INPUT_SEED).double()
    rois = torch.tensor(D2_ROIS, dtype=torch.float64)
    arrays: Dict[str, np.ndarray] = {'rois': rois.numpy()}
    models = {}
    for key, (config, version) in D2_MODELS.items():
        cfg, model = build_detectron2_model(authors, config, version)
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
                _record_rcnn_heads(key, model, fpn, rois, arrays)
            else:
                _record_retinanet_head(key, model, fpn, arrays)
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
        'weights': 'tests/reference_weights.py (reference_state_dict)',
        'authors_revision': revision(authors),
        'detectron2_revision': revision(detectron2),
        'input_shape': list(D2_INPUT_SHAPE),
        'input_seed': D2_INPUT_SEED,
        'samples': f'{SAMPLES} evenly spaced values (np.linspace over the flattened tensor, '
                   'rounded), then mean and mean absolute value',
        'layout': D2_LAYOUT,
        'models': models,
    }
    arrays = {k: v.astype(np.float32) if v.dtype == np.float64 and not k.endswith('.stats')
              else v for k, v in arrays.items()}  # float64 results, kept to float32 precision
    return write(out_dir, 'detectron2_rest', info, arrays)
