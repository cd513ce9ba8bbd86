"""FLOP counting by operator class, with the attention products counted.

mmengine's counter (like fvcore) knows ``matmul`` but not
``aten::scaled_dot_product_attention``; mmcv's counter ignores matrix products altogether.
Both attention matrix products (QK^T and AV) are counted here as ``matmul``.
"""
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


def flops_by_class(model: nn.Module, inputs: Tuple[Any, ...]) -> Dict[str, int]:
    """FLOPs (one multiply-add = one FLOP) grouped into conv / linear / matmul / others."""
    from mmengine.analysis import FlopAnalyzer
    analyzer = FlopAnalyzer(model, inputs)
    analyzer.set_op_handle('aten::scaled_dot_product_attention', _sdpa_flop_handle)
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    analyzer.tracer_warnings('none')
    totals = dict.fromkeys(OPERATOR_CLASSES, 0)
    for op, flops in analyzer.by_operator().items():
        totals[_CLASS_OF.get(op, 'others')] += int(flops)
    return totals
