"""ResT / ResTv2 against Swin, ConvNeXt and ResNet, measured the same way in one process with
interleaved repeats (so that drifts of the machine hit every model alike)."""
import copy
import gc
import math
import statistics
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from .benchmark import PeakMemory, autocast, synchronize
from .flops import flops_by_class


def _swin(depths):
    from mmdet.models.backbones import SwinTransformer
    return SwinTransformer(embed_dims=96, depths=depths, num_heads=(3, 6, 12, 24),
                           window_size=7, drop_path_rate=0.0, out_indices=(0, 1, 2, 3))


def _convnext(arch):
    from mmpretrain.models.backbones import ConvNeXt
    return ConvNeXt(arch=arch, out_indices=(0, 1, 2, 3), gap_before_final_norm=False)


def _resnet(depth):
    from mmdet.models.backbones import ResNet
    return ResNet(depth=depth, out_indices=(0, 1, 2, 3))


def _rest(cls_name, arch, **kwargs):
    import mmrest
    return getattr(mmrest, cls_name)(arch=arch, **kwargs)


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

MASK_RCNN_CONFIGS = {
    'ResTv2-T': 'configs/mask_rcnn_restv2_t_1x.py',
    'Swin-T': 'mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py',
    'ResNet-50': 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py',
}


@dataclass
class Entry:
    name: str
    params: int = 0
    flops: int = 0
    times: List[float] = field(default_factory=list)  # seconds per batch
    peak_memory_mib: float = 0.0

    def median_ms(self) -> float:
        return 1000 * statistics.median(self.times) if self.times else float('nan')


def _count_flops(model: nn.Module, inputs: Tuple) -> int:
    return sum(flops_by_class(model, inputs).values())


def interleaved_timing(models: Dict[str, nn.Module], make_call: Callable[[nn.Module], Callable],
                       device: torch.device, iters: int, warmup: int, repeats: int,
                       progress: Optional[Callable[[str], None]] = print) -> Dict[str, Entry]:
    """``repeats`` rounds; in each, every model runs ``iters`` timed calls in turn."""
    entries = {name: Entry(name) for name in models}
    calls = {name: make_call(model) for name, model in models.items()}
    for name, call in calls.items():
        memory = PeakMemory(device)
        with memory.measure():  # exact on CUDA; on the CPU see peak_memory_in_subprocess
            for _ in range(warmup):
                call()
        synchronize(device)
        entries[name].peak_memory_mib = memory.peak_mib
    for r in range(repeats):
        order = list(calls) if r % 2 == 0 else list(reversed(calls))
        for name in order:
            for _ in range(iters):
                synchronize(device)
                start = time.perf_counter()
                calls[name]()
                synchronize(device)
                entries[name].times.append(time.perf_counter() - start)
        if progress:
            progress(f'  round {r + 1}/{repeats}: ' + ', '.join(
                f'{n} {1000 * statistics.median(e.times):.0f} ms' for n, e in entries.items()))
    return entries


def _backbone_peak_memory(name: str, input_size: Tuple[int, int], batch_size: int,
                          amp: bool, queue) -> None:
    torch.set_num_threads(torch.get_num_threads())
    model = BACKBONES[name]()
    model.eval()
    x = torch.randn(batch_size, 3, *input_size)
    memory = PeakMemory(torch.device('cpu'))
    with memory.measure(), torch.no_grad(), autocast(torch.device('cpu'), amp):
        model(x)
    queue.put(memory.peak_mib)


def peak_memory_in_subprocess(name: str, input_size: Tuple[int, int], batch_size: int,
                              amp: bool = False) -> float:
    """CPU peak memory of one inference of backbone ``name`` in a fresh process (in a
    long-lived process, memory freed by earlier models hides the real need)."""
    import multiprocessing as mp
    context = mp.get_context('spawn')
    queue = context.Queue()
    process = context.Process(target=_backbone_peak_memory,
                              args=(name, input_size, batch_size, amp, queue))
    process.start()
    peak = queue.get(timeout=1800)
    process.join()
    return peak


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

    def make_call(model):
        def call():
            with torch.no_grad(), autocast(dev, amp):
                model(x)
        return call

    if progress:
        progress(f'backbones at {input_size[1]}x{input_size[0]}, batch {batch_size}, {device}')
    entries = interleaved_timing(models, make_call, dev, iters, warmup, repeats, progress)
    for name, model in models.items():
        entries[name].params = sum(p.numel() for p in model.parameters())
        if count_flops:  # per image, traced on the CPU
            entries[name].flops = _count_flops(model.cpu(), (x[:1].cpu(), ))
    if dev.type == 'cpu':
        if progress:
            progress('  peak memory, each model in a fresh process')
        for name in names:
            entries[name].peak_memory_mib = peak_memory_in_subprocess(name, input_size,
                                                                      batch_size, amp)
    del models
    gc.collect()
    return [entries[n] for n in names]


def compare_mask_rcnn(names: Sequence[str], input_size: Tuple[int, int] = (800, 1280),
                      device: str = 'cpu', iters: int = 1, warmup: int = 1, repeats: int = 3,
                      amp: bool = False,
                      progress: Optional[Callable[[str], None]] = print) -> List[Entry]:
    """Mask R-CNN inference (``mode='tensor'``: backbone, FPN, RPN proposals and the RoI box
    and mask heads on them, without the weight-dependent final NMS) for each backbone."""
    from .benchmark import build_from_config, config_from_path
    from .model_inputs import make_data_samples
    dev = torch.device(device)
    models, samples = {}, make_data_samples('mmdet', 1, input_size)
    for name in names:
        cfg = config_from_path(MASK_RCNN_CONFIGS[name])
        torch.manual_seed(0)
        models[name], _ = build_from_config(cfg, None, dev)
    x = torch.randn(1, 3, *input_size, device=dev)

    def make_call(model):
        def call():
            with torch.no_grad(), autocast(dev, amp):
                model(x, copy.deepcopy(samples), mode='tensor')
        return call

    if progress:
        progress(f'Mask R-CNN at {input_size[1]}x{input_size[0]}, {device}')
    entries = interleaved_timing(models, make_call, dev, iters, warmup, repeats, progress)
    for name, model in models.items():
        entries[name].params = sum(p.numel() for p in model.parameters())
        if dev.type == 'cpu':  # not comparable in one process on the CPU
            entries[name].peak_memory_mib = float('nan')
    return [entries[n] for n in names]


def format_markdown(title: str, entries: Sequence[Entry], batch_size: int,
                    reference: str = 'ResTv2-T') -> str:
    ref = next((e for e in entries if e.name == reference), None)
    lines = [f'**{title}**', '',
             '| model | params | FLOPs | ms / batch (median) | images/s | vs ResTv2-T time | '
             'peak memory |', '|---|---|---|---|---|---|---|']
    for e in entries:
        rel = f'{e.median_ms() / ref.median_ms():.2f}x' if ref else '-'
        flops = f'{e.flops / 1e9:.1f}G' if e.flops else '-'
        memory = '-' if math.isnan(e.peak_memory_mib) else f'{e.peak_memory_mib:.0f} MiB'
        lines.append(f'| {e.name} | {e.params / 1e6:.1f}M | {flops} | {e.median_ms():.0f} | '
                     f'{1000 * batch_size / e.median_ms():.2f} | {rel} | {memory} |')
    return '\n'.join(lines)
