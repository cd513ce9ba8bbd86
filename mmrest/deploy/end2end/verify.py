"""An end-to-end ONNX file in ONNX Runtime against the model's ``predict``.

Two comparisons per image, with the same criteria but for the box IoU: detections matched
one-to-one, scores within 1e-3, labels equal, mask IoU >= 0.98; segmentation label maps
>= 99.9 % equal pixels:

* **on the graph's tensor**, box IoU >= 0.99: the network input the graph made from the raw
  image (read back from the file's hidden ``preprocessed`` output) goes through the PyTorch
  model's ``predict`` with the same meta information (resized size, scale factor, original
  size): this checks the network and the post-processing alone;
* **from the raw image**, box IoU >= 0.95: the config's own test pipeline (mmcv's resize,
  i.e. OpenCV's) and data preprocessor, then ``predict``: this checks the whole file, the
  in-graph preprocessing included. The largest difference between the two network inputs
  is reported too (0 where the graph reproduces OpenCV's resize, :mod:`.imresize`).

A detector must produce at least ``min_detections`` per image (empty results that agree
prove nothing).
"""
import copy
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn

from ..onnx import onnx_session
from .export import IMAGE_INPUT, with_hidden_outputs


@dataclass(frozen=True)
class Criteria:
    """Bounds a comparison must meet."""
    box_iou: float = 0.99
    score_atol: float = 1e-3
    mask_iou: float = 0.98
    pixel_agreement: float = 0.999
    min_detections: int = 50


STRICT = Criteria()
FROM_RAW = Criteria(box_iou=0.95)


