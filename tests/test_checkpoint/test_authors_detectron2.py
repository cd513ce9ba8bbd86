"""The authors' detectron2 Mask R-CNN and RetinaNet files convert into mmrest's configs and give
the authors' outputs.

The oracle is the authors' detectron2 backbones with detectron2's own FPN, RPN, RoI heads,
RetinaNet head and anchor generators: ``tools/dev/make_reference_outputs.py detectron2`` built
each published model from the authors' configs with the weights of
``tests/reference_weights.py`` and recorded in ``tests/fixtures/detectron2_rest.*`` the key
names and shapes of its checkpoint, its input format and what it computes on a normalised
input, in float64. Here each file is rebuilt from those figures, and mmrest's model runs in
float64 too: with random weights, float32 rounding in ResT v1's InstanceNorm over attention
maps reaches 4e-4 by stage 4 in either implementation. No detectron2, no network.
"""
import json
import pickle
import re
from typing import Dict, Tuple

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.config import Config

from mmrest.apis import build_model, load_config
from mmrest.checkpoint import CheckpointMismatchError
from mmrest.converters import convert_official, recognise_official
from tests.common import CONFIGS, FIXTURES, requires
from tests.reference_weights import reference_input, reference_state_dict
from tools.convert_official import main as convert_main

pytestmark = [pytest.mark.slow, requires('mmdet')]  # (the README's test command runs it)

D2 = json.loads((FIXTURES / 'detectron2_rest.json').read_text())
OUTPUTS = dict(np.load(FIXTURES / 'detectron2_rest.npz'))
# The authors' published detectron2 files and the mmrest config each belongs to.
CONFIG_OF = {
    'mask_rcnn_rest_small': 'mask_rcnn_rest_s_1x.py',
    'mask_rcnn_rest_base': 'mask_rcnn_rest_b_1x.py',
    'mask_rcnn_restv2_tiny': 'mask_rcnn_restv2_t_3x.py',
    'mask_rcnn_restv2_small': 'mask_rcnn_restv2_s_3x.py',
    'mask_rcnn_restv2_base': 'mask_rcnn_restv2_b_3x.py',
    'retinanet_rest_small': 'retinanet_rest_s_1x.py',
    'retinanet_rest_base': 'retinanet_rest_b_1x.py',
}
ATOL = 1e-4


def authors_state(name: str) -> Dict[str, torch.Tensor]:
    return reference_state_dict(D2['models'][name]['keys'])


def authors_checkpoint(name: str) -> dict:
    """As detectron2's trainer saves it (the model, the trainer's state, the iteration)."""
    checkpoint = {'model': authors_state(name), 'trainer': {'iteration': 89999, 'hooks': {}},
                  'iteration': 89999}
    assert sorted(checkpoint) == sorted(D2['layout']['top_level'])
    return checkpoint


def build(name: str) -> nn.Module:
    cfg = load_config(str(CONFIGS / CONFIG_OF[name]),
                      cfg_options={'model.backbone.init_cfg': None})
    return build_model(cfg)[0]


def assert_summary(name: str, tensor: torch.Tensor) -> None:
    """``tensor`` against the recorded samples and statistics of the authors' output."""
    assert tuple(tensor.shape) == tuple(OUTPUTS[f'{name}.shape'])
    flat = tensor.reshape(-1)
    index = np.linspace(0, flat.numel() - 1, len(OUTPUTS[f'{name}.sample'])).round()
    torch.testing.assert_close(flat[torch.from_numpy(index.astype(np.int64))],
                               recorded(f'{name}.sample'), rtol=0, atol=ATOL)
    stats = torch.tensor([flat.mean().item(), flat.abs().mean().item()], dtype=torch.float64)
    torch.testing.assert_close(stats, recorded(f'{name}.stats'), rtol=0, atol=ATOL)


def by_anchor(ours: torch.Tensor, theirs: np.ndarray) -> np.ndarray:
    """For each of the authors' anchors, the index of the same box among ours."""
    index = {tuple(np.round(box, 2)): i for i, box in enumerate(ours.float().numpy())}
    found = [index.get(tuple(np.round(box, 2))) for box in theirs]
    assert None not in found, 'an anchor of the authors has no equal among mmdet\'s'
    return np.array(found)


@pytest.fixture(scope='module', params=list(CONFIG_OF))
def converted(request) -> Tuple[str, nn.Module]:
    name = request.param
    conversion = convert_official(authors_checkpoint(name), f'{name}.pth')
    assert conversion.official.config == CONFIG_OF[name]
    model = build(name)
    model.load_state_dict(conversion.checkpoint['state_dict'], strict=True)
    return name, model.double()


