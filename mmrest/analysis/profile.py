"""Where the time of one inference goes: ``torch.profiler`` tables for the ResTv2-T and Swin-T
backbones and Mask R-CNN with each, per precision (the speed suite's ``--profile``).

Per model and precision: total device time, the number of kernels (GPU) or operator calls
(CPU), the time in copies (``aten::copy_``, casts and memory copies) and, of it, in layout
copies (the copies made by ``contiguous`` / ``clone`` / ``reshape`` / ``flatten``), and the top
operators by their own device time. On the CPU the device time is CPU time and the half
precision is bfloat16.
"""
from dataclasses import asdict, dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch

from ..utils.aliases import Size2d as Size
from ..utils.markdown import markdown_table
from .model_inputs import make_data_samples
from .timed_model import build_timed_model, inference_call
from .timing import Say, short_error, synchronize

# name -> (config, backbone only?)
PROFILED: Dict[str, Tuple[str, bool]] = {
    'ResTv2-T backbone': ('mmrest::mask_rcnn_restv2_t_3x.py', True),
    'Swin-T backbone': ('mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_ms-crop-3x_coco.py', True),
    'Mask R-CNN ResTv2-T': ('mmrest::mask_rcnn_restv2_t_3x.py', False),
    'Mask R-CNN Swin-T': ('mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_ms-crop-3x_coco.py', False),
}
TOP = 25
# Operators that only move data, and the callers whose copies only change the layout.
COPY_OPS = ('aten::copy_', 'Memcpy', 'Memset')
LAYOUT_CALLERS = ('aten::contiguous', 'aten::clone', 'aten::reshape', 'aten::flatten')


@dataclass
class OperatorTime:
    name: str
    calls: int
    self_ms: float


@dataclass
class Profile:
    model: str
    precision: str
    input_hw: Size
    total_ms: float = 0.0
    kernels: int = 0
    copy_ms: float = 0.0
    layout_copy_ms: float = 0.0
    top: List[OperatorTime] = field(default_factory=list)
    error: Optional[str] = None


def _self_time_us(event, on_gpu: bool) -> float:
    if on_gpu:
        return float(getattr(event, 'self_device_time_total', 0.0)
                     or getattr(event, 'self_cuda_time_total', 0.0))
    return float(event.self_cpu_time_total)


def profile_call(call: Callable[[], object], device: torch.device, model: str, precision: str,
                 size: Size) -> Profile:
    """Profile one call (after two warm-up calls)."""
    from torch.profiler import ProfilerActivity, profile
    on_gpu = device.type == 'cuda'
    for _ in range(2):
        call()
    synchronize(device)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if on_gpu else [])
    with profile(activities=activities) as prof:
        call()
        synchronize(device)
    averages = prof.key_averages()
    rows = [(e.key, e.count, _self_time_us(e, on_gpu)) for e in averages]
    rows = [r for r in rows if r[2] > 0]
    result = Profile(model, precision, size)
    result.total_ms = sum(r[2] for r in rows) / 1000
    if on_gpu:
        from torch.autograd import DeviceType
        result.kernels = sum(1 for e in prof.events() if e.device_type == DeviceType.CUDA)
    else:
        result.kernels = sum(e.count for e in averages if e.key.startswith('aten::'))
    result.copy_ms = sum(t for k, _, t in rows if k.startswith(COPY_OPS)) / 1000

    def from_layout_caller(event) -> bool:
        parent = event.cpu_parent
        while parent is not None:
            if parent.name in LAYOUT_CALLERS:
                return True
            parent = parent.cpu_parent
        return False

    # A copy's device time is attributed to aten::copy_; its callers say why it was made.
    result.layout_copy_ms = sum(_self_time_us(e, on_gpu) for e in prof.events()
                                if e.name == 'aten::copy_' and from_layout_caller(e)) / 1000
    result.top = [OperatorTime(k, c, t / 1000)
                  for k, c, t in sorted(rows, key=lambda r: -r[2])[:TOP]]
    return result


def profile_models(device: str, precisions: Sequence[str], size: Size = (800, 1280),
                   models: Optional[Dict[str, Tuple[str, bool]]] = None, quick: bool = False,
                   say: Say = print) -> List[Profile]:
    """One inference of each of ``models`` (default :data:`PROFILED`) per precision
    ('fp32', 'amp': float16 on a GPU, bfloat16 on the CPU), built as the speed suite builds
    the models it times (:func:`~mmrest.analysis.timed_model.build_timed_model`). A model
    that fails is reported and the others are profiled."""
    dev = torch.device(device)
    results = []
    for name, (config, backbone_only) in (models or PROFILED).items():
        try:
            model, scope = build_timed_model(config, dev, quick)
        except Exception as error:  # noqa: BLE001 (reported)
            results += [Profile(name, p, size, error=short_error(error)) for p in precisions]
            continue
        inputs = torch.randn(1, 3, *size, device=dev)
        samples = make_data_samples(scope, 1, size)
        for precision in precisions:
            amp = precision == 'amp'
            call = (inference_call(model.backbone, inputs, amp=amp, mode=None) if backbone_only
                    else inference_call(model, inputs, samples, amp))
            say(f'  profiling {name}, {precision}')
            try:
                results.append(profile_call(call, dev, name, precision, size))
            except Exception as error:  # noqa: BLE001 (reported)
                results.append(Profile(name, precision, size, error=short_error(error)))
        del model
        if dev.type == 'cuda':
            torch.cuda.empty_cache()
    return results


def as_dicts(profiles: Sequence[Profile]) -> List[dict]:
    return [asdict(p) for p in profiles]


def from_dicts(data: Sequence[dict]) -> List[Profile]:
    """The profiles :func:`as_dicts` made (read back from a speed.json)."""
    return [Profile(**{**d, 'input_hw': tuple(d['input_hw']),
                       'top': [OperatorTime(**op) for op in d['top']]}) for d in data]


def format_profiles(profiles: Sequence[Profile], device_label: str,
                    precision_labels: Dict[str, str]) -> str:
    """Markdown: a summary row per model and precision, then each one's top operators."""
    time_unit = 'device' if 'cuda' in device_label.lower() or 'nvidia' in \
        device_label.lower() else 'CPU'
    lines = ['# One inference under torch.profiler', '',
             f'{device_label}; self {time_unit} time per operator, one call after two warm-up '
             'calls; random weights.', '']
    rows = []
    for p in profiles:
        label = precision_labels.get(p.precision, p.precision)
        if p.error:
            rows.append([p.model, label, '-', f'failed: {p.error}', '-', '-', '-'])
            continue
        rows.append([p.model, label, f'{p.input_hw[1]}x{p.input_hw[0]}', f'{p.total_ms:.2f}',
                     p.kernels, f'{p.copy_ms:.2f}', f'{p.layout_copy_ms:.2f}'])
    lines += markdown_table(['model', 'precision', 'input', 'total ms', 'kernels / op calls',
                             'copies ms', 'layout copies ms'], rows)
    for p in profiles:
        if p.error:
            continue
        label = precision_labels.get(p.precision, p.precision)
        lines += ['', f'## {p.model}, {label}: top {len(p.top)} operators', '']
        share = [100 * op.self_ms / p.total_ms if p.total_ms else 0.0 for op in p.top]
        lines += markdown_table(['operator', 'calls', 'self ms', 'share'],
                                [[f'`{op.name}`', op.calls, f'{op.self_ms:.3f}', f'{s:.1f}%']
                                 for op, s in zip(p.top, share)])
    return '\n'.join(lines) + '\n'
