"""The test pipeline and data preprocessor of a config, inside the graph.

The exported graph takes one raw ``(H, W, 3)`` uint8 RGB image and does what mmdet / mmseg do
before the network, with the same results to the last bit: the test pipeline's ``Resize``
(mmcv's ``imrescale`` / ``imresize``: the sizes rounded as ``rescale_size``, in float64, and
OpenCV's fixed-point bilinear interpolation of the uint8 image, :mod:`.imresize`), the
channel order the model was trained with, the normalisation and the padding to the size
divisor (with the pad value, after the normalisation, as mmengine's ``ImgDataPreprocessor``).
"""
from dataclasses import dataclass
from typing import Any, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from .imresize import resize_uint8_linear
from .ops import pad_bottom_right, sizes_of

# Pipeline steps that change nothing the network sees: loading, annotations, packing.
PASSIVE_TRANSFORMS = ('LoadImageFromFile', 'LoadAnnotations', 'PackDetInputs',
                      'PackSegInputs', 'LoadImageFromNDArray', 'InferencerLoader')


class UnsupportedModelError(ValueError):
    """The config asks for something the end-to-end export does not cover."""


@dataclass(frozen=True)
class ResizeSpec:
    """The test pipeline's resize: to fit ``scale`` (w, h) keeping the aspect ratio, as
    mmcv's ``imrescale``, or to exactly ``scale``."""
    scale: Tuple[int, int]
    keep_ratio: bool


def _short_name(transform_type: Any) -> str:
    return str(getattr(transform_type, '__name__', transform_type)).split('.')[-1]


def test_pipeline_of(cfg: Any) -> Sequence[dict]:
    loader = cfg.get('test_dataloader') or {}
    pipeline = (loader.get('dataset') or {}).get('pipeline') or cfg.get('test_pipeline')
    if not pipeline:
        raise UnsupportedModelError('the config has no test pipeline (test_dataloader.dataset'
                                    '.pipeline or test_pipeline): nothing says how to resize')
    return pipeline


def resize_spec(cfg: Any) -> Optional[ResizeSpec]:
    """The one ``Resize`` of the config's test pipeline (None: the image is not resized)."""
    spec = None
    for step in test_pipeline_of(cfg):
        name = _short_name(step.get('type'))
        if name in PASSIVE_TRANSFORMS:
            continue
        if name != 'Resize' or spec is not None:
            raise UnsupportedModelError(
                f'test pipeline step {name!r} is not covered by the end-to-end export (it '
                'covers one Resize; test-time augmentation is not exported)')
        if step.get('scale') is None or step.get('scale_factor') is not None:
            raise UnsupportedModelError('only a Resize to a scale is covered, not a '
                                        'scale_factor')
        if step.get('interpolation', 'bilinear') != 'bilinear':
            raise UnsupportedModelError(f'Resize interpolation {step["interpolation"]!r} is '
                                        'not covered (bilinear only)')
        if step.get('backend', 'cv2') != 'cv2':
            raise UnsupportedModelError(f'Resize backend {step["backend"]!r} is not covered '
                                        "(OpenCV's, 'cv2', only)")
        scale = step['scale']
        scale = (scale, scale) if isinstance(scale, int) else tuple(int(s) for s in scale)
        spec = ResizeSpec(scale, bool(step.get('keep_ratio', False)))
    return spec


class Preprocess(nn.Module):
    """``(H, W, 3)`` uint8 RGB -> ``(1, 3, Hp, Wp)`` network input, plus the resized
    ``(h, w)`` (int64) and the scale factor ``(w_scale, h_scale)`` of the resize (float32),
    as mmdet records them in ``img_shape`` and ``scale_factor``."""

    def __init__(self, data_preprocessor: nn.Module, resize_cfg: Optional[ResizeSpec],
                 size_divisor: int = 1, pad_value: float = 0.0) -> None:
        super().__init__()
        dp = data_preprocessor
        # mmengine's _channel_conversion / mmseg's channel_conversion: the model's input
        # channels are in the other order than the loaded (BGR) image, i.e. RGB.
        convert = getattr(dp, '_channel_conversion', getattr(dp, 'channel_conversion', False))
        self.to_bgr = not convert
        self.normalize = bool(getattr(dp, '_enable_normalize', False))
        mean = dp.mean.detach().reshape(1, -1, 1, 1) if self.normalize else torch.zeros(1)
        std = dp.std.detach().reshape(1, -1, 1, 1) if self.normalize else torch.ones(1)
        self.register_buffer('mean', mean.clone().float(), persistent=False)
        self.register_buffer('std', std.clone().float(), persistent=False)
        self.resize_cfg = resize_cfg
        self.size_divisor = int(size_divisor or 1)
        self.pad_value = float(pad_value)

    @classmethod
    def of(cls, data_preprocessor: nn.Module, cfg: Any) -> 'Preprocess':
        """The preprocessing of a config's test pipeline and its model's data preprocessor
        (mmengine / mmdet: ``pad_size_divisor``; mmseg: ``test_cfg.size_divisor``)."""
        dp = data_preprocessor
        if hasattr(dp, 'pad_size_divisor'):
            divisor, pad_value = dp.pad_size_divisor, getattr(dp, 'pad_value', 0)
        else:
            divisor = (getattr(dp, 'test_cfg', None) or {}).get('size_divisor')
            pad_value = getattr(dp, 'pad_val', 0)
        return cls(dp, resize_spec(cfg), divisor or 1, pad_value)

    def resized_size(self, hw: torch.Tensor) -> torch.Tensor:
        """(h, w) int64 after the resize, from the image's (h, w), as mmcv's ``rescale_size``:
        ``int(x * factor + 0.5)`` with the factor and the product in float64.

        Every intermediate is a 1-element tensor and each quotient a ``Div`` of two tensors:
        the exporter would compute 0-dim "scalars" in float32, and ``number / tensor`` is
        traced as a reciprocal times the number (two roundings)."""
        spec = self.resize_cfg
        if spec is None:
            return hw
        if not spec.keep_ratio:
            return torch.tensor([spec.scale[1], spec.scale[0]], dtype=torch.int64)
        hw64 = hw.to(torch.float64)
        longest, shortest = hw64.max(0, keepdim=True)[0], hw64.min(0, keepdim=True)[0]
        factor = torch.minimum(torch.full_like(longest, float(max(spec.scale))) / longest,
                               torch.full_like(shortest, float(min(spec.scale))) / shortest)
        return torch.floor(hw64 * factor + 0.5).to(torch.int64)

    def forward(self, image: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        hw = sizes_of(image)[:2]
        new_hw = self.resized_size(hw)
        # The resize works on the (H, W, 3) uint8 image, as OpenCV on the loaded image; its
        # float64 result holds the uint8 values.
        x = image if self.resize_cfg is None else resize_uint8_linear(image, new_hw)
        x = x.permute(2, 0, 1)[None].float()
        if self.to_bgr:
            x = x.flip(1)
        if self.normalize:
            x = (x - self.mean) / self.std
        if self.size_divisor > 1:
            padded = torch.div(new_hw + self.size_divisor - 1, self.size_divisor,
                               rounding_mode='floor') * self.size_divisor
            x = pad_bottom_right(x, padded - new_hw, self.pad_value)
        # mmdet's scale_factor: new / old in float64 (then float32 where the boxes use it).
        scale_wh = (new_hw.to(torch.float64) / hw.to(torch.float64)).float().flip(0)
        return x, new_hw, scale_wh