def authors_input() -> torch.Tensor:
    return reference_input(D2['input_shape'], D2['input_seed']).double()


def recorded(name: str) -> torch.Tensor:
    return torch.from_numpy(OUTPUTS[name]).double()


def test_backbone_and_fpn_features(converted):
    name, model = converted
    image = authors_input()
    with torch.no_grad():
        features = model.backbone(image)
        pyramid = model.neck(features)
    stages = sorted(k.split('.')[1] for k in OUTPUTS if k.startswith(f'{name}/backbone.')
                    and k.endswith('.shape'))
    levels = sorted(k.split('.')[1] for k in OUTPUTS if k.startswith(f'{name}/fpn.')
                    and k.endswith('.shape'))
    assert len(features) == len(stages) and len(pyramid) == len(levels) == 5
    for stage, feature in zip(stages, features):
        assert_summary(f'{name}/backbone.{stage}', feature)
    for level, feature in zip(levels, pyramid):
        assert_summary(f'{name}/fpn.{level}', feature)


def test_dense_heads_per_anchor(converted):
    """RPN objectness and deltas, or RetinaNet class logits and deltas, anchor by anchor
    (matched by box, so the order of the anchors of a location must agree too)."""
    name, model = converted
    image = authors_input()
    with torch.no_grad():
        pyramid = model.neck(model.backbone(image))
    head = model.rpn_head if hasattr(model, 'rpn_head') else model.bbox_head
    with torch.no_grad():
        scores, deltas = head(pyramid)
    anchors = torch.cat(head.prior_generator.grid_priors(
        [f.shape[-2:] for f in pyramid], dtype=torch.float64, device='cpu'))
    classes = scores[0].shape[1] // head.num_base_priors
    scores = torch.cat([s[0].permute(1, 2, 0).reshape(-1, classes) for s in scores])
    deltas = torch.cat([d[0].permute(1, 2, 0).reshape(-1, 4) for d in deltas])
    if hasattr(model, 'rpn_head'):
        theirs = OUTPUTS[f'{name}/rpn.anchors']
        assert len(anchors) == len(theirs)
        match = by_anchor(anchors, theirs)
        torch.testing.assert_close(scores[match, 0],
                                   recorded(f'{name}/rpn.objectness'),
                                   rtol=0, atol=ATOL)
        torch.testing.assert_close(deltas[match], recorded(f'{name}/rpn.deltas'),
                                   rtol=0, atol=ATOL)
    else:
        assert len(anchors) == int(OUTPUTS[f'{name}/retina.num_anchors'])
        match = by_anchor(anchors, OUTPUTS[f'{name}/retina.anchors'])
        torch.testing.assert_close(scores[match],
                                   recorded(f'{name}/retina.logits'),
                                   rtol=0, atol=ATOL)
        torch.testing.assert_close(deltas[match],
                                   recorded(f'{name}/retina.deltas'),
                                   rtol=0, atol=ATOL)


@pytest.mark.parametrize('converted', [n for n in CONFIG_OF if n.startswith('mask_rcnn')],
                         indirect=True)
def test_roi_heads_for_given_rois(converted):
    name, model = converted
    image = authors_input()
    boxes = recorded('rois')
    rois = torch.cat([torch.zeros(len(boxes), 1), boxes], dim=1)
    with torch.no_grad():
        pyramid = model.neck(model.backbone(image))
        heads = model.roi_head
        box_features = heads.bbox_roi_extractor(
            pyramid[:heads.bbox_roi_extractor.num_inputs], rois)
        scores, deltas = heads.bbox_head(box_features)
        mask_features = heads.mask_roi_extractor(
            pyramid[:heads.mask_roi_extractor.num_inputs], rois)
        masks = heads.mask_head(mask_features)
    torch.testing.assert_close(scores, recorded(f'{name}/box.scores'),
                               rtol=0, atol=ATOL)
    torch.testing.assert_close(deltas, recorded(f'{name}/box.deltas'),
                               rtol=0, atol=ATOL)
    assert_summary(f'{name}/mask.logits', masks)


@pytest.mark.parametrize('name', list(CONFIG_OF))
def test_each_config_takes_the_input_its_family_was_trained_with(name):
    authors = D2['models'][name]['input']
    preprocessor = Config.fromfile(str(CONFIGS / CONFIG_OF[name])).model.data_preprocessor
    assert preprocessor.mean == authors['pixel_mean']
    assert preprocessor.std == authors['pixel_std']
    # mmdet loads images as BGR; bgr_to_rgb gives the model RGB
    assert preprocessor.bgr_to_rgb == (authors['format'] == 'RGB')


