"""Compare global / win / cwin / hwin attention for a config (ResTv2 paper, Sec. 5.1, Table 4):
parameters, FLOPs by operator class, padding overhead and measured speed."""
import copy
import csv
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.config import Config

from .flops import OPERATOR_CLASSES, flops_by_class
from .model_inputs import make_data_samples, num_classes_of

STYLES = ('global', 'win', 'cwin', 'hwin')


@dataclass
class StyleResult:
    style: str
    params: int
    flops: Dict[str, int]
    padding_overhead: float  # extra tokens attended because of window padding, all blocks
    forward_ms: List[float] = field(default_factory=list)
    train_ms: List[float] = field(default_factory=list)

    @property
    def total_flops(self) -> int:
        return sum(self.flops.values())

    @staticmethod
    def median(values: Sequence[float]) -> float:
        return sorted(values)[len(values) // 2] if values else float('nan')


def padding_overhead(backbone: torch.nn.Module, size: Tuple[int, int]) -> float:
    """Tokens processed by attention with padding / real tokens - 1, over all blocks."""
    real = padded = 0
    h, w = size
    for stage in range(4):
        h, w = math.ceil(h / (4 if stage == 0 else 2)), math.ceil(w / (4 if stage == 0 else 2))
        for block in backbone.stage_blocks(stage):
            real += h * w
            ws = block.window_size
            if ws is None:
                padded += h * w
            else:
                wh, ww = min(ws, h), min(ws, w)
                padded += math.ceil(h / wh) * wh * math.ceil(w / ww) * ww
    return padded / real - 1.0


def build_model(cfg: Config, style: str, window_size: Optional[Sequence[int]] = None):
    """The model of ``cfg`` with its backbone switched to ``style`` (random weights)."""
    from mmengine.registry import DefaultScope, init_default_scope
    import importlib
    cfg = copy.deepcopy(cfg)
    backbone = cfg.model.backbone
    backbone.attn_style = style
    if window_size is not None:
        backbone.window_size = tuple(window_size)
    backbone.init_cfg = None
    scope = cfg.get('default_scope', 'mmdet')
    init_default_scope(scope)
    registry = importlib.import_module(f'{scope}.registry').MODELS
    with DefaultScope.overwrite_default_scope(scope):
        model = registry.build(cfg.model)
    model.init_weights()
    return model, scope


def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def time_calls(fn, iters: int, warmup: int, device: torch.device) -> List[float]:
    """Milliseconds per call, after ``warmup`` untimed calls, synchronised on GPU."""
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append((time.perf_counter() - start) * 1000.0)
    return times


def compare_attention_styles(cfg: Config,
                             styles: Sequence[str] = STYLES,
                             input_size: Tuple[int, int] = (800, 1280),
                             device: str = 'cpu',
                             iters: int = 3,
                             warmup: int = 1,
                             train: bool = False,
                             window_size: Optional[Sequence[int]] = None,
                             progress=print) -> List[StyleResult]:
    """Build the model of ``cfg`` once per style and measure it on one image of
    ``input_size`` (H, W)."""
    unknown = set(styles) - set(STYLES)
    if unknown:
        raise ValueError(f'unknown attention styles {sorted(unknown)}; choose from {STYLES}')
    dev = torch.device(device)
    results = []
    for style in styles:
        progress(f'[{style}] building the model')
        model, scope = build_model(cfg, style, window_size)
        model.to(dev).eval()
        inputs = torch.randn(1, 3, *input_size, device=dev)
        samples = make_data_samples(scope, 1, input_size)
        flops_model = _TensorForward(model, samples)
        progress(f'[{style}] counting FLOPs')
        flops = flops_by_class(flops_model, (inputs, ))
        result = StyleResult(style, sum(p.numel() for p in model.parameters()), flops,
                             padding_overhead(model.backbone, input_size))
        progress(f'[{style}] timing inference ({warmup} warm-up + {iters} runs)')
        with torch.no_grad():
            result.forward_ms = time_calls(
                lambda: model(inputs, copy.deepcopy(samples), mode='predict'), iters, warmup,
                dev)
        if train:
            progress(f'[{style}] timing training steps')
            model.train()
            targets = make_data_samples(scope, 1, input_size, with_targets=True,
                                        num_classes=num_classes_of(model))
            targets = [t.to(dev) for t in targets]

            def step():
                losses = model(inputs, copy.deepcopy(targets), mode='loss')
                total = sum(v.sum() for k, v in losses.items() if 'loss' in k and isinstance(
                    v, torch.Tensor)) + sum(sum(x.sum() for x in v) for k, v in losses.items()
                                            if 'loss' in k and isinstance(v, list))
                total.backward()
                model.zero_grad(set_to_none=True)

            result.train_ms = time_calls(step, iters, warmup, dev)
        results.append(result)
    return results


class _TensorForward(torch.nn.Module):
    """``model(inputs, samples, mode='tensor')`` as a one-argument module for jit tracing."""

    def __init__(self, model: torch.nn.Module, samples: list) -> None:
        super().__init__()
        self.model = model
        self.samples = samples

    def forward(self, inputs: torch.Tensor):
        return self.model(inputs, self.samples, mode='tensor')


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
