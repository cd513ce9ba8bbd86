"""FLOP counting by operator class, with the attention products counted.

mmengine's counter (like fvcore) knows ``matmul`` but not
``aten::scaled_dot_product_attention``; mmcv's counter ignores matrix products altogether.
Both attention matrix products (QK^T and AV) are counted here as ``matmul``.
"""
import inspect
from collections import Counter
from typing import Any, Dict, List, Tuple

import torch.nn as nn

OPERATOR_CLASSES = ('conv', 'linear', 'matmul', 'others')
_CLASS_OF = {'conv': 'conv', 'linear': 'linear', 'addmm': 'linear', 'matmul': 'matmul',
             'bmm': 'matmul', 'einsum': 'matmul', 'scaled_dot_product_attention': 'matmul'}


def _sdpa_flop_handle(inputs: List[Any], outputs: List[Any]) -> Counter:
    from mmengine.analysis.jit_handles import get_shape
    q, k = get_shape(inputs[0]), get_shape(inputs[1])
    *batch, n, d = q
    m = k[-2]
    v_dim = get_shape(inputs[2])[-1]
    prod = 1
    for b in batch:
        prod *= b
    return Counter({'scaled_dot_product_attention': prod * n * m * (d + v_dim)})


def flop_analyzer(model: nn.Module, inputs: Tuple[Any, ...]):
    """mmengine's ``FlopAnalyzer`` for ``model(*inputs)``, counting the fused attention too,
    without its warnings. The one FLOP counter of every mmrest tool."""
    from mmengine.analysis import FlopAnalyzer
    analyzer = FlopAnalyzer(model, inputs)
    analyzer.set_op_handle('aten::scaled_dot_product_attention', _sdpa_flop_handle)
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    analyzer.tracer_warnings('none')
    return analyzer


def count_flops(model: nn.Module, inputs: Tuple[Any, ...]) -> Tuple[int, Dict[str, int]]:
    """Total FLOPs (one multiply-add counted once, the OpenMMLab/fvcore convention) and FLOPs
    by operator."""
    analyzer = flop_analyzer(model, inputs)
    return int(analyzer.total()), {k: int(v) for k, v in analyzer.by_operator().items()}


def flops_by_class(model: nn.Module, inputs: Tuple[Any, ...]) -> Dict[str, int]:
    """FLOPs grouped into conv / linear / matmul / others."""
    totals = dict.fromkeys(OPERATOR_CLASSES, 0)
    for op, flops in count_flops(model, inputs)[1].items():
        totals[_CLASS_OF.get(op, 'others')] += flops
    return totals


class TensorForward(nn.Module):
    """``model(inputs, samples, mode='tensor')`` of an mmdet / mmseg / mmpretrain model as a
    one-argument module, for FLOP counting (jit tracing)."""

    def __init__(self, model: nn.Module, samples: list) -> None:
        super().__init__()
        self.model = model
        self.samples = samples

    def forward(self, inputs):
        head = getattr(self.model, 'decode_head', None)
        if head is not None and 'batch_data_samples' in inspect.signature(head.forward).parameters:
            # mmseg's tensor mode calls decode_head(x) alone, which its Mask2Former head refuses.
            return head(self.model.extract_feat(inputs), self.samples)
        return self.model(inputs, self.samples, mode='tensor')
