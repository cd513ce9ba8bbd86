"""Cascade Mask R-CNN and Mask2Former on ResTv2 (mmdet's and mmseg's recipes): each family
trains two iterations and runs a test pass on small synthetic data (COCO-style instances,
ADE-style masks), its backbone loading a checkpoint in the authors' layout through
``init_cfg``; the FPS tool times them (the speed suite's parts:
tests/test_analysis/test_speed_suite.py)."""
import json
from pathlib import Path

import pytest

from mmrest import ResTV2, apis
from mmrest.apis import load_config
from tests.common import CONFIGS
from tests.reference import write_authors_imagenet
from tests.tiny_tasks import FAMILY_TASKS, TINY_ARCH, task_options

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures('single_thread')]


@pytest.fixture(scope='module')
def authors_checkpoint(tmp_path_factory) -> Path:
    """A ResTv2 ImageNet checkpoint as the authors publish it (``{'model': ...}`` with the
    classifier's final norm and head), for the tiny arch of the tasks (tests/fixtures)."""
    path = tmp_path_factory.mktemp('checkpoints') / 'restv2_tiny_arch_224.pth'
    return write_authors_imagenet(path, ResTV2.version, TINY_ARCH)


@pytest.mark.parametrize('name', list(FAMILY_TASKS))
def test_trains_and_tests_on_small_data(name, data, authors_checkpoint, tmp_path):
    task = FAMILY_TASKS[name]
    options = {**task_options(task, data),
               'model.backbone.init_cfg': dict(type='Pretrained',
                                               checkpoint=str(authors_checkpoint))}
    cfg = load_config(str(task.config), work_dir=str(tmp_path / 'train'), cfg_options=options)
    runner = apis.train(cfg)
    report = runner.model.backbone.load_report
    assert report is not None and report.clean, report and report.summary()
    assert report.skipped == {'ImageNet classifier head': ['head.weight', 'head.bias']}
    assert len(report.loaded) == len(runner.model.backbone.state_dict()) - len(report.new)
    checkpoint = tmp_path / 'train' / task.checkpoint(1)
    assert checkpoint.is_file()

    options['model.backbone.init_cfg'] = None  # the trained checkpoint holds every weight
    cfg = load_config(str(task.config), work_dir=str(tmp_path / 'test'), cfg_options=options)
    metrics = apis.test(cfg, str(checkpoint))
    assert task.metric in metrics


@pytest.mark.parametrize('config,size', [
    ('cascade_mask_rcnn_restv2_t_3x.py', '96x64'),
    ('mask2former_restv2_t_lsj_50e_coco.py', '96x64'),
    ('mask2former_restv2_t_160k_ade20k.py', '64x64'),
])
def test_fps_tool_runs(config, size, tmp_path):
    from tools.analysis.benchmark import main
    out = tmp_path / 'fps.json'
    assert main([str(CONFIGS / config), '--device', 'cpu', '--input', size, '--iters', '1',
                 '--warmup', '1', '--repeats', '1', '--json', str(out)]) == 0
    assert json.loads(out.read_text())['results']['images_per_s_median'] > 0
