"""End-to-end ONNX export (image in, results out): agreement with mmdet / mmseg's predict()
at three image sizes that are not multiples of 32, standard operators only, clear errors,
and the torch-free runner.

The models are the tool tests' tiny tasks (random weights) with every detection kept
(score threshold 0), so that each image has at least 50 detections to compare.
"""
import copy
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

onnx = pytest.importorskip('onnx')
ort = pytest.importorskip('onnxruntime')

from mmrest.deploy.end2end import (  # noqa: E402
    DEFAULT_SIZES,
    UnsupportedModelError,
    check_standard_graph,
    export_end2end,
    verification_images,
    verify_end2end,
)
from tests.common import REPO  # noqa: E402
from tests.tiny_tasks import FAMILY_TASKS, TASKS  # noqa: E402
from tools.deploy import export_onnx as export_onnx_tool  # noqa: E402
from tools.deploy import run_onnx  # noqa: E402

pytestmark = pytest.mark.slow

# Test resize to fit 171x141 (w, h): resized sizes that are not multiples of 32 either.
TEST_SCALE = (171, 141)
MODELS = {
    'retinanet': (TASKS['retinanet'], {'model.test_cfg.score_thr': 0.0}),
    'mask_rcnn': (TASKS['mask_rcnn'], {'model.test_cfg.rcnn.score_thr': 0.0}),
    'cascade': (FAMILY_TASKS['cascade'], {'model.test_cfg.rcnn.score_thr': 0.0}),
    'upernet': (TASKS['upernet'], {}),
}


def options(name: str, data) -> dict:
    task, extra = MODELS[name]
    opts = task.options(data)
    opts['test_dataloader.dataset.pipeline.1.scale'] = TEST_SCALE
    opts.update(extra)
    return opts


@pytest.fixture(scope='module')
def exported(data, tmp_path_factory, single_thread):
    """Each model exported once for the module: name -> End2EndExport."""
    cache = {}

    def get(name: str):
        if name not in cache:
            out = tmp_path_factory.mktemp('end2end') / f'{name}.onnx'
            cache[name] = export_end2end(MODELS[name][0].config, path=out,
                                         cfg_options=options(name, data))
        return cache[name]

    return get


@pytest.mark.parametrize('name', list(MODELS))
def test_end2end_agrees_with_predict(name, exported):
    result = exported(name)
    model = onnx.load(result.path)
    check_standard_graph(model)  # every node ai.onnx, onnx.checker passes
    assert [o.name for o in model.graph.output] == result.output_names
    images = verification_images(DEFAULT_SIZES)
    checks = verify_end2end(result.path, result.model, result.cfg, images, result.task,
                            raise_on_mismatch=False)
    print('\n'.join(c.summary() for c in checks))
    assert all(c.passed for c in checks), '\n'.join(c.summary() for c in checks)
    assert len(checks) == 2 * len(DEFAULT_SIZES)
    for check in checks:
        assert all(s % 32 for s in check.image_hw + check.resized_hw)
        if result.task == 'detection':
            assert min(check.detections) >= 50
        if check.path == 'raw':  # the graph's preprocessing is the pipeline's, bit for bit
            assert check.input_diff == 0
    if name in ('mask_rcnn', 'cascade'):
        assert result.output_names == ['boxes', 'scores', 'labels', 'masks']
        assert all(c.min_mask_iou is not None for c in checks)


def test_outputs_at_input_size(exported):
    session = ort.InferenceSession(exported('mask_rcnn').path, providers=['CPUExecutionProvider'])
    image = verification_images([(97, 203)])[0]
    boxes, scores, labels, masks = session.run(None, {'image': image})
    assert masks.shape[1:] == (97, 203) and masks.dtype == np.uint8
    assert masks.reshape(len(masks), -1).any(1).mean() > 0.5  # mask IoUs are not of nothing
    assert labels.dtype == np.int64 and boxes.shape == (len(scores), 4)
    assert (np.diff(scores) <= 0).all()  # by descending score
    (label_map, ) = ort.InferenceSession(exported('upernet').path).run(None, {'image': image})
    assert label_map.shape == (97, 203) and label_map.dtype == np.int64


def test_verification_catches_a_changed_model(exported):
    import torch
    result = exported('retinanet')
    # Changed in place and put back (pytest 9's monkeypatch deletes a parameter on undo).
    bias = result.model.bbox_head.retina_reg.bias
    original = bias.detach().clone()
    try:
        with torch.no_grad():
            bias += 0.05
        checks = verify_end2end(result.path, result.model, result.cfg,
                                verification_images(DEFAULT_SIZES[:1]), result.task,
                                from_raw=None, raise_on_mismatch=False)
    finally:
        with torch.no_grad():
            bias.copy_(original)
    assert not checks[0].passed and checks[0].min_box_iou < 0.99


