"""Compare global / win / cwin / hwin attention for a config (ResTv2 paper, Sec. 5.1, Table 4):
parameters, FLOPs by operator class, padding overhead and measured speed."""
import copy
import csv
import math
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.config import Config

from ..models.backbones.rest import ATTN_STYLES
from .complexity import count_parameters
from .flops import OPERATOR_CLASSES, TensorForward, flops_by_class
from .model_inputs import make_data_samples, num_classes_of
from .timed_model import build_timed_model, inference_call
from .timing import autocast, interleaved_timing, median

STYLES = ATTN_STYLES  # in the papers' order


@dataclass
class StyleResult:
    style: str
    params: int
    flops: Dict[str, int]
    padding_overhead: float  # extra tokens attended because of window padding, all blocks
    forward_ms: List[float] = field(default_factory=list)
    train_ms: List[float] = field(default_factory=list)
    peak_memory_mib: Optional[float] = None  # inference, on a GPU
    error: Optional[str] = None

    @property
    def total_flops(self) -> int:
        return sum(self.flops.values())

    median = staticmethod(median)


def padding_overhead(backbone: torch.nn.Module, size: Tuple[int, int]) -> float:
    """Tokens processed by attention with padding / real tokens - 1, over all blocks."""
    real = padded = 0
    h, w = size
    for stage in range(4):
        h, w = math.ceil(h / (4 if stage == 0 else 2)), math.ceil(w / (4 if stage == 0 else 2))
        for block in backbone.stage(stage).blocks:
            real += h * w
            ws = block.window_size
            if ws is None:
                padded += h * w
            else:
                wh, ww = min(ws, h), min(ws, w)
                padded += math.ceil(h / wh) * wh * math.ceil(w / ww) * ww
    return padded / real - 1.0


def build_with_style(cfg: Config, style: str, window_size: Optional[Sequence[int]] = None,
                     device: str = 'cpu'):
    """The model of ``cfg`` with its backbone switched to ``style`` (random weights)."""
    options = {'model.backbone.attn_style': style}
    if window_size is not None:
        options['model.backbone.window_size'] = tuple(window_size)
    return build_timed_model(cfg, device, cfg_options=options)


def compare_attention_styles(cfg: Config,
                             styles: Sequence[str] = STYLES,
                             input_size: Tuple[int, int] = (800, 1280),
                             device: str = 'cpu',
                             iters: int = 3,
                             warmup: int = 1,
                             train: bool = False,
                             window_size: Optional[Sequence[int]] = None,
                             repeats: int = 1,
                             amp: bool = False,
                             count_flops: bool = True,
                             progress=print,
                             round_seconds: Optional[float] = None,
                             deadline: Optional[float] = None) -> List[StyleResult]:
    """Build the model of ``cfg`` once per style and measure them on one image of
    ``input_size`` (H, W): FLOPs by operator class, then inference (and with ``train``
    training steps) interleaved over ``repeats`` rounds of ``iters`` calls."""
    unknown = set(styles) - set(STYLES)
    if unknown:
        raise ValueError(f'unknown attention styles {sorted(unknown)}; choose from {STYLES}')
    dev = torch.device(device)
    inputs = torch.randn(1, 3, *input_size, device=dev)
    models, results, samples = {}, {}, None
    for style in styles:
        progress(f'[{style}] building the model')
        model, scope = build_with_style(cfg, style, window_size, device)
        samples = make_data_samples(scope, 1, input_size)
        flops: Dict[str, int] = {}
        if count_flops:
            progress(f'[{style}] counting FLOPs')
            flops = flops_by_class(TensorForward(model, samples), (inputs, ))
        models[style] = model
        results[style] = StyleResult(style, count_parameters(model), flops,
                                     padding_overhead(model.backbone, input_size))

    progress(f'timing inference ({warmup} warm-up, {repeats} rounds x {iters} calls)')
    calls = {s: inference_call(m, inputs, samples, amp) for s, m in models.items()}
    for style, entry in interleaved_timing(calls, dev, iters, warmup, repeats, progress,
                                           round_seconds=round_seconds,
                                           deadline=deadline).items():
        results[style].forward_ms = [1000 * t for t in entry.times]
        results[style].error = entry.error
        if dev.type == 'cuda':
            results[style].peak_memory_mib = entry.peak_memory_mib
    if train:
        targets = make_data_samples(scope, 1, input_size, with_targets=True,
                                    num_classes=num_classes_of(next(iter(models.values()))))
        targets = [t.to(dev) for t in targets]

        def step(model):
            def call():
                with autocast(dev, amp):
                    losses = model(inputs, copy.deepcopy(targets), mode='loss')
                    total, _ = model.parse_losses(losses)
                total.backward()
                model.zero_grad(set_to_none=True)
            return call

        for model in models.values():
            model.train()
        progress('timing training steps')
        for style, entry in interleaved_timing({s: step(m) for s, m in models.items()}, dev,
                                               iters, warmup, repeats, progress,
                                               round_seconds=round_seconds,
                                               deadline=deadline).items():
            results[style].train_ms = [1000 * t for t in entry.times]
            results[style].error = results[style].error or entry.error
    return [results[s] for s in styles]


