"""ResT / ResTv2 backbones against Swin, ConvNeXt and ResNet backbones, measured the same way
in one process with interleaved rounds (the whole detectors, segmentors and classifiers:
:mod:`mmrest.analysis.speed_suite`)."""
import gc
import math
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from .. import models
from ..utils.markdown import markdown_table
from ..utils.packages import require
from . import flops
from .complexity import count_parameters
from .timed_model import infer, inference_call
from .timing import Entry, PeakMemory, call_in_fresh_process, interleaved_timing


def _swin(depths):
    require('mmdet', 'the Swin Transformer baseline')
    from mmdet.models.backbones import SwinTransformer
    return SwinTransformer(embed_dims=96, depths=depths, num_heads=(3, 6, 12, 24),
                           window_size=7, drop_path_rate=0.0, out_indices=(0, 1, 2, 3))


def _convnext(arch):
    require('mmpretrain', 'the ConvNeXt baseline')
    from mmpretrain.models.backbones import ConvNeXt
    return ConvNeXt(arch=arch, out_indices=(0, 1, 2, 3), gap_before_final_norm=False)


def _resnet(depth):
    require('mmdet', 'the ResNet baseline')
    from mmdet.models.backbones import ResNet
    return ResNet(depth=depth, out_indices=(0, 1, 2, 3))


def _rest(cls_name, arch, **kwargs):
    return getattr(models, cls_name)(arch=arch, **kwargs)


# Detection-style backbones: four feature maps, each with the model's own output handling.
BACKBONES: Dict[str, Callable[[], nn.Module]] = {
    'ResTv2-T': lambda: _rest('ResTV2', 'tiny'),
    # The explicit softmax(QK^T)V form, to measure the fused path against.
    'ResTv2-T-explicit': lambda: _rest('ResTV2', 'tiny', fused_attn=False),
    'ResTv2-S': lambda: _rest('ResTV2', 'small'),
    'ResTv2-B': lambda: _rest('ResTV2', 'base'),
    'ResT-S': lambda: _rest('ResT', 'small'),
    'ResT-B': lambda: _rest('ResT', 'base'),
    'Swin-T': lambda: _swin((2, 2, 6, 2)),
    'Swin-S': lambda: _swin((2, 2, 18, 2)),
    'ConvNeXt-T': lambda: _convnext('tiny'),
    'ConvNeXt-S': lambda: _convnext('small'),
    'ResNet-50': lambda: _resnet(50),
    'ResNet-101': lambda: _resnet(101),
}


def _backbone_peak_memory(name: str, input_size: Tuple[int, int], batch_size: int,
                          amp: bool) -> float:
    model = BACKBONES[name]()
    model.eval()
    x = torch.randn(batch_size, 3, *input_size)
    memory = PeakMemory(torch.device('cpu'))
    with memory.measure():
        infer(model, x, amp=amp, mode=None)
    return memory.peak_mib


def peak_memory_in_subprocess(name: str, input_size: Tuple[int, int], batch_size: int,
                              amp: bool = False) -> float:
    """CPU peak memory of one inference of backbone ``name`` in a fresh process (in a
    long-lived process, memory freed by earlier models hides the real need)."""
    return call_in_fresh_process(_backbone_peak_memory, name, input_size, batch_size, amp)


def compare_backbones(names: Sequence[str], input_size: Tuple[int, int], batch_size: int,
                      device: str = 'cpu', iters: int = 2, warmup: int = 1, repeats: int = 3,
                      amp: bool = False, count_flops: bool = True,
                      progress: Optional[Callable[[str], None]] = print) -> List[Entry]:
    """Backbone forward (inference) of every model in ``names`` at ``input_size`` (H, W)."""
    unknown = [n for n in names if n not in BACKBONES]
    if unknown:
        raise KeyError(f'unknown backbones {unknown}; choose from {list(BACKBONES)}')
    dev = torch.device(device)
    models = {}
    for name in names:
        torch.manual_seed(0)  # default PyTorch init: speed does not depend on the values
        model = BACKBONES[name]().to(dev)
        model.eval()  # not chained: some train() overrides (mmdet's Swin) return None
        models[name] = model
    x = torch.randn(batch_size, 3, *input_size, device=dev)
    if progress:
        progress(f'backbones at {input_size[1]}x{input_size[0]}, batch {batch_size}, {device}')
    calls = {name: inference_call(m, x, amp=amp, mode=None) for name, m in models.items()}
    entries = interleaved_timing(calls, dev, iters, warmup, repeats, progress)
    for name, model in models.items():
        entries[name].params = count_parameters(model)
        if count_flops:  # per image, traced on the CPU
            entries[name].flops = flops.count_flops(model.cpu(), (x[:1].cpu(), ))[0]
    if dev.type == 'cpu':
        if progress:
            progress('  peak memory, each model in a fresh process')
        for name in names:
            entries[name].peak_memory_mib = peak_memory_in_subprocess(name, input_size,
                                                                      batch_size, amp)
    del models
    gc.collect()
    return [entries[n] for n in names]


def format_markdown(title: str, entries: Sequence[Entry], batch_size: int,
                    reference: str = 'ResTv2-T') -> str:
    ref = next((e for e in entries if e.name == reference), None)
    rows = []
    for e in entries:
        rel = f'{e.median_ms() / ref.median_ms():.2f}x' if ref else '-'
        flops = f'{e.flops / 1e9:.1f}G' if e.flops else '-'
        memory = '-' if math.isnan(e.peak_memory_mib) else f'{e.peak_memory_mib:.0f} MiB'
        rows.append([e.name, f'{e.params / 1e6:.1f}M', flops, f'{e.median_ms():.0f}',
                     f'{1000 * batch_size / e.median_ms():.2f}', rel, memory])
    header = ['model', 'params', 'FLOPs', 'ms / batch (median)', 'images/s',
              'vs ResTv2-T time', 'peak memory']
    return '\n'.join([f'**{title}**', ''] + markdown_table(header, rows))
