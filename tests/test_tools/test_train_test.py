"""tools/train.py, tools/test.py and tools/*.sh end to end, on CPU.

Tiny versions of the real Mask R-CNN, RetinaNet, UperNet and ImageNet configs
(:mod:`tests.tiny_tasks`) train a couple of iterations on synthetic data, resume, and are
tested through :mod:`mmrest.apis` (what the tools call), and through the real command lines:
``tools/train.py`` as a process, ``tools/dist_train.sh`` and ``tools/dist_test.sh`` (which run
tools/train.py and tools/test.py) with 2 CPU processes on gloo, ``tools/slurm_train.sh`` with
a stand-in ``srun``. Bad inputs must fail early with a clear message and exit code 2.
"""
import copy
import json
import os
import pickle
import socket
import subprocess
import sys
from pathlib import Path
from typing import Callable, Dict, List, Sequence

import mmengine.config.config
import pytest
import torch
from mmengine.config import Config

from mmrest import apis  # not `from ... import test`: pytest would collect it
from mmrest.apis import ConfigError, check_cfg_options, check_data_roots, load_config
from tests.common import CONFIGS, REPO
from tests.tiny_tasks import TASKS, TINY_ARCH, RecordRankHook, task_options
from tools import test as test_tool
from tools import train as train_tool

pytestmark = pytest.mark.slow  # (the README's test command runs it)

needs_no_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason='checks the CPU behaviour')


@pytest.fixture(scope='module', autouse=True)
def _fast(single_thread):
    # A runner formats its config with yapf about 5 times (log, dump, checkpoint meta), ~1 s
    # each: most of a tiny run. The unformatted text is the same Python.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(mmengine.config.config, 'FormatCode', lambda text, **_: (text, False))
        yield


@pytest.fixture(scope='module')
def trained(tmp_path_factory, data) -> Callable[[str], Path]:
    """Work dir of a task after one unit of training through ``mmrest.apis.train`` (each
    task trained once per module, on first use)."""
    root = tmp_path_factory.mktemp('work_dirs')
    done: Dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in done:
            task = TASKS[name]
            cfg = load_config(str(task.config), work_dir=str(root / name),
                              cfg_options=task_options(task, data))
            apis.train(cfg)
            done[name] = root / name
        return done[name]

    return get


@pytest.fixture(scope='module')
def tiny_config(tmp_path_factory, data) -> Callable[..., Path]:
    """Writes a task's tiny config as a file (for the command lines)."""
    root = tmp_path_factory.mktemp('configs')

    def write(name: str, without: Sequence[str] = (), **extra) -> Path:
        task = TASKS[name]
        cfg = load_config(str(task.config), cfg_options=task_options(task, data,
                                                                     without=list(without)))
        cfg.merge_from_dict(extra)
        path = root / f'tiny_{name}_{len(list(root.iterdir()))}.py'
        cfg.dump(str(path))
        return path

    return write


def run(command: List[str], **env: str) -> subprocess.CompletedProcess:
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHON': sys.executable, **env}
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=600)
    result.tail = f'\n--- stdout:\n{result.stdout[-3000:]}\n--- stderr:\n{result.stderr[-5000:]}'
    return result


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def read_log(runner) -> str:
    return (Path(runner.log_dir) / f'{runner.timestamp}.log').read_text()


# --------------------------------------------------------------- train, resume, test per task
@pytest.mark.parametrize('name', list(TASKS))
def test_train_resume_and_test(name, data, trained, tmp_path):
    task = TASKS[name]
    work_dir = trained(name)
    first = work_dir / task.checkpoint(1)
    assert (work_dir / 'last_checkpoint').read_text().strip() == str(first)
    # torch >= 2.6 refuses mmengine's checkpoints by default; mmrest's loader takes them.
    with pytest.raises(pickle.UnpicklingError):
        torch.load(first, weights_only=True)

    # --resume (latest in the work dir), or --resume CHECKPOINT: one more unit
    resume = 'auto' if name in ('mask_rcnn', 'upernet') else str(first)
    cfg = load_config(str(task.config), work_dir=str(work_dir),
                      cfg_options=task_options(task, data, units=2), resume=resume)
    runner = apis.train(cfg)
    log = read_log(runner)
    assert f'resumed epoch: {1 if task.by_epoch else 0}, iter: 2' in log
    assert runner.iter == 4
    if task.by_epoch:
        assert 'Epoch(train) [2][2/2]' in log and 'Epoch(train) [1]' not in log
        assert 'Epoch(val) [2]' in log
    else:
        assert 'Iter(train) [4/4]' in log and 'Iter(train) [1/4]' not in log
        assert 'Iter(val) [2/2]' in log

    cfg = load_config(str(task.config), work_dir=str(tmp_path / 'test'),
                      cfg_options=task_options(task, data))
    out, show_dir = tmp_path / 'predictions.pkl', tmp_path / 'show'
    metrics = apis.test(cfg, str(work_dir / task.checkpoint(2)), show_dir=str(show_dir),
                        out=str(out))
    assert task.metric in metrics
    with open(out, 'rb') as f:
        assert len(pickle.load(f)) == task.num_test
    drawn = [p for p in show_dir.rglob('*') if p.suffix in ('.jpg', '.png')]
    assert len(drawn) == task.num_test


