"""The conditions of a measurement, which travel with every speed figure: the device (the CPU
model and its threads, or the GPU), the software versions, the state of the machine, the
command, and the sentence a report states them in."""
import importlib
import os
import platform
import sys
from typing import Dict, Optional, Sequence

import torch

from ..utils.compat import TORCH_VERSION_STRING
from ..version import __version__

PACKAGES = ('mmcv', 'mmengine', 'mmdet', 'mmseg', 'mmpretrain')  # reported when installed


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU's model with the threads torch uses."""
    if device.type == 'cuda':
        return torch.cuda.get_device_name(device)
    name = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    name = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    return f'{name} ({torch.get_num_threads()} threads)'


def software_versions() -> Dict[str, str]:
    """torch, mmrest, the OpenMMLab packages that import, and CUDA where a GPU is visible."""
    versions = {'torch': TORCH_VERSION_STRING, 'mmrest': __version__}
    for package in PACKAGES:
        try:
            versions[package] = importlib.import_module(package).__version__
        except ImportError:
            pass
    if torch.cuda.is_available():
        versions['cuda'] = torch.version.cuda or ''
    return versions


def machine_state(device: torch.device) -> dict:
    """What else decides a speed: on a GPU whether cuDNN picks its algorithms by timing them
    and whether float32 matrix products run in TF32; on the CPU the threads torch uses and the
    load average (other work on the machine)."""
    if device.type == 'cuda':
        return dict(cudnn_benchmark=torch.backends.cudnn.benchmark,
                    tf32=dict(matmul=torch.backends.cuda.matmul.allow_tf32,
                              cudnn=torch.backends.cudnn.allow_tf32))
    return dict(threads=torch.get_num_threads(),
                load_average_at_start=round(os.getloadavg()[0], 2))


def format_versions(versions: Dict[str, str]) -> str:
    """'torch 2.4.1, mmrest 1.0.0, ...'."""
    return ', '.join(f'{k} {v}' for k, v in versions.items())


def timing_protocol(repeats: int, iters: int, warmup: int,
                    round_seconds: Optional[float] = None) -> str:
    """How :func:`~mmrest.analysis.timing.interleaved_timing` was called, in words."""
    fewer = (f'(fewer where they would take over {round_seconds:g} s) ' if round_seconds
             else '')
    return f'{repeats} interleaved rounds x {iters} calls {fewer}after {warmup} warm-up'


def conditions_sentence(device_label: str, versions: Dict[str, str], *terms: str) -> str:
    """The sentence a speed report states its conditions in:
    ``Device: NAME; TERM; TERM. torch 2.4.1, mmrest 1.0.0, ...``."""
    return '; '.join([f'Device: {device_label}', *terms]) + f'. {format_versions(versions)}.'


def command_line(script: str, argv: Optional[Sequence[str]] = None) -> str:
    """The command that made a report: ``python SCRIPT ARGS`` (``argv`` default: this
    process's arguments)."""
    args = list(sys.argv[1:] if argv is None else argv)
    return f'python {script} ' + ' '.join(args)
