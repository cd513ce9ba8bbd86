"""An mmseg encoder-decoder (UperNet and the like), image to label map, as one graph.

mmseg's ``predict`` in ``whole`` mode: the decode head's logits, resized (bilinear) to the
padded input, the padding cropped, resized again to the original image, arg-max over the
classes. The graph does the same steps with ONNX ``Resize`` and ``ArgMax``.
"""
import inspect
from typing import Any, Tuple

import torch
import torch.nn as nn

from .ops import crop_top_left, resize, sizes_of
from .preprocess import Preprocess, UnsupportedModelError


def check_segmentor(model: nn.Module) -> None:
    mode = (getattr(model, 'test_cfg', None) or {}).get('mode', 'whole')
    if mode != 'whole':
        raise UnsupportedModelError(f"test_cfg.mode={mode!r} is not covered by the end-to-end "
                                    "export (only 'whole' inference)")
    head = model.decode_head
    required = [p for p in list(inspect.signature(head.forward).parameters.values())[1:]
                if p.default is inspect.Parameter.empty and p.kind is p.POSITIONAL_OR_KEYWORD]
    if required or isinstance(head, nn.ModuleList):
        raise UnsupportedModelError(f'decode head {type(head).__name__} is not covered by the '
                                    'end-to-end export (heads whose forward takes the '
                                    'features alone, as UperNet, FCN)')
    if getattr(head, 'out_channels', 2) < 2:
        raise UnsupportedModelError('a single-channel (thresholded) decode head is not covered')
    test_cfg = getattr(model.data_preprocessor, 'test_cfg', None) or {}
    if test_cfg.get('size') is not None:
        raise UnsupportedModelError('data_preprocessor.test_cfg.size (padding to a fixed size)'
                                    ' is not covered; size_divisor is')


class End2EndSegmentor(nn.Module):
    """``(H, W, 3)`` uint8 RGB -> ``(H, W)`` int64 label map (and, for the verification, the
    network input and the resized size under the names of ``HIDDEN_OUTPUTS``)."""

    output_names = ('label_map', )

    def __init__(self, segmentor: nn.Module, cfg: Any) -> None:
        super().__init__()
        check_segmentor(segmentor)
        self.segmentor = segmentor
        self.preprocess = Preprocess.of(segmentor.data_preprocessor, cfg)
        self.align_corners = bool(segmentor.decode_head.align_corners)

    def forward(self, image: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        x, new_hw, _ = self.preprocess(image)
        logits = self.segmentor._forward(x)
        logits = resize(logits, sizes_of(x)[2:], self.align_corners)
        if self.preprocess.size_divisor > 1:
            logits = crop_top_left(logits, new_hw)  # the padding
        logits = resize(logits, sizes_of(image)[:2], self.align_corners)
        return logits.argmax(1)[0], x, new_hw