def test_tta(data, trained, tmp_path):
    """--tta: the UperNet configs' multi-scale + flip testing (mmseg's tta_model)."""
    task = TASKS['upernet']
    cfg = load_config(str(task.config), work_dir=str(tmp_path),
                      cfg_options=task_options(task, data))
    metrics = apis.test(cfg, str(trained('upernet') / task.checkpoint(1)), tta=True)
    assert 'mIoU' in metrics


# ----------------------------------------------------------------------- the command lines
def test_cli_train_then_dist_test(data, tiny_config, tmp_path):
    """tools/train.py as a process, then tools/dist_test.sh (tools/test.py in 2 CPU
    processes): the distributed sampler and result collection give the predictions of a
    single process, in dataset order."""
    config = tiny_config('classifier', without=['model.backbone.arch'])
    work_dir = tmp_path / 'work_dir'
    # --cfg-options into a plain value: arch='tiny' becomes a custom arch
    arch = [f'model.backbone.arch.{k}=[{",".join(map(str, v))}]' for k, v in TINY_ARCH.items()]
    result = run([sys.executable, 'tools/train.py', str(config), '--work-dir', str(work_dir),
                  '--cfg-options', *arch])
    assert result.returncode == 0, result.tail
    checkpoint = work_dir / 'epoch_1.pth'
    dumped = work_dir / config.name  # the runner's copy of the config, as users test it
    assert Config.fromfile(str(dumped)).model.backbone.arch == TINY_ARCH

    single, dist = tmp_path / 'single.pkl', tmp_path / 'dist.pkl'
    apis.test(load_config(str(dumped), work_dir=str(tmp_path / 'test')), str(checkpoint),
              out=str(single))
    result = run(['bash', 'tools/dist_test.sh', str(dumped), str(checkpoint), '2', '--out',
                  str(dist), '--work-dir', str(tmp_path / 'dist_test')], PORT=str(free_port()))
    assert result.returncode == 0, result.tail
    assert result.stdout.count("{'accuracy/top1'") == 1  # the metrics, printed by rank 0
    with open(single, 'rb') as f:
        expected = pickle.load(f)
    with open(dist, 'rb') as f:
        got = pickle.load(f)
    assert [s['img_path'] for s in got] == [s['img_path'] for s in expected]
    for a, b in zip(got, expected):
        torch.testing.assert_close(a['pred_score'], b['pred_score'])


def test_dist_train_on_cpu(data, tiny_config, tmp_path):
    """tools/dist_train.sh, 2 CPU processes (gloo): DDP keeps the ranks' weights equal while
    the sampler gives them different images; SyncBN runs as BN; the checkpoint tests."""
    config = tiny_config(
        'upernet', custom_hooks=[dict(type=RecordRankHook.__name__)],
        custom_imports=dict(imports=['mmrest', 'tests.tiny_tasks'],
                            allow_failed_imports=False))
    work_dir = tmp_path / 'work_dir'
    result = run(['bash', 'tools/dist_train.sh', str(config), '2', '--work-dir', str(work_dir)],
                 PORT=str(free_port()))
    assert result.returncode == 0, result.tail
    log = next(work_dir.glob('*/*.log')).read_text()
    assert 'Distributed training: True' in log and 'GPU number: 2' in log
    assert result.stdout.count('SyncBN layer config(s) replaced by BN') == 1

    ranks = [json.loads((work_dir / f'rank{r}.json').read_text()) for r in (0, 1)]
    assert ranks[0]['param_sums'] == ranks[1]['param_sums']
    batch = 2  # the first batch of each rank: disjoint halves of the 4 training images
    first = [set(r['seen'][:batch]) for r in ranks]
    assert not first[0] & first[1] and len(first[0] | first[1]) == 4

    cfg = load_config(str(work_dir / config.name), work_dir=str(tmp_path / 'test'))
    assert 'mIoU' in apis.test(cfg, str(work_dir / 'iter_2.pth'))


