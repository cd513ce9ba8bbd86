"""The end-to-end graph's preprocessing against mmcv / OpenCV, bit for bit, in ONNX Runtime.

* the resize alone (:func:`resize_uint8_linear`) against ``cv2.resize(INTER_LINEAR)`` on
  random uint8 images: up- and down-scaling, sizes that are not multiples of 32, one-pixel
  images, OpenCV's special cases (a shrink by exactly 2, the same size);
* the resized size against mmcv's ``rescale_size`` (``int(x * scale + 0.5)`` in float64), on
  random sizes and on the sizes where ``x * scale + 0.5`` comes closest to an integer;
* the whole preprocessing (resize, channel order, normalisation, padding) against mmdet's and
  mmseg's test pipeline and data preprocessor at the configs' scales (slow).
"""
from typing import List, Tuple

import numpy as np
import pytest
import torch

pytest.importorskip('onnx')
ort = pytest.importorskip('onnxruntime')
cv2 = pytest.importorskip('cv2')

from mmrest.deploy.end2end import check_standard_graph  # noqa: E402
from mmrest.deploy.end2end.imresize import resize_uint8_linear  # noqa: E402
from mmrest.deploy.end2end.preprocess import Preprocess, ResizeSpec  # noqa: E402
from mmrest.deploy.end2end.verify import pipeline_inputs  # noqa: E402
from mmrest.utils.compat import onnx_export  # noqa: E402

MIN_OPSET = 11  # what a graph without RoiAlign is exported with at least


class _Resize(torch.nn.Module):

    def forward(self, image: torch.Tensor, size_hw: torch.Tensor) -> torch.Tensor:
        return resize_uint8_linear(image, size_hw)


class _ResizedSize(torch.nn.Module):

    def __init__(self, spec: ResizeSpec) -> None:
        super().__init__()
        self.preprocess = Preprocess(torch.nn.Identity(), spec)

    def forward(self, hw: torch.Tensor) -> torch.Tensor:
        return self.preprocess.resized_size(hw)


def _session(module: torch.nn.Module, example: tuple, names: List[str], axes: dict, path):
    import onnx
    onnx_export(module, example, str(path), dynamo=False, opset_version=MIN_OPSET,
                input_names=names, dynamic_axes=axes)
    check_standard_graph(onnx.load(str(path)))
    return ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])


def _odd_sizes(rng: np.random.Generator, count: int, high: int) -> List[int]:
    sizes = rng.integers(1, high, count)
    return [int(s) + 1 if s % 32 == 0 else int(s) for s in sizes]


# (src h, src w, dst h, dst w): OpenCV's special paths and the edges of its index clamping
SPECIAL = [(100, 202, 50, 101),  # a shrink by exactly 2: OpenCV averages 2x2 blocks
           (61, 75, 122, 150),  # an enlargement by exactly 2
           (37, 41, 37, 41),  # the same size: OpenCV copies
           (37, 41, 37, 90), (37, 41, 90, 41),  # one axis unchanged
           (1, 1, 7, 5), (7, 5, 1, 1), (1, 9, 5, 3), (9, 1, 3, 5),  # one-pixel rows / columns
           (3, 3, 2, 2), (2, 2, 3, 3), (5, 301, 4, 999), (301, 5, 999, 4)]


@pytest.fixture(scope='module')
def resize_session(tmp_path_factory):
    example = (torch.zeros(37, 53, 3, dtype=torch.uint8), torch.tensor([20, 70]))
    axes = {'image': {0: 'height', 1: 'width'}}
    return _session(_Resize(), example, ['image', 'size_hw'], axes,
                    tmp_path_factory.mktemp('imresize') / 'resize.onnx')


def test_resize_is_opencv_bit_for_bit(resize_session):
    rng = np.random.default_rng(0)
    count = 120
    cases = SPECIAL + list(zip(*(_odd_sizes(rng, count, 400) for _ in range(4))))
    checked_eager = 0
    for sh, sw, dh, dw in cases:
        image = rng.integers(0, 256, (sh, sw, 3), dtype=np.uint8)
        expected = cv2.resize(image, (dw, dh), interpolation=cv2.INTER_LINEAR)
        (got, ) = resize_session.run(None, {'image': image, 'size_hw': np.array([dh, dw])})
        assert got.shape == (dh, dw, 3)
        assert np.array_equal(got, expected), (
            f'{sw}x{sh} -> {dw}x{dh}: {int((got != expected).sum())} values differ, by up to '
            f'{np.abs(got - expected).max()}')
        if checked_eager < 20:  # what the tracer ran: the same values in PyTorch
            eager = resize_uint8_linear(torch.from_numpy(image), torch.tensor([dh, dw]))
            assert np.array_equal(eager.numpy(), expected)
            checked_eager += 1
    assert len(cases) == len(SPECIAL) + count