def format_table(results: Sequence[StyleResult]) -> str:
    header = (f'{"style":<7} {"params":>8} {"FLOPs":>8} ' +
              ' '.join(f'{c:>7}' for c in OPERATOR_CLASSES) +
              f' {"pad":>6} {"fwd ms":>8}' + (f' {"train ms":>9}' if results and
                                              results[0].train_ms else ''))
    lines = [header, '-' * len(header)]
    for r in results:
        line = (f'{r.style:<7} {r.params / 1e6:>7.2f}M {r.total_flops / 1e9:>7.1f}G ' +
                ' '.join(f'{r.flops[c] / 1e9:>6.2f}G' for c in OPERATOR_CLASSES) +
                f' {r.padding_overhead * 100:>5.1f}% {StyleResult.median(r.forward_ms):>8.1f}')
        if r.train_ms:
            line += f' {StyleResult.median(r.train_ms):>9.1f}'
        lines.append(line)
    return '\n'.join(lines)


def write_csv(results: Sequence[StyleResult], path: str) -> None:
    with open(path, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['style', 'params', 'flops_total'] +
                        [f'flops_{c}' for c in OPERATOR_CLASSES] +
                        ['padding_overhead', 'forward_ms_median', 'train_ms_median'])
        for r in results:
            writer.writerow([r.style, r.params, r.total_flops] +
                            [r.flops[c] for c in OPERATOR_CLASSES] +
                            [f'{r.padding_overhead:.4f}',
                             f'{StyleResult.median(r.forward_ms):.2f}',
                             f'{StyleResult.median(r.train_ms):.2f}' if r.train_ms else ''])


def write_chart(results: Sequence[StyleResult], path: str, title: str = '') -> None:
    """Stacked FLOPs by operator class beside the measured time per image."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    styles = [r.style for r in results]
    fig, (ax_flops, ax_time) = plt.subplots(1, 2, figsize=(10, 4))
    bottom = [0.0] * len(results)
    for cls in OPERATOR_CLASSES:
        values = [r.flops[cls] / 1e9 for r in results]
        ax_flops.bar(styles, values, bottom=bottom, label=cls)
        bottom = [b + v for b, v in zip(bottom, values)]
    ax_flops.set_ylabel('GFLOPs')
    ax_flops.set_title('FLOPs by operator')
    ax_flops.legend()
    ax_time.bar(styles, [StyleResult.median(r.forward_ms) for r in results], label='inference')
    if results and results[0].train_ms:
        ax_time.bar(styles, [StyleResult.median(r.train_ms) for r in results], alpha=0.4,
                    label='training step')
        ax_time.legend()
    ax_time.set_ylabel('ms per image (median)')
    ax_time.set_title('measured time')
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def results_as_dicts(results: Sequence[StyleResult]) -> List[dict]:
    return [dict(asdict(r), total_flops=r.total_flops) for r in results]
