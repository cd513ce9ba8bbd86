"""The built-in demo (``tools/demo.py``, :mod:`mmrest.apis.demo`, the data cache of
:mod:`mmrest.datasets.synthetic.cache`).

The ``--quick`` path runs every stage end to end (data, untrained evaluation, training,
trained evaluation with prediction images, summary) on a handful of images; that the full demo
really learns is too slow to check here and is documented in the README instead.
"""
import json
from pathlib import Path

import pytest

from mmrest.apis import ConfigError, demo
from mmrest.datasets import DEFAULT_CLASSES
from tools import demo as demo_tool  # the checkout is on sys.path (conftest.py)

pytestmark = pytest.mark.slow  # (the README's test command runs it)

METRIC_KEYS = ('coco/bbox_mAP', 'coco/segm_mAP')


@pytest.fixture(scope='module')
def quick_run(tmp_path_factory):
    """One quick demo through the command line, shared by the checks below."""
    tmp = tmp_path_factory.mktemp('demo')
    work_dir, data_root = tmp / 'work', tmp / 'data'
    argv = ['--quick', '--work-dir', str(work_dir), '--data-root', str(data_root)]
    assert demo_tool.main(argv) == 0  # the command line, as the README runs it
    summary = json.loads((work_dir / 'demo_summary.json').read_text())
    return work_dir, data_root, summary


def test_quick_summary_has_before_and_after_metrics(quick_run):
    work_dir, data_root, summary = quick_run
    assert summary['quick'] and summary['iters'] == demo.QUICK_ITERS
    assert summary['num_train_images'] == demo.QUICK_DATA['num_train']
    assert summary['num_val_images'] == demo.QUICK_DATA['num_val']
    for stage in ('before', 'after'):
        for key in METRIC_KEYS:
            assert 0.0 <= summary[stage][key] <= 1.0 or summary[stage][key] == -1.0, (stage, key)
    assert summary['train_time_s'] > 0 and summary['total_time_s'] >= summary['train_time_s']
    assert summary['num_params'] > 0
    assert summary['data_root'] == str(data_root)


def test_quick_writes_checkpoints_logs_and_images(quick_run):
    work_dir, _, summary = quick_run
    assert Path(summary['initial_checkpoint']) == work_dir / 'iter_0.pth'
    assert Path(summary['checkpoint']) == work_dir / f'iter_{demo.QUICK_ITERS}.pth'
    for key in ('initial_checkpoint', 'checkpoint'):
        assert Path(summary[key]).is_file()
    assert any(Path(summary['log_dir']).glob('*.log'))
    images = sorted(Path(summary['show_dir']).glob('*.jpg'))
    assert len(images) == summary['num_prediction_images'] == demo.QUICK_DATA['num_val']


def test_summary_format(quick_run):
    _, _, summary = quick_run
    text = demo.DemoSummary(**summary).format()
    for word in ('untrained', 'trained', 'bbox_mAP', 'segm_mAP', summary['checkpoint'],
                 summary['show_dir'], summary['log_dir']):
        assert word in text


def test_data_is_reused_or_replaced(tmp_path):
    params = dict(num_train=2, num_val=1, image_size=(48, 64), seed=3)
    info, generated = demo.prepare_synthetic_coco(tmp_path / 'set', **params)
    assert generated and info.num_images == {'train': 2, 'val': 1}
    ann = info.ann_files['train']
    mtime = ann.stat().st_mtime_ns
    again, generated = demo.prepare_synthetic_coco(tmp_path / 'set', **params)
    assert not generated and again == info and ann.stat().st_mtime_ns == mtime
    # Other parameters: the demo's own earlier set is replaced.
    other, generated = demo.prepare_synthetic_coco(tmp_path / 'set', **dict(params, num_train=3))
    assert generated and other.num_images['train'] == 3
    assert len(list(other.img_dirs['train'].iterdir())) == 3


def test_data_of_others_is_not_replaced(tmp_path):
    foreign = tmp_path / 'set'
    (foreign / 'train').mkdir(parents=True)
    (foreign / 'train' / 'keep.jpg').write_bytes(b'not ours')
    with pytest.raises(FileExistsError):
        demo.prepare_synthetic_coco(foreign, num_train=2, num_val=1, image_size=(48, 64))
    assert (foreign / 'train' / 'keep.jpg').read_bytes() == b'not ours'


def test_demo_config_and_schedule():
    cfg = demo.load_config(demo.DEFAULT_CONFIG)
    assert cfg.model.backbone.type == 'ResTV2' and cfg.model.backbone.init_cfg is None
    assert cfg.randomness.seed == 0
    assert cfg.train_cfg.type == 'IterBasedTrainLoop'
    params = demo.demo_data_params(cfg)
    assert cfg.train_dataloader.dataset.metainfo.classes == tuple(
        params.get('classes', DEFAULT_CLASSES))
    assert demo.default_data_root(cfg, quick=True) != demo.default_data_root(cfg)
    demo.set_train_iters(cfg, 7)
    assert cfg.train_cfg.max_iters == 7
    assert all(s.end <= 7 for s in cfg.param_scheduler)
    assert cfg.default_hooks.checkpoint.interval == 7
    with pytest.raises(ConfigError):
        demo.set_train_iters(cfg, 0)

