"""mmrest on every device: each test takes the ``device`` fixture, so the same body runs on the
CPU in every run and on CUDA where a GPU is visible (those cases are marked ``cuda``:
``scripts/gpu_check.sh`` runs ``pytest -m cuda``). The CUDA-only tests at the end need a GPU by
nature (NCCL, the GPU speed tools).

Tolerances: fp32 (TF32 off) against a float64 CPU copy of the same model, relative to each
tensor's largest value (at least 1% of the model's largest gradient: some, e.g. key biases, are
zero in exact arithmetic): 5e-4 for outputs and ResTv2's gradients (ResTv2 measures ~1e-6 on
the CPU, ResT v1's outputs up to 1.2e-4); 5e-2 for ResT v1's gradients, measured up to 1.8e-2
on the CPU: at initialisation its attention maps are nearly uniform, and the InstanceNorm over
them (multi-head interaction) divides float32 rounding by their tiny spread.
"""
import copy
import os
import subprocess
import sys
from typing import List, Sequence

import pytest
import torch

from mmrest import ResT, ResTV2
from mmrest.apis import load_config
from tests.common import REPO
from tests.conftest import HAS_CUDA
from tests.tiny_tasks import FAMILY_TASKS, TASKS, task_options

TOLERANCE = 5e-4
V1_GRADIENT_TOLERANCE = 5e-2
MODELS = [(ResT, a) for a in ResT.arch_zoo] + [(ResTV2, a) for a in ResTV2.arch_zoo]
STYLES = ('global', 'win', 'cwin', 'hwin')
needs_gpu = pytest.mark.skipif(not HAS_CUDA, reason='needs an NVIDIA GPU')


def relative_error(ours: torch.Tensor, reference: torch.Tensor, floor: float = 0.0) -> float:
    scale = max(reference.abs().max().item(), floor, 1e-30)
    return (ours.double().cpu() - reference.cpu()).abs().max().item() / scale


def run_with_gradients(model: torch.nn.Module, x: torch.Tensor,
                       weights: Sequence[torch.Tensor]) -> List[torch.Tensor]:
    x = x.clone().requires_grad_()
    outs = model(x)
    sum((o * w.to(o)).sum() for o, w in zip(outs, weights)).backward()
    return [o.detach() for o in outs] + [x.grad]


def build(cls, arch, **kwargs) -> torch.nn.Module:
    model = cls(arch=arch, **kwargs)
    model.init_weights()
    return model.eval()


@pytest.mark.parametrize('cls,arch', MODELS, ids=[f'{c.__name__}-{a}' for c, a in MODELS])
def test_forward_and_backward_match_float64(device, cls, arch):
    torch.manual_seed(0)
    model = build(cls, arch)
    reference = copy.deepcopy(model).double()
    x = torch.randn(1, 3, 64, 96)
    weights = [torch.randn(o.shape) for o in reference(x.double())]
    ours = run_with_gradients(model.to(device), x.to(device), weights)
    theirs = run_with_gradients(reference, x.double(), weights)
    gradients = V1_GRADIENT_TOLERANCE if cls is ResT else TOLERANCE
    for i, (a, b) in enumerate(zip(ours, theirs)):
        assert relative_error(a, b) < (TOLERANCE if i < len(ours) - 1 else gradients), \
            f'output {i}' if i < len(ours) - 1 else 'input gradient'
    largest = max(p.grad.abs().max().item() for p in reference.parameters()
                  if p.grad is not None)
    for (name, p), q in zip(model.named_parameters(), reference.parameters()):
        assert relative_error(p.grad, q.grad, floor=1e-2 * largest) < gradients, name


@pytest.mark.parametrize('cls', [ResT, ResTV2])
def test_fused_and_explicit_attention_agree(device, cls):
    torch.manual_seed(0)
    fused = build(cls, 'lite' if cls is ResT else 'tiny').to(device)
    explicit = copy.deepcopy(fused)
    for module in explicit.modules():
        if hasattr(module, 'fused_attn'):
            module.fused_attn = False
    x = torch.randn(2, 3, 96, 160, device=device)
    with torch.no_grad():
        for a, b in zip(fused(x), explicit(x)):
            assert relative_error(a, b.double()) < 1e-4


@pytest.mark.parametrize('dtype', [
    pytest.param(torch.float16, id='fp16'), pytest.param(torch.bfloat16, id='bf16')])
def test_autocast_stays_close_to_fp32(device, dtype):
    if dtype == torch.float16 and device.type == 'cpu':
        pytest.skip('float16 autocast is a GPU precision here (the CPU uses bfloat16)')
    torch.manual_seed(0)
    model = build(ResTV2, 'tiny').to(device)
    x = torch.randn(2, 3, 128, 160, device=device)
    with torch.no_grad():
        full = model(x)
        with torch.autocast(device.type, dtype=dtype):
            half = model(x)
    for a, b in zip(half, full):
        assert torch.isfinite(a).all()
        # bfloat16 keeps 8 mantissa bits, float16 11: relative to each map's scale
        assert relative_error(a, b.double()) < (0.15 if dtype == torch.bfloat16 else 0.03)


