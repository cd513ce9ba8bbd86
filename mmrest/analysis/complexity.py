"""Parameters, FLOPs and output shapes of backbones (what the README demo prints)."""
import time
from dataclasses import dataclass, field
from typing import Dict, List, Tuple

import torch
import torch.nn as nn


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_flops(model: nn.Module, inputs: Tuple[torch.Tensor, ...]) -> Tuple[int, Dict[str, int]]:
    """Total FLOPs (one multiply-add counted once, the OpenMMLab/fvcore convention) and FLOPs
    by operator, attention matrix products included (mmengine's jit-based counter)."""
    from mmengine.analysis import FlopAnalyzer
    analyzer = FlopAnalyzer(model, inputs)
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    analyzer.tracer_warnings('none')
    return int(analyzer.total()), dict(analyzer.by_operator())


@dataclass
class BackboneSummary:
    name: str
    input_size: Tuple[int, int]
    params: int
    flops: int
    out_shapes: List[Tuple[int, ...]] = field(default_factory=list)
    seconds: float = 0.0

    def row(self) -> str:
        shapes = ' '.join('x'.join(map(str, s[1:])) for s in self.out_shapes)
        return (f'{self.name:<14} {self.input_size[1]:>4}x{self.input_size[0]:<4} '
                f'{self.params / 1e6:>8.2f}M {self.flops / 1e9:>8.2f}G  {shapes}')


@torch.no_grad()
def summarize_backbone(name: str, model: nn.Module,
                       input_size: Tuple[int, int] = (224, 224)) -> BackboneSummary:
    """Run ``model`` on one random image of ``input_size`` and measure it."""
    model.eval()
    image = torch.randn(1, 3, *input_size)
    start = time.perf_counter()
    outs = model(image)
    seconds = time.perf_counter() - start
    flops, _ = count_flops(model, (image, ))
    return BackboneSummary(name, tuple(input_size), count_parameters(model), flops,
                           [tuple(o.shape) for o in outs], seconds)