@needs_no_gpu
def test_distributed_run_ends_its_process_group(tiny_config, monkeypatch, tmp_path, capsys):
    """A rank that left its gloo group to interpreter shutdown could abort after a successful
    run (exit code -6 from torchrun): tools/train.py and tools/test.py end the group."""
    import torch.distributed as dist
    for name, value in dict(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(free_port()), RANK='0',
                            LOCAL_RANK='0', WORLD_SIZE='1').items():
        monkeypatch.setenv(name, value)
    config, work_dir = tiny_config('classifier'), tmp_path / 'work_dir'
    assert train_tool.main([str(config), '--work-dir', str(work_dir), '--launcher', 'pytorch']) == 0
    assert 'Distributed training: True' in next(work_dir.glob('*/*.log')).read_text()
    assert not dist.is_initialized()
    assert test_tool.main([str(work_dir / config.name), str(work_dir / 'epoch_1.pth'),
                           '--work-dir', str(tmp_path / 'test'), '--launcher', 'pytorch']) == 0
    assert "{'accuracy/top1'" in capsys.readouterr().out  # rank 0 printed before the group ended
    assert not dist.is_initialized()


def test_slurm_train_passes_its_arguments(tmp_path):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    record = tmp_path / 'srun.txt'
    srun = bin_dir / 'srun'
    srun.write_text(f'#!/bin/sh\necho "PYTHONPATH=$PYTHONPATH" > {record}\n'
                    f'for a in "$@"; do echo "$a" >> {record}; done\n')
    srun.chmod(0o755)
    result = run(['bash', 'tools/slurm_train.sh', 'gpu', 'job', 'configs/x.py', 'work/x',
                  '--cfg-options', 'a=1'], PATH=f'{bin_dir}:{os.environ["PATH"]}', GPUS='16',
                 GPUS_PER_NODE='8', SRUN_ARGS='--quotatype=auto')
    assert result.returncode == 0, result.tail
    lines = record.read_text().splitlines()
    assert lines[0].split('=', 1)[1].split(':')[0] == str(REPO)  # mmrest from this checkout
    for arg in ('gpu', '--job-name=job', '--gres=gpu:8', '--ntasks=16', '--ntasks-per-node=8',
                '--quotatype=auto', sys.executable, str(REPO / 'tools' / 'train.py'),
                'configs/x.py', '--work-dir=work/x', '--launcher=slurm', '--cfg-options', 'a=1'):
        assert arg in lines, arg


@pytest.mark.parametrize('script', ['dist_train.sh', 'dist_test.sh', 'slurm_train.sh'])
def test_scripts_print_their_usage(script):
    result = run(['bash', f'tools/{script}', 'configs/x.py'])
    assert result.returncode == 2 and result.stderr.startswith('usage:'), result.tail


# ----------------------------------------------------------------------------- bad inputs
def test_unknown_config_key_fails_clearly():
    result = run([sys.executable, 'tools/train.py', 'configs/mask_rcnn_restv2_t_1x.py',
                  '--cfg-options', 'model.backone.arch=tiny'])
    assert result.returncode == 2, result.tail
    assert ("unknown config key 'model.backone.arch': model has no 'backone'; did you mean "
            "'backbone'?") in result.stderr
    assert 'Traceback' not in result.stderr


def test_missing_config_file(tmp_path, capsys):
    missing = str(tmp_path / 'nope.py')
    assert train_tool.main([missing]) == 2
    assert test_tool.main([missing, 'model.pth']) == 2
    assert capsys.readouterr().err.count(f'config file not found: {missing!r}') == 2


def test_missing_data_root(tmp_path, capsys):
    missing = tmp_path / 'coco'
    assert train_tool.main(['configs/mask_rcnn_restv2_t_1x.py', '--work-dir', str(tmp_path),
                            '--cfg-options', f'train_dataloader.dataset.data_root={missing}']) == 2
    err = capsys.readouterr().err
    assert f"dataset root not found: '{missing}' (train_dataloader.dataset.data_root)" in err


def test_missing_annotations_and_folders(data):
    task = TASKS['mask_rcnn']
    cfg = load_config(str(task.config), cfg_options=task_options(task, data))
    check_data_roots(cfg)
    for key, message in (('val_evaluator.ann_file', r'\(val_evaluator.ann_file\)'),
                         ('train_dataloader.dataset.ann_file', 'annotation file not found'),
                         ('train_dataloader.dataset.data_prefix.img', 'data folder not found')):
        broken = copy.deepcopy(cfg)
        broken.merge_from_dict({key: 'missing/x'})
        with pytest.raises(ConfigError, match=message):
            check_data_roots(broken)


