import os
import sys

import pytest
import torch

# Tests run from a checkout too, before `pip install -e .`.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope='module')
def single_thread():
    """Tiny models on a busy 2-core machine: a second OpenMP thread mostly spins (10x
    slower). For the modules that train tiny models end to end."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def pytest_configure(config):
    config.addinivalue_line(
        'markers', 'slow: takes more than a few seconds (training runs, the wheel, ONNX, the '
        'speed suite, whole models); `pytest -m "not slow"` is the short inner loop')
    config.addinivalue_line(
        'markers', 'cuda: runs on an NVIDIA GPU (skipped without one; scripts/gpu_check.sh '
        'runs `pytest -m cuda`)')


HAS_CUDA = torch.cuda.is_available()


@pytest.fixture(scope='session')
def data(tmp_path_factory):
    """Small synthetic COCO-, ADE20K- and ImageNet-style sets (:mod:`tests.tiny_tasks`), made
    once for every test that trains or evaluates on data."""
    from tests.tiny_tasks import make_datasets
    return make_datasets(tmp_path_factory.mktemp('data'))


@pytest.fixture(params=['cpu', pytest.param('cuda', marks=[
    pytest.mark.cuda, pytest.mark.skipif(not HAS_CUDA, reason='needs an NVIDIA GPU')])])
def device(request) -> torch.device:
    """The device of a test that runs anywhere: the CPU in every run, and CUDA where a GPU is
    visible (marked ``cuda``), there with TF32 off so that fp32 means fp32."""
    if request.param == 'cuda':
        matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
        yield torch.device('cuda')
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn
    else:
        yield torch.device('cpu')