@dataclass
class Agreement:
    """ONNX Runtime against PyTorch on one image (worst figures over its detections)."""
    image_hw: Tuple[int, int]
    resized_hw: Tuple[int, int]
    path: str  # 'tensor' or 'raw'
    detections: Tuple[int, int] = (0, 0)  # (ONNX Runtime, PyTorch)
    unmatched: int = 0
    min_box_iou: float = 1.0
    max_score_diff: float = 0.0
    label_mismatches: int = 0
    min_mask_iou: Optional[float] = None
    pixel_agreement: Optional[float] = None
    # From the raw image: max |graph's network input - the pipeline's| (inf: other shapes).
    input_diff: Optional[float] = None
    failures: List[str] = field(default_factory=list)

    def check(self, criteria: Criteria, task: str) -> 'Agreement':
        c, f = criteria, self.failures
        if task == 'segmentation':
            if self.pixel_agreement < c.pixel_agreement:
                f.append(f'label maps agree on {100 * self.pixel_agreement:.3f}% of pixels')
            return self
        if min(self.detections) < c.min_detections:
            f.append(f'{self.detections} detections, fewer than {c.min_detections}')
        if self.detections[0] != self.detections[1] or self.unmatched:
            f.append(f'{self.unmatched} detections unmatched, counts {self.detections}')
        if self.min_box_iou < c.box_iou:
            f.append(f'box IoU {self.min_box_iou:.4f} < {c.box_iou}')
        if self.max_score_diff > c.score_atol:
            f.append(f'score difference {self.max_score_diff:.2e} > {c.score_atol}')
        if self.label_mismatches:
            f.append(f'{self.label_mismatches} labels differ')
        if self.min_mask_iou is not None and self.min_mask_iou < c.mask_iou:
            f.append(f'mask IoU {self.min_mask_iou:.4f} < {c.mask_iou}')
        return self

    @property
    def passed(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        h, w = self.image_hw
        head = f'{w}x{h} image ({self.path}): '
        if self.pixel_agreement is not None:
            body = f'label maps agree on {100 * self.pixel_agreement:.4f}% of pixels'
        else:
            body = (f'{self.detections[0]} detections, min box IoU {self.min_box_iou:.5f}, '
                    f'max score diff {self.max_score_diff:.1e}, {self.label_mismatches} labels '
                    'differ')
            if self.min_mask_iou is not None:
                body += f', min mask IoU {self.min_mask_iou:.4f}'
        if self.input_diff is not None:
            body += f', input max diff {self.input_diff:.1e}'
        return head + body + ('' if self.passed else ' -- FAILED: ' + '; '.join(self.failures))


class End2EndMismatchError(AssertionError):
    """The end-to-end file does not agree with the model."""


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area_a = (a[:, 2:] - a[:, :2]).clip(0).prod(-1)
    area_b = (b[:, 2:] - b[:, :2]).clip(0).prod(-1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def match(ref: Dict[str, np.ndarray], got: Dict[str, np.ndarray]) -> List[Tuple[int, int]]:
    """One-to-one (ref, got) pairs: by descending reference score, the unmatched ONNX
    detection of the same label with the highest box IoU (of any label if none is left)."""
    iou = box_iou(ref['boxes'], got['boxes'])
    free = np.ones(len(got['boxes']), dtype=bool)
    pairs = []
    for i in np.argsort(-ref['scores'], kind='stable'):
        same = free & (got['labels'] == ref['labels'][i])
        pool = same if same.any() else free
        if not pool.any():
            break
        j = int(np.argmax(np.where(pool, iou[i], -1.0)))
        free[j] = False
        pairs.append((int(i), j))
    return pairs


def compare_detections(ref: Dict[str, np.ndarray], got: Dict[str, np.ndarray],
                       result: Agreement) -> Agreement:
    """Worst box IoU, score difference and mask IoU, and the label mismatches, over the
    one-to-one pairs of :func:`match`."""
    pairs = match(ref, got)
    result.detections = (len(got['boxes']), len(ref['boxes']))
    result.unmatched = max(len(ref['boxes']), len(got['boxes'])) - len(pairs)
    if not pairs:
        return result
    i, j = (np.array(k) for k in zip(*pairs))
    result.min_box_iou = float(box_iou(ref['boxes'][i], got['boxes'][j]).diagonal().min())
    result.label_mismatches = int((ref['labels'][i] != got['labels'][j]).sum())
    result.max_score_diff = float(np.abs(ref['scores'][i] - got['scores'][j]).max())
    if 'masks' in ref:
        a, b = ref['masks'][i].astype(bool), got['masks'][j].astype(bool)
        inter = (a & b).reshape(len(i), -1).sum(1)
        union = (a | b).reshape(len(i), -1).sum(1)
        result.min_mask_iou = float(np.where(union > 0, inter / np.maximum(union, 1),
                                             1.0).min())
    return result


def _meta(image_hw: Tuple[int, int], resized_hw: Tuple[int, int],
          padded_hw: Tuple[int, int]) -> Dict[str, Any]:
    (h, w), (rh, rw), (ph, pw) = image_hw, resized_hw, padded_hw
    return dict(ori_shape=(h, w), img_shape=(rh, rw), pad_shape=(ph, pw),
                batch_input_shape=(ph, pw), scale_factor=(rw / w, rh / h),
                padding_size=[0, pw - rw, 0, ph - rh])


def _as_numpy(prediction: Any, task: str) -> Dict[str, np.ndarray]:
    if task == 'segmentation':
        return {'label_map': prediction.pred_sem_seg.data[0].cpu().numpy()}
    inst = prediction.pred_instances
    out = {'boxes': inst.bboxes.cpu().numpy(), 'scores': inst.scores.cpu().numpy(),
           'labels': inst.labels.cpu().numpy()}
    if 'masks' in inst:
        out['masks'] = inst.masks.cpu().numpy()
    return out


def predict_on_tensor(model: nn.Module, inputs: np.ndarray, meta: Dict[str, Any],
                      task: str) -> Dict[str, np.ndarray]:
    """``model.predict`` on an already preprocessed ``(1, 3, H, W)`` input."""
    if task == 'segmentation':
        from mmseg.structures import SegDataSample as Sample
    else:
        from mmdet.structures import DetDataSample as Sample
    with torch.no_grad():
        (prediction, ) = model.predict(torch.from_numpy(inputs), [Sample(metainfo=meta)])
    return _as_numpy(prediction, task)


def pipeline_inputs(data_preprocessor: nn.Module, cfg: Any, image: np.ndarray) -> Dict[str, Any]:
    """The config's test pipeline (loading replaced by the array, annotations dropped) and the
    data preprocessor on one ``(H, W, 3)`` uint8 RGB image: the ``inputs`` and
    ``data_samples`` that ``tools/test.py`` gives the model."""
    from mmengine.dataset import Compose, pseudo_collate
    from mmengine.registry import DefaultScope

    from .preprocess import test_pipeline_of
    steps = []
    for step in copy.deepcopy(list(test_pipeline_of(cfg))):
        name = str(step['type'])
        if name.endswith('LoadAnnotations'):
            continue
        if name.endswith('LoadImageFromFile'):
            step = dict(type=name.replace('LoadImageFromFile', 'LoadImageFromNDArray'))
        steps.append(step)
    # The config's scope (mmdet / mmseg) names the transforms, whatever was built last.
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
        data = Compose(steps)(dict(img=np.ascontiguousarray(image[:, :, ::-1]), img_id=0))
    with torch.no_grad():
        return data_preprocessor(pseudo_collate([data]), False)


def predict_from_image(model: nn.Module, cfg: Any, image: np.ndarray,
                       task: str) -> Tuple[np.ndarray, Dict[str, np.ndarray]]:
    """The network input and the prediction of the config's pipeline and the model (see
    :func:`pipeline_inputs`): what ``tools/test.py`` does for one image."""
    data = pipeline_inputs(model.data_preprocessor, cfg, image)
    with torch.no_grad():
        (prediction, ) = model(**data, mode='predict')
    return data['inputs'].cpu().numpy(), _as_numpy(prediction, task)


def _onnx_outputs(session: Any, image: np.ndarray) -> Dict[str, np.ndarray]:
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, {IMAGE_INPUT: image})))