def test_missing_pretrained_checkpoint(data, tmp_path):
    task = TASKS['mask_rcnn']
    options = task_options(task, data, without=['model.backbone.init_cfg'])
    options['model.backbone.init_cfg.checkpoint'] = str(tmp_path / 'restv2_tiny_224.pth')
    cfg = load_config(str(task.config), work_dir=str(tmp_path), cfg_options=options)
    with pytest.raises(ConfigError, match='pretrained checkpoint not found.*'
                       r'model\.backbone\.init_cfg\.checkpoint.*model\.backbone\.init_cfg=None'):
        apis.train(cfg)


def test_checkpoint_of_another_model(trained, tiny_config, tmp_path, capsys):
    """tools/test.py and --resume refuse it, instead of going on with random weights or
    failing deep in torch's optimizer."""
    other = trained('retinanet') / TASKS['retinanet'].checkpoint(1)
    config = str(tiny_config('mask_rcnn'))
    assert test_tool.main([config, str(other), '--work-dir', str(tmp_path / 'test')]) == 2
    assert train_tool.main([config, '--resume', str(other), '--work-dir', str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count(f'{other} does not fit the model of this config') == 2
    assert 'Is it the checkpoint of another config?' in err


def test_broken_checkpoint_files(trained, tiny_config, tmp_path, capsys):
    """A truncated download and an empty file: tools/test.py and --resume name the file and
    say what is wrong (exit code 2), instead of torch's own words."""
    good = (trained('classifier') / TASKS['classifier'].checkpoint(1)).read_bytes()
    truncated, empty = tmp_path / 'truncated.pth', tmp_path / 'empty.pth'
    truncated.write_bytes(good[:len(good) // 2])
    empty.write_bytes(b'')
    config = str(tiny_config('classifier'))
    for path, words in ((truncated, 'is incomplete'), (empty, 'is empty')):
        assert test_tool.main([config, str(path), '--work-dir', str(tmp_path / 'test')]) == 2
        assert train_tool.main([config, '--resume', str(path), '--work-dir',
                                str(tmp_path / 'train')]) == 2
        assert capsys.readouterr().err.count(f'error: {path} {words}') == 2


def test_resume_without_a_checkpoint_yet(tmp_path):
    """--resume on a first launch trains from the config's load_from (here the 224 model of
    a 384 fine-tuning), not from random weights; later launches resume."""
    config = str(CONFIGS / 'imagenet' / 'restv2_t_in1k_384.py')
    cfg = load_config(config, work_dir=str(tmp_path), resume='auto')
    assert not cfg.resume and cfg.load_from == 'checkpoints/restv2_t_in1k.pth'
    (tmp_path / 'epoch_3.pth').touch()
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_3.pth'))
    cfg = load_config(config, work_dir=str(tmp_path), resume='auto')
    assert cfg.resume and cfg.load_from == str(tmp_path / 'epoch_3.pth')


def test_missing_checkpoints(tiny_config, tmp_path):
    config = str(tiny_config('classifier'))
    missing = str(tmp_path / 'missing.pth')
    with pytest.raises(ConfigError, match='--resume checkpoint not found'):
        load_config(config, resume=missing)
    with pytest.raises(ConfigError, match='checkpoint not found'):
        apis.test(load_config(config), missing)


def test_bad_test_options(trained, tiny_config):
    checkpoint = str(trained('mask_rcnn') / TASKS['mask_rcnn'].checkpoint(1))
    config = str(tiny_config('mask_rcnn'))
    with pytest.raises(ConfigError, match='--out must be a .pkl'):
        apis.test(load_config(config), checkpoint, out='results.json')
    with pytest.raises(ConfigError, match='--tta needs tta_model and tta_pipeline'):
        apis.test(load_config(config), checkpoint, tta=True)


@needs_no_gpu
def test_amp_needs_a_gpu(tiny_config, tmp_path, capsys):
    """--amp is float16 training with a GradScaler (mmengine's AmpOptimWrapper): on CPU it
    stops with an explanation instead of mmengine's assertion."""
    config = str(tiny_config('classifier'))
    cfg = load_config(config, amp=True)
    assert (cfg.optim_wrapper.type, cfg.optim_wrapper.loss_scale) == ('AmpOptimWrapper',
                                                                      'dynamic')
    assert train_tool.main([config, '--amp', '--work-dir', str(tmp_path)]) == 2
    assert 'needs a GPU' in capsys.readouterr().err


@needs_no_gpu
def test_slurm_launcher_needs_gpus(tiny_config, tmp_path):
    cfg = load_config(str(tiny_config('classifier')), work_dir=str(tmp_path), launcher='slurm')
    with pytest.raises(ConfigError, match='--launcher slurm needs GPUs.*--launcher pytorch'):
        apis.train(cfg)


# ----------------------------------------------------------------------------- --cfg-options
def test_cfg_options():
    config = str(CONFIGS / 'upernet_restv2_t_160k_ade20k.py')
    cfg = load_config(config, cfg_options={
        # into a plain value, as the command line can say it: arch='tiny' becomes a dict
        **{f'model.backbone.arch.{k}': v for k, v in TINY_ARCH.items()},
        'train_dataloader.dataset.pipeline.3.crop_size': (64, 64),  # a list index
        'model.backbone.with_cp': True,  # a new leaf of an existing section
        'model.backbone.init_cfg.checkpoint': 'x.pth'})  # into a dict: merges
    assert cfg.model.backbone.arch == TINY_ARCH
    assert cfg.train_dataloader.dataset.pipeline[3].crop_size == (64, 64)
    assert cfg.model.backbone.with_cp
    assert cfg.model.backbone.init_cfg == dict(type='Pretrained', checkpoint='x.pth')
    # a dict for a plain value replaces it too
    cfg = load_config(config, cfg_options={'model.backbone.arch': TINY_ARCH})
    assert cfg.model.backbone.arch == TINY_ARCH
    with pytest.raises(ConfigError, match=r"pipeline has no '9'"):
        check_cfg_options(cfg, {'train_dataloader.dataset.pipeline.9.scale': 1})
    with pytest.raises(ConfigError, match='existing sections only'):
        check_cfg_options(cfg, {'model.backbone.extra.x': 1})


# ------------------------------------------------------------------------ 384 fine-tuning
@pytest.mark.parametrize('size', ['t', 's', 'b', 'l'])
def test_imagenet_384_finetuning_configs(size):
    cfg = Config.fromfile(str(CONFIGS / 'imagenet' / f'restv2_{size}_in1k_384.py'))
    base = Config.fromfile(str(CONFIGS / 'imagenet' / f'restv2_{size}_in1k.py'))
    assert cfg.model == base.model  # the 224 model, fine-tuned
    assert cfg.load_from == f'checkpoints/restv2_{size}_in1k.pth'
    # lr 1.5e-5 x batch / 256 for 8 GPUs x 64 images; --auto-scale-lr knows that batch
    batch = 8 * cfg.train_dataloader.batch_size
    assert cfg.auto_scale_lr.base_batch_size == batch == 512
    optimizer = cfg.optim_wrapper.optimizer
    assert optimizer.type == 'AdamW'
    assert optimizer.lr == pytest.approx(1.5e-5 * batch / 256)
    assert optimizer.weight_decay == 1e-8
    assert cfg.train_cfg.max_epochs == 30
    scheduler, = cfg.param_scheduler  # cosine only: no warm-up
    assert (scheduler.type, scheduler.begin, scheduler.end) == ('CosineAnnealingLR', 0, 30)
    assert cfg.train_dataloader.dataset.pipeline[1].scale == 384
    test_resize = cfg.test_dataloader.dataset.pipeline[1]
    assert (test_resize.type, test_resize.scale) == ('Resize', 384)
    assert cfg.val_dataloader == cfg.test_dataloader


# ------------------------------------------------------------------ attention-style configs
@pytest.mark.parametrize('style', ['win', 'cwin', 'hwin'])
def test_attention_style_configs_train_and_test(style, data, tmp_path):
    """configs/mask_rcnn_restv2_t_1x_{style}.py train and test (small windows, so that the
    tiny images are really split into several windows)."""
    task = TASKS['mask_rcnn']
    config = str(task.config).replace('_1x.py', f'_1x_{style}.py')
    options = {**task_options(task, data), 'model.backbone.window_size': (4, 4, 2, 2)}
    cfg = load_config(config, work_dir=str(tmp_path / 'train'), cfg_options=options)
    assert cfg.model.backbone.attn_style == style
    runner = apis.train(cfg)
    backbone = runner.model.backbone
    # one block per stage in the tiny arch: HWin keeps it (the last one) global
    assert backbone.attn_style == style
    assert backbone.stage2[0].window_size == (None if style == 'hwin' else 4)
    assert hasattr(backbone, 'cwin1') == (style == 'cwin')
    cfg = load_config(config, work_dir=str(tmp_path / 'test'), cfg_options=options)
    metrics = apis.test(cfg, str(tmp_path / 'train' / task.checkpoint(1)))
    assert task.metric in metrics
