"""Parameters, FLOPs and output shapes of backbones and of whole models of configs (the README's
tables)."""
import time
from dataclasses import dataclass, field
from typing import ClassVar, List, Tuple

import torch
import torch.nn as nn

from ..utils.build import count_parameters
from ..utils.markdown import markdown_row
from .flops import count_flops


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


@dataclass
class ConfigSummary:
    HEADER: ClassVar[Tuple[str, ...]] = ('config', 'input (WxH)', 'params', 'backbone params',
                                         'FLOPs')
    name: str
    input_size: Tuple[int, int]
    params: int
    backbone_params: int
    flops: int

    def row(self) -> str:
        h, w = self.input_size
        return markdown_row([self.name, f'{w}x{h}', f'{self.params / 1e6:.2f}M',
                             f'{self.backbone_params / 1e6:.2f}M', f'{self.flops / 1e9:.1f}G'])


@torch.no_grad()
def summarize_config(config: str, input_size: Tuple[int, int]) -> ConfigSummary:
    """Parameters (whole model and backbone) and FLOPs of the model of ``config`` (a path or
    ``pkg::NAME``) for one image of ``input_size`` (H, W), in ``mode='tensor'`` (the network
    without post-processing), counted by :func:`~mmrest.analysis.flops.count_flops`."""
    from ..utils.build import build_model
    from ..utils.config_loading import load_config
    from .flops import TensorForward
    from .model_inputs import make_data_samples
    model, scope = build_model(load_config(config))
    image = torch.randn(1, 3, *input_size)
    flops, _ = count_flops(TensorForward(model, make_data_samples(scope, 1, input_size)),
                           (image, ))
    backbone = getattr(model, 'backbone', model)
    return ConfigSummary(config, tuple(input_size), count_parameters(model),
                         count_parameters(backbone), flops)