@pytest.mark.parametrize('style', STYLES)
def test_attention_styles_match_float64(device, style):
    torch.manual_seed(0)
    model = build(ResTV2, 'tiny', attn_style=style)
    reference = copy.deepcopy(model).double()
    x = torch.randn(1, 3, 160, 224)  # not a multiple of the windows: padding and cropping
    with torch.no_grad():
        ours = model.to(device)(x.to(device))
        theirs = reference(x.double())
    for a, b in zip(ours, theirs):
        assert relative_error(a, b) < TOLERANCE


@pytest.mark.parametrize('cls', [ResT, ResTV2])
def test_activation_checkpointing_keeps_gradients(device, cls):
    torch.manual_seed(0)
    plain = build(cls, 'lite' if cls is ResT else 'tiny', drop_path_rate=0.0).to(device)
    checkpointed = copy.deepcopy(plain)
    checkpointed.with_cp = True
    plain.train()
    checkpointed.train()
    x = torch.randn(2, 3, 64, 96, device=device)
    weights = [torch.randn(o.shape) for o in plain(x)]
    a = run_with_gradients(plain, x, weights)
    b = run_with_gradients(checkpointed, x, weights)
    for u, v in zip(a, b):
        assert relative_error(u, v.double()) < 1e-5
    for (name, p), q in zip(plain.named_parameters(), checkpointed.parameters()):
        assert torch.allclose(p.grad, q.grad, rtol=1e-4, atol=1e-6), name


# ------------------------------------------------------------------------------- whole models
STEP_TASKS = {**{k: TASKS[k] for k in ('mask_rcnn', 'retinanet', 'upernet')}, **FAMILY_TASKS}


@pytest.mark.slow
@pytest.mark.parametrize('name', list(STEP_TASKS))
def test_training_step_and_prediction(device, name, data, single_thread):
    """One training step (AMP on a GPU, as the papers train; fp32 on the CPU) and one
    prediction: mmcv's RoIAlign, NMS and multi-scale deformable attention run on ``device``."""
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import DefaultScope, init_default_scope
    from mmengine.runner import Runner

    from mmrest.apis import build_model, quiet_logger
    task = STEP_TASKS[name]
    cfg = load_config(str(task.config), cfg_options=task_options(task, data))
    model, scope = build_model(cfg, None, device)
    init_default_scope(scope)
    optim_cfg = copy.deepcopy(cfg.optim_wrapper)
    if device.type == 'cuda':
        optim_cfg.type = 'AmpOptimWrapper'
        optim_cfg.setdefault('loss_scale', 'dynamic')
    else:
        optim_cfg.type = 'OptimWrapper'
        optim_cfg.pop('loss_scale', None)
    with DefaultScope.overwrite_default_scope(scope), quiet_logger():
        optim_wrapper = build_optim_wrapper(model, optim_cfg)
        train_batch = next(iter(Runner.build_dataloader(cfg.train_dataloader)))
        test_batch = next(iter(Runner.build_dataloader(cfg.test_dataloader)))
    model.train()
    losses = model.train_step(train_batch, optim_wrapper)
    assert losses and all(torch.isfinite(v).all() for v in losses.values()), losses
    assert all(p.device.type == device.type for p in model.parameters())
    model.eval()
    with torch.no_grad():
        predictions = model.test_step(test_batch)
    assert len(predictions) == len(test_batch['inputs'])


# -------------------------------------------------------------------------- GPU by nature
@pytest.mark.cuda
@needs_gpu
@pytest.mark.parametrize('name', ['upernet'])
def test_dist_train_with_nccl_on_one_gpu(name, data, tmp_path):
    """tools/dist_train.sh CONFIG 1: NCCL, and SyncBN (the UperNet config's) on a real GPU."""
    task = TASKS[name]
    cfg = load_config(str(task.config), cfg_options=task_options(task, data))
    assert any(m.get('type') == 'SyncBN' for m in (cfg.model.decode_head.norm_cfg, ))
    config = tmp_path / 'tiny_upernet.py'
    cfg.dump(str(config))
    run = subprocess.run(['bash', str(REPO / 'tools' / 'dist_train.sh'), str(config), '1',
                          '--work-dir', str(tmp_path / 'work')],
                         capture_output=True, text=True, cwd=str(REPO),
                         env={**os.environ, 'PORT': '29531', 'PYTHON': sys.executable})
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    assert 'nccl' in (run.stdout + run.stderr).lower()
    assert (tmp_path / 'work' / task.checkpoint(1)).is_file()


@pytest.mark.cuda
@needs_gpu
def test_fps_tool_on_gpu(tmp_path):
    from tools.analysis.benchmark import main
    assert main([str(REPO / 'configs' / 'mask_rcnn_restv2_t_3x.py'), '--device', 'cuda',
                 '--input', '640x384', '--iters', '3', '--warmup', '1', '--repeats', '2',
                 '--amp', '--json', str(tmp_path / 'fps.json')]) == 0
    assert (tmp_path / 'fps.json').is_file()


@pytest.mark.cuda
@needs_gpu
def test_speed_suite_quick_on_gpu(tmp_path):
    import json

    from tools.analysis.speed_suite import main
    # the papers' comparisons and a training step; scripts/gpu_check.sh times every part
    assert main(['--device', 'cuda', '--quick', '--amp', '--out', str(tmp_path),
                 '--only', 'maskrcnn', 'upernet', 'imagenet', 'training',
                 '--models', 'ResTv2-T', 'Swin-T', 'ConvNeXt-T']) == 0
    report = json.loads((tmp_path / 'speed.json').read_text())
    assert all(p['error'] is None for p in report['parts'].values())