def _compare(ref: Dict[str, np.ndarray], got: Dict[str, np.ndarray], task: str,
             result: Agreement, criteria: Criteria) -> Agreement:
    if task == 'segmentation':
        same = ref['label_map'].shape == got['label_map'].shape
        result.pixel_agreement = float((ref['label_map'] == got['label_map']).mean()
                                       ) if same else 0.0
        return result.check(criteria, task)
    return compare_detections(ref, got, result).check(criteria, task)


def verify_end2end(path: str, model: nn.Module, cfg: Any, images: Sequence[np.ndarray],
                   task: str, strict: Criteria = STRICT, from_raw: Optional[Criteria] = FROM_RAW,
                   raise_on_mismatch: bool = True) -> List[Agreement]:
    """Compare ``path`` in ONNX Runtime with ``model`` on each RGB uint8 image (see the
    module doc); raises :class:`End2EndMismatchError` listing every failure."""
    session = onnx_session(with_hidden_outputs(path))
    was_training = model.training
    model.eval()
    results = []
    try:
        for image in images:
            got = _onnx_outputs(session, image)
            inputs, resized = got.pop('preprocessed'), tuple(int(v) for v in got.pop('resized_hw'))
            hw = tuple(image.shape[:2])
            meta = _meta(hw, resized, tuple(inputs.shape[2:]))
            ref = predict_on_tensor(model, inputs, meta, task)
            results.append(_compare(ref, got, task, Agreement(hw, resized, 'tensor'), strict))
            if from_raw is not None:
                raw_inputs, ref = predict_from_image(model, cfg, image, task)
                result = Agreement(hw, resized, 'raw')
                result.input_diff = (float(np.abs(raw_inputs - inputs).max())
                                     if raw_inputs.shape == inputs.shape else float('inf'))
                results.append(_compare(ref, got, task, result, from_raw))
    finally:
        model.train(was_training)
    if raise_on_mismatch and not all(r.passed for r in results):
        raise End2EndMismatchError(f'{path} does not agree with the model:\n' +
                                   '\n'.join(r.summary() for r in results))
    return results


def verification_images(sizes: Sequence[Tuple[int, int]], seed: int = 0) -> List[np.ndarray]:
    """Smooth random RGB images (blurred noise plus shapes) of the given (h, w) sizes."""
    import cv2
    rng = np.random.default_rng(seed)
    images = []
    for h, w in sizes:
        noise = rng.integers(0, 256, (h // 8 + 2, w // 8 + 2, 3), dtype=np.uint8)
        image = cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC)
        for _ in range(6):
            x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
            r = int(rng.integers(4, max(5, min(h, w) // 4)))
            color = tuple(int(c) for c in rng.integers(0, 256, 3))
            cv2.circle(image, (x, y), r, color, -1)
        images.append(image)
    return images


DEFAULT_SIZES = ((123, 217), (301, 179), (150, 155))  # (h, w): none a multiple of 32
