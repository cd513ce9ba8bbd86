"""The fused attention path and the speed tools (run on tiny inputs: correctness only)."""
import json

import pytest
import torch

from mmrest import ResT, ResTV2
from mmrest.models.layers import EfficientMultiheadAttention
from tests.common import TINY


@pytest.mark.parametrize('sr_ratio,heads', [(8, 1), (4, 2), (2, 4), (1, 8)])
@pytest.mark.parametrize('upsample', ['pixel_shuffle', 'none'])
@pytest.mark.parametrize('hw', [(32, 48), (13, 21)])
def test_fused_attention_equals_explicit(sr_ratio, heads, upsample, hw):
    torch.manual_seed(0)
    explicit = EfficientMultiheadAttention(64, heads, sr_ratio, upsample=upsample,
                                           fused_attn=False).eval()
    fused = EfficientMultiheadAttention(64, heads, sr_ratio, upsample=upsample,
                                        fused_attn=True).eval()
    fused.load_state_dict(explicit.state_dict())
    x = torch.randn(2, hw[0] * hw[1], 64)
    with torch.no_grad():
        torch.testing.assert_close(fused(x, hw), explicit(x, hw), rtol=1e-5, atol=1e-5)


def test_fused_backward_matches_explicit():
    torch.manual_seed(0)
    explicit = EfficientMultiheadAttention(32, 2, 2, upsample='pixel_shuffle', fused_attn=False)
    fused = EfficientMultiheadAttention(32, 2, 2, upsample='pixel_shuffle', fused_attn=True)
    fused.load_state_dict(explicit.state_dict())
    x = torch.randn(2, 64, 32)
    explicit(x, (8, 8)).square().sum().backward()
    fused(x, (8, 8)).square().sum().backward()
    for (name, a), (_, b) in zip(explicit.named_parameters(), fused.named_parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-5, msg=name)


def test_resT_v1_head_interaction_keeps_the_explicit_form():
    model = ResT(arch=TINY, fused_attn=True)
    assert model.stage2[0].attn.head_interaction  # heads > 1: needs the attention matrix
    assert not model.stage1[0].attn.head_interaction  # one head: fused kernel applies


@pytest.mark.parametrize('cls', [ResT, ResTV2])
def test_fused_switch_gives_same_backbone_outputs(cls):
    explicit = cls(arch=TINY, fused_attn=False)
    explicit.init_weights()
    fused = cls(arch=TINY, fused_attn=True)
    fused.load_state_dict(explicit.state_dict())
    x = torch.randn(1, 3, 97, 130)
    with torch.no_grad():
        for a, b in zip(explicit.eval()(x), fused.eval()(x)):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_benchmark_tool_on_cpu(tmp_path, capsys):
    from tools.analysis.benchmark import main
    out = tmp_path / 'bench.json'
    assert main(['configs/imagenet/restv2_t_in1k.py', '--device', 'cpu', '--input', '64x48',
                 '--batch-size', '2', '--iters', '2', '--warmup', '1', '--repeats', '2',
                 '--json', str(out), '--cfg-options', 'model.backbone.arch=tiny']) == 0
    report = json.loads(out.read_text())
    assert report['input_size'] == [48, 64] and report['batch_size'] == 2
    assert len(report['images_per_s_per_repeat']) == 2
    assert report['results']['images_per_s_median'] > 0
    assert report['results']['ms_per_image_median'] > 0
    assert 'RANDOM weights' in report['weights']
    assert report['versions']['torch'] == torch.__version__ and 'mmcv' in report['versions']
    printed = capsys.readouterr().out
    assert 'images/s mean' in printed and 'fp32' in printed and 'batch 2' in printed


def test_benchmark_tool_rejects_bad_arguments(tmp_path):
    from tools.analysis.benchmark import main
    with pytest.raises(SystemExit):
        main(['configs/imagenet/restv2_t_in1k.py', '--device', 'cpu', '--iters', '0'])
    with pytest.raises(SystemExit):
        main(['configs/imagenet/restv2_t_in1k.py', str(tmp_path / 'missing.pth'), '--device',
              'cpu'])


@pytest.mark.slow
def test_compare_backbones_tool_on_cpu(tmp_path):
    from tools.analysis.compare_backbones import main
    out = tmp_path / 'bench.md'
    assert main(['--models', 'ResTv2-T', 'ResNet-50', '--small', '32x32',
                 '--small-batch', '2', '--large', '64x64', '--iters', '1', '--warmup', '1',
                 '--repeats', '2', '--out', str(out)]) == 0
    text = out.read_text()
    assert text.count('| ResTv2-T |') == 2 and text.count('| ResNet-50 |') == 2
    assert 'Command: `python tools/analysis/compare_backbones.py --models' in text
    assert 'MiB' in text


def test_fresh_process_returns_the_result_and_reports_a_dead_child():
    import os
    import time

    from mmrest.analysis.timing import call_in_fresh_process
    assert call_in_fresh_process(os.getpid) != os.getpid()
    start = time.monotonic()
    with pytest.raises(RuntimeError, match='exited with code 3 before reporting'):
        call_in_fresh_process(os._exit, 3)  # dies without a result: no endless wait
    assert time.monotonic() - start < 30


def test_interleaved_timing_gives_slow_calls_fewer_iterations():
    import time

    from mmrest.analysis.timing import interleaved_timing
    calls = {'slow': lambda: time.sleep(0.05), 'fast': lambda: None}
    entries = interleaved_timing(calls, torch.device('cpu'), iters=20, warmup=1, repeats=2,
                                 progress=None, round_seconds=0.1)
    assert [len(r) for r in entries['fast'].rounds] == [20, 20]
    assert all(1 <= len(r) <= 2 for r in entries['slow'].rounds)  # ~0.1 s / 0.05 s
    fixed = interleaved_timing(calls, torch.device('cpu'), iters=3, warmup=0, repeats=1,
                               progress=None)
    assert [len(fixed[n].rounds[0]) for n in calls] == [3, 3]