def test_every_resv2_config_keeps_rgb_imagenet_input():
    """The ResT (v1) detectron2 input must not leak into the ResTv2 configs that inherit
    v1 ones, nor anywhere else."""
    import mmrest  # noqa: F401  (mmrest:: bases)
    checked = 0
    for path in sorted(CONFIGS.rglob('*.py')):
        if '_base_' in path.parts:
            continue
        cfg = Config.fromfile(str(path))
        if cfg.model.backbone.type.split('.')[-1] != 'ResTV2':
            continue
        preprocessor = cfg.get('data_preprocessor') if cfg.get('default_scope') == \
            'mmpretrain' else cfg.model.data_preprocessor
        assert preprocessor.mean == [123.675, 116.28, 103.53], path.name
        assert preprocessor.std == [58.395, 57.12, 57.375], path.name
        assert preprocessor.get('bgr_to_rgb', preprocessor.get('to_rgb')) is True, path.name
        assert not cfg.model.backbone.get('norm_in_trunk', False), path.name
        checked += 1
    assert checked > 30


@pytest.mark.parametrize('fmt', ['pth', 'pkl'])
def test_convert_a_file_as_downloaded(tmp_path, capsys, fmt):
    name = 'mask_rcnn_restv2_tiny' if fmt == 'pth' else 'retinanet_rest_small'
    src = tmp_path / f'{name}.{fmt}'
    if fmt == 'pth':
        torch.save(authors_checkpoint(name), src)
    else:  # detectron2's .pkl: numpy arrays
        with open(src, 'wb') as f:
            pickle.dump({'model': {k: v.numpy() for k, v in authors_state(name).items()},
                         '__author__': 'ResT', 'matching_heuristics': True}, f)
    dst = tmp_path / 'converted.pth'
    config = str(CONFIGS / CONFIG_OF[name])
    assert convert_main([str(src), str(dst), '--config', config]) == 0
    out = capsys.readouterr().out
    assert f'checked: {config} loads it with strict=True' in out
    assert 'detectron2' in out.splitlines()[0]
    converted = torch.load(dst, weights_only=True)['state_dict']
    expected = convert_official(authors_checkpoint(name), name).checkpoint['state_dict']
    assert sorted(converted) == sorted(expected)
    assert all(torch.equal(v, expected[k]) for k, v in converted.items())


def test_a_pkl_with_code_in_it_is_refused(tmp_path, capsys):
    src = tmp_path / 'evil.pkl'
    with open(src, 'wb') as f:
        pickle.dump({'model': {'x': np.zeros(1)}, 'hook': print}, f)
    assert convert_main([str(src), str(tmp_path / 'out.pth')]) == 2
    assert 'refusing builtins.print' in capsys.readouterr().err


def test_a_v1_file_meeting_a_v2_config_fails_saying_so(tmp_path, capsys):
    """The authors' README links the same file for ResTv2-S and ResT-S Mask R-CNN."""
    src = tmp_path / 'mask_rcnn_restv2_small_FPN_3x.pth'
    torch.save(authors_checkpoint('mask_rcnn_rest_small'), src)
    assert convert_main([str(src), str(tmp_path / 'out.pth'), '--config',
                         str(CONFIGS / 'mask_rcnn_restv2_s_3x.py')]) == 2
    err = capsys.readouterr().err
    assert re.search(r"(?s)the authors' ResT \(v1\) small Mask R-CNN.*configs/"
                     r'mask_rcnn_rest_s_1x.py.*is a ResT \(v1\) checkpoint but the model is '
                     r'ResTv2', err), err


@pytest.mark.parametrize('name', list(CONFIG_OF))
def test_every_published_detectron2_file_is_recognised(name):
    state = {k: torch.empty(s, device='meta') for k, s in D2['models'][name]['keys']}
    official = recognise_official({'model': state}, f'{name}.pth')
    assert official.config == CONFIG_OF[name]
    assert official.version == D2['models'][name]['version']


def test_unknown_detectron2_tensors_are_not_dropped_silently():
    checkpoint = authors_checkpoint('retinanet_rest_small')
    checkpoint['model']['head.extra_conv.weight'] = torch.zeros(1)
    with pytest.raises(CheckpointMismatchError, match='no counterpart.*head.extra_conv.weight'):
        convert_official(checkpoint, 'retinanet.pth')
