"""scripts/gpu_check.sh rehearsed on the CPU (``--device cpu --quick``): every step runs in the
current environment, the CUDA-only tests skip and say so, the results are at most 8 flat files
of at most 15 MiB, and the run stays within its budget."""
import os
import subprocess
import sys
import time

import pytest

from mmrest.utils.compat import HAS_CPU_AMP
from tests.common import REPO

pytestmark = pytest.mark.slow  # (the README's test command runs it)

BUDGET = 130


@pytest.mark.skipif(not HAS_CPU_AMP, reason='the CPU rehearsal times bfloat16 autocast, which '
                    'torch < 2.5 runs too slowly for the budget and mmcv NMS refuses')
def test_gpu_check_on_the_cpu(tmp_path):
    out = tmp_path / 'out'
    start = time.monotonic()
    run = subprocess.run(['bash', str(REPO / 'scripts' / 'gpu_check.sh'), '--device', 'cpu',
                          '--quick', '--budget', str(BUDGET), '--out', str(out)],
                         capture_output=True, text=True, cwd=str(tmp_path),
                         env={**os.environ, 'PYTHON': sys.executable})
    took = time.monotonic() - start
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert took < BUDGET + 15
    files = sorted(p.name for p in out.iterdir())
    assert all(p.is_file() for p in out.iterdir())  # flat
    assert len(files) <= 8 and all((out / f).stat().st_size <= 15 * 2**20 for f in files)
    assert {'gpu_check.md', 'gpu_check.log', 'conditions.json', 'cuda_tests.xml',
            'speed.md', 'speed.json'} <= set(files)
    summary = (out / 'gpu_check.md').read_text()
    for step in ('conditions', 'install', 'cuda-tests', 'speed-suite'):
        assert f'| {step} |' in summary
    assert '| install | skipped |' in summary  # no --wheelhouse: the current environment
    assert 'CUDA tests: 0 passed, 0 failed, 0 errors' in summary and 'skipped' in summary
    assert 'needs an NVIDIA GPU' in (out / 'gpu_check.log').read_text()  # said so (-rs)
    assert 'Time budget' in (out / 'speed.md').read_text()
    assert '| Mask R-CNN FPS ResTv2-T vs Swin-T | 1.147x |' in summary


def test_gpu_check_refuses_bad_arguments(tmp_path):
    script = str(REPO / 'scripts' / 'gpu_check.sh')
    for args in ([], ['--out', str(tmp_path), '--device', 'tpu'],
                 ['--out', str(tmp_path), '--wheelhouse', str(tmp_path)],
                 ['--out', str(tmp_path), '--budget', 'soon']):
        run = subprocess.run(['bash', script, *args], capture_output=True, text=True)
        assert run.returncode == 2, args