def test_raw_image_check_catches_another_preprocessing(exported):
    """The raw-image comparison sees the preprocessing: a test pipeline that resizes to
    another scale than the graph's fails it."""
    result = exported('retinanet')
    cfg = copy.deepcopy(result.cfg)
    cfg.test_dataloader.dataset.pipeline[1].scale = (TEST_SCALE[0] + 3, TEST_SCALE[1] + 3)
    checks = verify_end2end(result.path, result.model, cfg,
                            verification_images(DEFAULT_SIZES[:1]), result.task,
                            raise_on_mismatch=False)
    tensor, raw = checks
    assert tensor.passed and raw.input_diff > 0 and not raw.passed


# --------------------------------------------------------------------------- clear errors
def test_uncovered_head_is_refused_before_writing(data, tmp_path):
    out = tmp_path / 'm2f.onnx'
    task = FAMILY_TASKS['mask2former_coco']
    with pytest.raises(UnsupportedModelError, match='not covered'):
        export_end2end(task.config, path=out, cfg_options=task.options(data))
    assert not list(tmp_path.iterdir())


def test_opset_too_low_is_refused_before_writing(data, tmp_path):
    out = tmp_path / 'low.onnx'
    with pytest.raises(ValueError, match='needs opset 16'):
        export_end2end(TASKS['mask_rcnn'].config, path=out, opset=15,
                       cfg_options=options('mask_rcnn', data))
    assert not list(tmp_path.iterdir())


def test_wrong_channel_count(exported):
    path = exported('upernet').path
    session = run_onnx.load_session(path)
    for bad in (np.zeros((40, 50, 4), np.uint8), np.zeros((40, 50), np.uint8)):
        with pytest.raises(run_onnx.InputError, match='3 channels'):
            run_onnx.run(session, bad)
    with pytest.raises(run_onnx.InputError, match='uint8'):
        run_onnx.run(session, np.zeros((40, 50, 3), np.float32))
    # The graph itself refuses it too (its channel axis is fixed to 3).
    with pytest.raises(Exception, match='image'):
        session.run(None, {'image': np.zeros((40, 50, 4), np.uint8)})


# ------------------------------------------------------------------------- the tool, the runner
def test_export_tool_end2end(data, tmp_path, capsys):
    from mmrest.apis import load_config
    config = tmp_path / 'upernet_tiny.py'
    load_config(TASKS['upernet'].config, cfg_options=options('upernet', data)).dump(config)
    out = tmp_path / 'seg.onnx'
    args = [str(config), '--end2end', '--verify', '--out', str(out)]
    code = export_onnx_tool.main(args)
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert printed.out.count('verified') == 6 and 'label_map' in printed.out
    # a config whose model is not covered: exit code 2, one line, no file
    bad = tmp_path / 'bad.onnx'
    config = tmp_path / 'm2f_tiny.py'
    task = FAMILY_TASKS['mask2former_ade']
    load_config(task.config, cfg_options=task.options(data)).dump(config)
    code = export_onnx_tool.main([str(config), '--end2end', '--out', str(bad)])
    assert code == 2 and not bad.exists()
    assert 'not covered' in capsys.readouterr().err


BLOCK_TORCH = textwrap.dedent('''
    import importlib.abc, runpy, sys

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split('.')[0] in ('torch', 'torchvision') or name.startswith('mm'):
                raise ImportError(f'{name} must not be imported by the runner')

    sys.meta_path.insert(0, Block())
    sys.argv = sys.argv[1:]
    runpy.run_path(sys.argv[0], run_name='__main__')
''')


@pytest.mark.parametrize('name', ['mask_rcnn', 'upernet'])
def test_runner_without_torch(name, exported, tmp_path):
    import cv2
    image = tmp_path / 'image.png'
    cv2.imwrite(str(image), verification_images([(133, 201)])[0][:, :, ::-1])
    drawing = tmp_path / 'drawing.png'
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    proc = subprocess.run(
        [sys.executable, '-c', BLOCK_TORCH, str(REPO / 'tools' / 'deploy' / 'run_onnx.py'),
         exported(name).path, str(image), '--out', str(drawing), '--score-thr', '0'],
        capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert drawing.is_file() and cv2.imread(str(drawing)).shape == (133, 201, 3)
    assert ('detections' if name == 'mask_rcnn' else 'label map') in proc.stdout
    # A 4-channel image: a one-line error, exit code 2.
    rgba = tmp_path / 'rgba.png'
    cv2.imwrite(str(rgba), np.zeros((20, 30, 4), np.uint8))
    proc = subprocess.run(
        [sys.executable, '-c', BLOCK_TORCH, str(REPO / 'tools' / 'deploy' / 'run_onnx.py'),
         exported(name).path, str(rgba)], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 2 and 'error: the image must have 3 channels' in proc.stderr
