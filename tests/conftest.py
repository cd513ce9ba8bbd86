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