def test_resize_differs_from_float_interpolation(resize_session):
    """The test can fail: a float bilinear resize rounded once (ONNX Resize, the previous
    graph) differs from OpenCV's on some pixels of these images."""
    image = np.random.default_rng(1).integers(0, 256, (123, 217, 3), dtype=np.uint8)
    size = (171, 301)
    as_float = torch.nn.functional.interpolate(
        torch.from_numpy(image).permute(2, 0, 1)[None].float(), size=size, mode='bilinear',
        align_corners=False).round().clamp(0, 255)[0].permute(1, 2, 0).numpy()
    expected = cv2.resize(image, size[::-1], interpolation=cv2.INTER_LINEAR)
    assert (as_float != expected).any()
    (got, ) = resize_session.run(None, {'image': image, 'size_hw': np.array(size)})
    assert np.array_equal(got, expected)


def _hardest_sizes(scale: Tuple[int, int], count: int) -> List[Tuple[int, int]]:
    """The (h, w) up to 1500 where ``x * factor + 0.5`` comes closest to an integer (where a
    float32 or a differently ordered computation would round the other way)."""
    h, w = (a.ravel() for a in np.meshgrid(np.arange(1, 1501), np.arange(1, 1501),
                                           indexing='ij'))
    keep = (h % 32 != 0) & (w % 32 != 0)
    h, w = h[keep], w[keep]
    factor = np.minimum(max(scale) / np.maximum(h, w), min(scale) / np.minimum(h, w))
    distance = np.minimum(*(np.abs(v * factor + 0.5 - np.rint(v * factor + 0.5))
                            for v in (h, w)))
    order = np.argsort(distance, kind='stable')[:count]
    return [(int(h[i]), int(w[i])) for i in order]


@pytest.mark.parametrize('scale', [(1333, 800), (2048, 512), (171, 141)])
def test_resized_size_is_mmcv_rescale_size(scale, tmp_path):
    from mmcv import rescale_size
    session = _session(_ResizedSize(ResizeSpec(scale, keep_ratio=True)),
                       (torch.tensor([291, 437]), ), ['hw'], {}, tmp_path / 'size.onnx')
    rng = np.random.default_rng(2)
    random = list(zip(_odd_sizes(rng, 300, 3000), _odd_sizes(rng, 300, 3000)))
    for h, w in _hardest_sizes(scale, 300) + random:
        (got, ) = session.run(None, {'hw': np.array([h, w])})
        new_w, new_h = rescale_size((w, h), scale)
        assert tuple(got) == (new_h, new_w), f'{w}x{h}: {tuple(got)} != {(new_h, new_w)}'


# ------------------------------------------------------------------- the whole preprocessing
MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]


def _detection():
    from mmdet.models.data_preprocessors import DetDataPreprocessor
    dp = DetDataPreprocessor(mean=MEAN, std=STD, bgr_to_rgb=True, pad_size_divisor=32)
    cfg = dict(test_pipeline=[
        dict(type='mmdet.LoadImageFromFile'),
        dict(type='mmdet.Resize', scale=(1333, 800), keep_ratio=True),
        dict(type='mmdet.LoadAnnotations', with_bbox=True),
        dict(type='mmdet.PackDetInputs',
             meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))])
    return dp, cfg


def _segmentation():
    from mmseg.models.data_preprocessor import SegDataPreProcessor
    dp = SegDataPreProcessor(mean=MEAN, std=STD, bgr_to_rgb=True, pad_val=0, seg_pad_val=255,
                             test_cfg=dict(size_divisor=32))
    cfg = dict(test_pipeline=[
        dict(type='mmseg.LoadImageFromFile'),
        dict(type='mmseg.Resize', scale=(2048, 512), keep_ratio=True),
        dict(type='mmseg.PackSegInputs')])
    return dp, cfg


# (h, w), none a multiple of 32: enlarged, shrunk (also below the other side's limit), square
IMAGE_SIZES = [(123, 217), (301, 179), (150, 155), (851, 1427), (1203, 801), (97, 2001)]


@pytest.mark.slow
@pytest.mark.parametrize('task', ['detection', 'segmentation'])
def test_preprocess_is_the_pipeline_bit_for_bit(task, tmp_path):
    dp, cfg = _detection() if task == 'detection' else _segmentation()
    module = Preprocess.of(dp, cfg).eval()
    example = (torch.zeros(291, 437, 3, dtype=torch.uint8), )
    axes = {'image': {0: 'height', 1: 'width'}}
    session = _session(module, example, ['image'], axes, tmp_path / 'preprocess.onnx')
    rng = np.random.default_rng(3)
    for h, w in IMAGE_SIZES:
        image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        inputs, resized_hw, scale_wh = session.run(None, {'image': image})
        data = pipeline_inputs(dp, cfg, image)
        (sample, ) = data['data_samples']
        expected = data['inputs'].numpy()
        assert inputs.shape == expected.shape and tuple(resized_hw) == sample.img_shape
        assert all(s % 32 == 0 for s in inputs.shape[2:])
        assert np.array_equal(inputs, expected), (
            f'{w}x{h}: {int((inputs != expected).sum())} values differ, by up to '
            f'{np.abs(inputs - expected).max()}')
        assert np.array_equal(scale_wh, np.float32(sample.scale_factor))
