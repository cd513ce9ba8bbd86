"""Small synthetic "shapes" datasets for offline demos and tests.

Nothing can be downloaded where mmrest is developed and tested, so the detection and segmentation
demos train on data generated here: textured backgrounds (smooth noise, gradients, stripes, rings)
with 1-4 flat-ish coloured shapes (circle, square, triangle; ellipse and star on request) of random
size, colour, rotation and position. Later shapes occlude earlier ones and the labels follow the
occlusion. Only numpy, OpenCV and the standard library are used.

Two layouts are written:

* :func:`make_synthetic_coco` - instance segmentation in COCO format for mmdet 3.x ``CocoDataset``::

      root/train/000000.jpg ...        root/annotations/instances_train.json
      root/val/000000.jpg ...          root/annotations/instances_val.json

* :func:`make_synthetic_ade` - semantic segmentation laid out like ADE20K for mmseg 1.x
  ``BaseSegDataset`` (with ``reduce_zero_label=True``, as for ADE20K)::

      root/images/training/000000.jpg      root/annotations/training/000000.png
      root/images/validation/000000.jpg    root/annotations/validation/000000.png

Both writers are deterministic: image ``i`` of a split depends only on ``(seed, split, i)`` and the
scene arguments, so the same call writes the same bytes (with the same numpy and OpenCV versions;
JPEG encoders may differ across them), a larger ``num_train`` only appends images, and a COCO and
an ADE set made with the same arguments show the same scenes. The returned info
objects carry the class names, palette and the keyword arguments for the OpenMMLab dataset classes::

    info = make_synthetic_coco('data/shapes_coco', num_train=200, num_val=50)
    train_set = CocoDataset(**info.dataset_kwargs('train'), pipeline=[...])

Command line (the module has no mmrest imports, so ``python mmrest/datasets/synthetic.py ...``
also works without torch/mmengine installed)::

    python -m mmrest.datasets.synthetic coco data/shapes_coco --num-train 200 --num-val 50
    python -m mmrest.datasets.synthetic ade data/shapes_ade --size 320x256 --seed 1
"""

from __future__ import annotations

import json
import math
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from ..utils.cli import make_parser, parse_wh

__all__ = [
    'SUPPORTED_SHAPES', 'DEFAULT_CLASSES', 'BACKGROUND_CLASS', 'SyntheticCocoInfo',
    'SyntheticAdeInfo', 'make_synthetic_coco', 'make_synthetic_ade', 'main'
]

#: Shapes the generator can draw; any non-empty subset, in any order, can be used as classes.
SUPPORTED_SHAPES: Tuple[str, ...] = ('circle', 'square', 'triangle', 'ellipse', 'star')
DEFAULT_CLASSES: Tuple[str, ...] = ('circle', 'square', 'triangle')
#: Class name of the background in `make_synthetic_ade(background_class=True)` sets.
BACKGROUND_CLASS = 'background'

# Fixed RGB palette (mmdet/mmseg visualisers take RGB), so colours do not change with class order.
_PALETTE: Dict[str, Tuple[int, int, int]] = {
    BACKGROUND_CLASS: (120, 120, 120),
    'circle': (220, 20, 60),
    'square': (0, 130, 200),
    'triangle': (60, 180, 75),
    'ellipse': (255, 180, 0),
    'star': (145, 30, 180),
}

MIN_IMAGE_SIDE = 32  # below this the smallest shapes degenerate to a handful of pixels
_MIN_SHAPE_PX = 8.0  # smallest shape size (diameter / side) in pixels, whatever the image size
_MIN_VISIBLE_PX = 24  # an object must keep at least this many visible pixels ...
_MIN_VISIBLE_FRAC = 0.4  # ... and this fraction of its own area once occluded
_MIN_POLY_AREA = 2.0  # px^2; a smaller polygon is a fragment of a few pixels
_POLY_EPSILON = 0.3  # px; polygon simplification tolerance (still decodes to the same mask)
_MAX_PLACEMENT_TRIES = 30
_MIN_COLOUR_DIST = 80.0  # L2 distance (0-255 RGB) between an object and the background under it
_JPEG_QUALITY = 95
_SPLIT_CODES = {'train': 0, 'val': 1}  # part of each image's RNG seed
_ADE_SPLITS = {'train': 'training', 'val': 'validation'}

ImageSize = Union[int, Tuple[int, int], Sequence[int]]
PathLike = Union[str, Path]


# --------------------------------------------------------------------------------------------
# Returned descriptions
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _SyntheticInfo:
    """What a writer wrote (common part).

    Attributes:
        root: Dataset root (``data_root``).
        classes: Class names.
        palette: One RGB colour per class.
        image_size: ``(height, width)`` of every image.
        seed: Seed the set was generated with.
        num_images: Images per split, e.g. ``{'train': 100, 'val': 20}``.
        num_instances: Object instances per split.
        img_dirs: Image folder per split.
    """

    root: Path
    classes: Tuple[str, ...]
    palette: Tuple[Tuple[int, int, int], ...]
    image_size: Tuple[int, int]
    seed: int
    num_images: Dict[str, int]
    num_instances: Dict[str, int]
    img_dirs: Dict[str, Path]

    def to_dict(self) -> dict:
        """A JSON-serialisable copy (paths as strings)."""
        return _jsonable(self.__dict__)

    def _summary(self, title: str, about: List[str], per_split: Dict[str, str]) -> str:
        h, w = self.image_size
        lines = [f'{title} in {self.root}', *about,
                 f'  image size: {w}x{h} (WxH), seed {self.seed}']
        lines += [f'  {split}: {self.num_images[split]} images in {self.img_dirs[split]}, '
                  f'{where}' for split, where in per_split.items()]
        return '\n'.join(lines)


@dataclass(frozen=True)
class SyntheticCocoInfo(_SyntheticInfo):
    """What :func:`make_synthetic_coco` wrote (see :class:`_SyntheticInfo`); class
    ``classes[i]`` has COCO category id ``i + 1``, ``ann_files`` holds the COCO json file per
    split."""

    ann_files: Dict[str, Path]

    @property
    def metainfo(self) -> dict:
        """``metainfo`` for mmdet's ``CocoDataset``."""
        return dict(classes=self.classes, palette=list(self.palette))

    def dataset_kwargs(self, split: str = 'train') -> dict:
        """Keyword arguments for ``mmdet.datasets.CocoDataset`` (add ``pipeline`` etc.)."""
        _check_split(split)
        return dict(
            data_root=str(self.root),
            ann_file=self.ann_files[split].relative_to(self.root).as_posix(),
            data_prefix=dict(img=self.img_dirs[split].relative_to(self.root).as_posix() + '/'),
            metainfo=self.metainfo)

    def summary(self) -> str:
        """Human-readable description, as printed by the command line."""
        return self._summary(
            'synthetic COCO instance segmentation set',
            [f'  classes ({len(self.classes)}): {", ".join(self.classes)} (category ids '
             f'1..{len(self.classes)})'],
            {split: f'{self.num_instances[split]} instances in {self.ann_files[split]}'
             for split in self.num_images})


@dataclass(frozen=True)
class SyntheticAdeInfo(_SyntheticInfo):
    """What :func:`make_synthetic_ade` wrote (see :class:`_SyntheticInfo`).

    Label maps are single-channel uint8 PNGs in ADE20K's convention: value ``0`` is "other"
    (ignored, it becomes 255 under ``reduce_zero_label=True``) and value ``i + 1`` is
    ``classes[i]`` (the class names after ``reduce_zero_label``). With
    ``background_class=True`` the background is a real class (``classes[0] == 'background'``,
    value 1) and value 0 does not occur; otherwise the background has value 0 and is ignored
    in training and evaluation.

    Attributes:
        seg_dirs: Label-map folder per split.
        img_suffix: Suffix of the image files (``.jpg`` or ``.png``).
        seg_map_suffix: Suffix of the label maps (always ``.png``).
        reduce_zero_label: Always ``True``: the value mmseg's dataset must be given.
    """

    seg_dirs: Dict[str, Path]
    img_suffix: str = '.jpg'
    seg_map_suffix: str = '.png'
    reduce_zero_label: bool = True

    @property
    def metainfo(self) -> dict:
        """``metainfo`` for mmseg's ``BaseSegDataset``."""
        return dict(classes=self.classes, palette=[list(c) for c in self.palette])

    def dataset_kwargs(self, split: str = 'train') -> dict:
        """Keyword arguments for ``mmseg.datasets.BaseSegDataset`` (add ``pipeline`` etc.).

        Use ``BaseSegDataset`` (or a subclass without a fixed class list), not
        ``ADE20KDataset``, whose 150 fixed classes reject a different class list.
        """
        _check_split(split)
        return dict(
            data_root=str(self.root),
            data_prefix=dict(
                img_path=self.img_dirs[split].relative_to(self.root).as_posix(),
                seg_map_path=self.seg_dirs[split].relative_to(self.root).as_posix()),
            img_suffix=self.img_suffix,
            seg_map_suffix=self.seg_map_suffix,
            reduce_zero_label=self.reduce_zero_label,
            metainfo=self.metainfo)

    def summary(self) -> str:
        """Human-readable description, as printed by the command line."""
        pairs = ', '.join(f'{i + 1}={c}' for i, c in enumerate(self.classes))
        other = ('0=other (unused)' if self.classes[0] == BACKGROUND_CLASS else
                 '0=background (ignored)')
        return self._summary(
            'synthetic ADE20K-style semantic segmentation set',
            [f'  classes ({len(self.classes)}): {", ".join(self.classes)}',
             f'  label values: {other}, {pairs}; use reduce_zero_label=True'],
            {split: f'label maps in {self.seg_dirs[split]}' for split in self.num_images})


def _jsonable(obj):
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    return obj


def _check_split(split: str) -> None:
    if split not in _SPLIT_CODES:
        raise ValueError(f'split must be one of {tuple(_SPLIT_CODES)}, got {split!r}')


# --------------------------------------------------------------------------------------------
# Argument checking
# --------------------------------------------------------------------------------------------
def _parse_image_size(image_size: ImageSize) -> Tuple[int, int]:
    if isinstance(image_size, (int, np.integer)) and not isinstance(image_size, bool):
        size = (int(image_size), int(image_size))
    elif (isinstance(image_size, Sequence) and not isinstance(image_size, str)
          and len(image_size) == 2
          and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                  for v in image_size)):
        size = (int(image_size[0]), int(image_size[1]))
    else:
        raise ValueError(f'image_size must be an int or a (height, width) pair of ints, '
                         f'got {image_size!r}')
    if min(size) < MIN_IMAGE_SIDE:
        raise ValueError(f'image_size {size} is too small: both sides must be at least '
                         f'{MIN_IMAGE_SIDE} pixels')
    return size


def _check_args(num_train: int, num_val: int, seed: int, classes: Sequence[str],
                num_objects: Tuple[int, int], size_range: Tuple[float, float],
                img_ext: str) -> Tuple[str, ...]:
    for name, value in (('num_train', num_train), ('num_val', num_val)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
            raise ValueError(f'{name} must be a positive int, got {value!r}')
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f'seed must be a non-negative int, got {seed!r}')
    if isinstance(classes, str):
        raise ValueError(f'classes must be a sequence of shape names, not the string {classes!r}')
    classes = tuple(classes)
    if not classes:
        raise ValueError('classes must not be empty')
    unknown = [c for c in classes if c not in SUPPORTED_SHAPES]
    if unknown:
        raise ValueError(f'unknown shape class(es) {unknown}; supported: {SUPPORTED_SHAPES}')
    if len(set(classes)) != len(classes):
        raise ValueError(f'classes must be unique, got {classes}')
    lo, hi = num_objects
    if not (isinstance(lo, (int, np.integer)) and isinstance(hi, (int, np.integer))
            and 1 <= lo <= hi):
        raise ValueError(f'num_objects must be (min, max) ints with 1 <= min <= max, '
                         f'got {num_objects!r}')
    lo_s, hi_s = size_range
    if not 0.0 < lo_s <= hi_s <= 0.6:
        raise ValueError(f'size_range must be fractions of the short side with '
                         f'0 < min <= max <= 0.6, got {size_range!r}')
    if img_ext not in ('.jpg', '.png'):
        raise ValueError(f"img_ext must be '.jpg' or '.png', got {img_ext!r}")
    return classes


def _prepare_outputs(paths: Sequence[Path], overwrite: bool) -> None:
    """Refuse to mix with an earlier set (stale files would be picked up by folder scans)."""
    existing = [p for p in paths if p.exists()]
    if existing and not overwrite:
        raise FileExistsError(f'{", ".join(map(str, existing))} already exist(s); pass '
                              f'overwrite=True (--overwrite) to replace them')
    for p in existing:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink()


# --------------------------------------------------------------------------------------------
# Scene rendering
# --------------------------------------------------------------------------------------------
def _normalise(t: np.ndarray) -> np.ndarray:
    lo, hi = float(t.min()), float(t.max())
    return (t - lo) / max(hi - lo, 1e-6)


def _pattern(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A (h, w) float32 field in [0, 1]: smooth noise, a gradient, stripes or rings."""
    kind = rng.integers(4)
    y = np.arange(h, dtype=np.float32)[:, None]
    x = np.arange(w, dtype=np.float32)[None, :]
    if kind == 0:  # smooth value noise: a coarse random grid upsampled bicubically
        gh, gw = rng.integers(2, 9, size=2)
        grid = rng.random((int(gh), int(gw)), dtype=np.float32)
        return _normalise(cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC))
    theta = rng.uniform(0, math.pi)
    proj = x * math.cos(theta) + y * math.sin(theta)
    if kind == 1:  # linear gradient
        return _normalise(proj)
    period = rng.uniform(6.0, 0.25 * max(h, w))
    phase = rng.uniform(0, 2 * math.pi)
    if kind == 2:  # stripes: strong straight edges that the model must learn to ignore
        return 0.5 + 0.5 * np.sin(proj * (2 * math.pi / period) + phase)
    cy, cx = rng.uniform(0, h), rng.uniform(0, w)  # concentric rings: curved distractor edges
    dist = np.sqrt((y - cy)**2 + (x - cx)**2)
    return 0.5 + 0.5 * np.sin(dist * (2 * math.pi / period) + phase)


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A (h, w, 3) float32 textured background: two colours blended by one or two patterns."""
    t = _pattern(rng, h, w)
    if rng.random() < 0.5:
        a = rng.uniform(0.3, 0.7)
        t = a * t + (1 - a) * _pattern(rng, h, w)
    c1, c2 = rng.uniform(0, 255, size=(2, 3)).astype(np.float32)
    return c1 + (c2 - c1) * t[..., None]


def _add_grain(rng: np.random.Generator, image: np.ndarray) -> None:
    """Per-pixel sensor-like noise over the whole image (uniform: 4x cheaper than normal)."""
    sigma = rng.uniform(2, 8)
    noise = rng.random(image.shape, dtype=np.float32)
    noise -= np.float32(0.5)
    noise *= np.float32(sigma * math.sqrt(12))  # uniform(-0.5, 0.5) has std 1/sqrt(12)
    image += noise


def _shape_outline(shape: str, size: float, rng: np.random.Generator) -> np.ndarray:
    """Vertices (N, 2) of a shape of the given size, centred on the origin, randomly rotated."""
    theta = rng.uniform(0, 2 * math.pi)
    if shape in ('circle', 'ellipse'):
        a = size / 2
        b = a if shape == 'circle' else a * rng.uniform(0.45, 0.7)
        if shape == 'ellipse':
            a *= 1.1  # long axis a bit past `size` so ellipses are not smaller than circles
        n = max(24, int(size))  # enough vertices that the outline looks round
        ang = np.linspace(0, 2 * math.pi, n, endpoint=False)
        pts = np.stack([a * np.cos(ang), b * np.sin(ang)], axis=1)
    elif shape == 'square':
        s = size / 2
        pts = np.array([[-s, -s], [s, -s], [s, s], [-s, s]], dtype=np.float64)
    elif shape == 'triangle':
        # near-equilateral: bounded jitter keeps every angle well away from 0 (non-degenerate)
        r = 1.1 * size / math.sqrt(3)
        ang = np.arange(3) * (2 * math.pi / 3) + rng.uniform(-0.25, 0.25, size=3)
        rad = r * rng.uniform(0.85, 1.1, size=3)
        pts = np.stack([rad * np.cos(ang), rad * np.sin(ang)], axis=1)
    elif shape == 'star':
        r_out = 0.55 * size
        r_in = r_out * rng.uniform(0.4, 0.55)
        ang = np.arange(10) * (math.pi / 5)
        rad = np.where(np.arange(10) % 2 == 0, r_out, r_in)
        pts = np.stack([rad * np.cos(ang), rad * np.sin(ang)], axis=1)
    else:  # guarded by _check_args
        raise ValueError(f'unknown shape {shape!r}')
    c, s = math.cos(theta), math.sin(theta)
    return pts @ np.array([[c, s], [-s, c]])


def _fill_polygon(pts: np.ndarray, h: int, w: int) -> np.ndarray:
    mask = np.zeros((h, w), np.uint8)
    # 4 fractional bits: sub-pixel vertex positions give smoother, less blocky outlines
    cv2.fillPoly(mask, [np.round(pts * 16).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=4)
    return mask


def _mask_to_polygons(mask: np.ndarray) -> Tuple[List[List[float]], bool]:
    """COCO polygons of a binary mask, and whether they represent it faithfully.

    ``cv2.findContours`` traces boundary pixel *centres*, so its polygons decode (pycocotools)
    to masks a boundary ring short. Tracing the 2x nearest-upsampled mask and mapping vertex ``p``
    back to ``(p + 0.5) / 2`` puts the outline a quarter pixel inside the pixel edges instead,
    which decodes to the mask itself; ``approxPolyDP`` then drops staircase vertices.

    Not faithful when the mask has a hole (COCO polygons are unioned, so holes are lost) or a
    part whose polygon is degenerate (fewer than 3 points or nearly no area).
    """
    x0, y0, bw, bh = cv2.boundingRect(mask.view(np.uint8) if mask.dtype == bool else mask)
    if bw == 0 or bh == 0:
        return [], False
    xa, ya = max(x0 - 1, 0), max(y0 - 1, 0)  # 1 px margin so outlines are closed in the crop
    crop = np.ascontiguousarray(mask[ya:y0 + bh + 1, xa:x0 + bw + 1], dtype=np.uint8)
    up = cv2.resize(crop, None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)
    contours, hierarchy = cv2.findContours(up, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None:
        return [], False
    faithful = not bool((hierarchy[0][:, 3] >= 0).any())
    polygons = []
    for contour in contours:
        contour = cv2.approxPolyDP(contour, 2 * _POLY_EPSILON, True)
        pts = (contour.reshape(-1, 2).astype(np.float64) + 0.5) / 2 + (xa, ya)
        if len(pts) < 3 or cv2.contourArea(pts.astype(np.float32)) < _MIN_POLY_AREA:
            faithful = False
            continue
        polygons.append([float(v) for v in pts.reshape(-1)])
    return polygons, faithful and bool(polygons)


@dataclass
class _Scene:
    image: np.ndarray  # (h, w, 3) uint8, BGR order for cv2 (colours are random anyway)
    owner: np.ndarray  # (h, w) int: 0 background, k >= 1 the k-th object (1-based)
    labels: List[int]  # class index (into `classes`) of each object
    polygons: List[List[List[float]]]  # COCO polygons of each object's visible part


def _render_scene(rng: np.random.Generator, h: int, w: int, num_classes: int,
                  shapes: Tuple[str, ...], num_objects: Tuple[int, int],
                  size_range: Tuple[float, float]) -> _Scene:
    """Draw one image; objects are placed only where every earlier one stays well visible."""
    image = _background(rng, h, w)
    owner = np.zeros((h, w), np.int16)
    full_areas: List[int] = []
    labels: List[int] = []
    polygons: List[List[List[float]]] = []
    short = min(h, w)
    target = int(rng.integers(num_objects[0], num_objects[1] + 1))
    for _ in range(target):
        label = int(rng.integers(num_classes))  # drawn once, so retries do not skew the classes
        for _try in range(_MAX_PLACEMENT_TRIES):
            size = max(_MIN_SHAPE_PX, rng.uniform(*size_range) * short)
            pts = _shape_outline(shapes[label], size, rng)
            lo, hi = pts.min(0), pts.max(0)
            span = hi - lo
            if span[0] > w - 2 or span[1] > h - 2:  # only for extreme size_range/aspect
                pts *= 0.95 * min((w - 2) / span[0], (h - 2) / span[1])
                lo, hi = pts.min(0), pts.max(0)
            # keep the whole shape inside the image so its full area is known
            cx = rng.uniform(-lo[0], w - 1 - hi[0])
            cy = rng.uniform(-lo[1], h - 1 - hi[1])
            mask = _fill_polygon(pts + (cx, cy), h, w).astype(bool)
            area = int(mask.sum())
            if area < _MIN_VISIBLE_PX:
                continue
            new_owner = owner.copy()
            new_owner[mask] = len(labels) + 1
            # every earlier object it covers must stay visible and polygon-representable
            new_polys: Dict[int, List[List[float]]] = {}
            ok = True
            for k in np.unique(owner[mask]):
                if k == 0:
                    continue
                visible = new_owner == k
                if visible.sum() < max(_MIN_VISIBLE_PX, _MIN_VISIBLE_FRAC * full_areas[k - 1]):
                    ok = False
                    break
                polys, faithful = _mask_to_polygons(visible)
                if not faithful:
                    ok = False
                    break
                new_polys[int(k)] = polys
            if not ok:
                continue
            own_polys, faithful = _mask_to_polygons(mask)
            if not faithful:
                continue
            _paint_object(rng, image, mask)
            owner = new_owner
            for k, polys in new_polys.items():
                polygons[k - 1] = polys
            full_areas.append(area)
            labels.append(label)
            polygons.append(own_polys)
            break
        # an object that found no acceptable place after all tries is skipped; the first one
        # always fits, so every image has at least one object
    _add_grain(rng, image)
    out = np.clip(image, 0, 255).astype(np.uint8)
    return _Scene(out, owner, labels, polygons)


def _paint_object(rng: np.random.Generator, image: np.ndarray, mask: np.ndarray) -> None:
    """Fill `mask` with a colour that stands out from the background under it, lightly shaded."""
    x0, y0, bw, bh = cv2.boundingRect(mask.view(np.uint8))
    y1, x1 = y0 + bh, x0 + bw
    crop = image[y0:y1, x0:x1]
    m = mask[y0:y1, x0:x1]
    under = crop[m].mean(0)
    # a fixed number of draws keeps the RNG stream independent of the image content
    candidates = rng.uniform(0, 255, size=(8, 3)).astype(np.float32)
    dist = np.linalg.norm(candidates - under, axis=1)
    good = np.nonzero(dist >= _MIN_COLOUR_DIST)[0]
    colour = candidates[good[0] if len(good) else int(dist.argmax())]
    # a shading ramp so objects are not flat (grain is added over the whole image later)
    theta = rng.uniform(0, 2 * math.pi)
    amp = rng.uniform(0, 40)
    hh, ww = m.shape
    ramp = (np.arange(ww, dtype=np.float32)[None, :] * math.cos(theta) +
            np.arange(hh, dtype=np.float32)[:, None] * math.sin(theta))
    ramp = (_normalise(ramp) - 0.5) * amp
    crop[m] = (colour + ramp[..., None])[m]


def _encode(image: np.ndarray, ext: str) -> bytes:
    params = [cv2.IMWRITE_JPEG_QUALITY, _JPEG_QUALITY] if ext == '.jpg' else [
        cv2.IMWRITE_PNG_COMPRESSION, 3]
    ok, buf = cv2.imencode(ext, image, params)
    if not ok:  # pragma: no cover - only with a broken OpenCV build
        raise RuntimeError(f'OpenCV could not encode a {ext} image')
    return buf.tobytes()


def _scene_rng(seed: int, split: str, index: int) -> np.random.Generator:
    # one independent stream per image: results do not depend on how many images are made
    return np.random.default_rng([int(seed), _SPLIT_CODES[split], int(index)])


@dataclass(frozen=True)
class _Plan:
    """The checked arguments of a writer: what every image of a set is drawn from."""
    root: Path
    size: Tuple[int, int]
    shapes: Tuple[str, ...]
    counts: Dict[str, int]
    seed: int
    num_objects: Tuple[int, int]
    size_range: Tuple[float, float]

    def scenes(self, split: str) -> Iterator[Tuple[int, _Scene]]:
        """(index, scene) of every image of ``split``; image ``i`` depends only on
        (seed, split, i), so the COCO and ADE writers draw the same scenes."""
        h, w = self.size
        for idx in range(self.counts[split]):
            yield idx, _render_scene(_scene_rng(self.seed, split, idx), h, w, len(self.shapes),
                                     self.shapes, self.num_objects, self.size_range)


def _plan(root: PathLike, num_train: int, num_val: int, image_size: ImageSize, seed: int,
          classes: Sequence[str], num_objects: Tuple[int, int],
          size_range: Tuple[float, float], img_ext: str) -> _Plan:
    size = _parse_image_size(image_size)
    shapes = _check_args(num_train, num_val, seed, classes, tuple(num_objects),
                         tuple(size_range), img_ext)
    return _Plan(Path(root), size, shapes, {'train': int(num_train), 'val': int(num_val)},
                 int(seed), tuple(num_objects), tuple(size_range))


# --------------------------------------------------------------------------------------------
# Public writers
# --------------------------------------------------------------------------------------------
def make_synthetic_coco(root: PathLike,
                        num_train: int = 100,
                        num_val: int = 20,
                        image_size: ImageSize = (256, 320),
                        seed: int = 0,
                        classes: Sequence[str] = DEFAULT_CLASSES,
                        num_objects: Tuple[int, int] = (1, 4),
                        size_range: Tuple[float, float] = (0.12, 0.45),
                        img_ext: str = '.jpg',
                        overwrite: bool = False) -> SyntheticCocoInfo:
    """Write a synthetic instance-segmentation set in COCO format.

    Layout: ``root/{train,val}/NNNNNN.jpg`` and ``root/annotations/instances_{train,val}.json``.
    Each annotation describes the *visible* part of an object (after occlusion by later objects):
    ``bbox`` is its ``[x, y, w, h]`` box in pixels (``w = x_max - x_min + 1``), ``area`` its pixel
    count, ``segmentation`` its outline polygons (``cv2.findContours`` on the visible mask; objects
    are only placed where every visible part stays a hole-free polygon), ``iscrowd`` 0. Category
    ids are ``1..len(classes)``, image ids ``1..N``, annotation ids ``1..M`` per split.

    Args:
        root: Output folder; created if needed.
        num_train: Number of training images (> 0).
        num_val: Number of validation images (> 0).
        image_size: ``(height, width)``, or one int for square images; each side >= 32.
        seed: Non-negative seed; image ``i`` of a split depends only on (seed, split, i).
        classes: Shape names from :data:`SUPPORTED_SHAPES`, in category-id order.
        num_objects: ``(min, max)`` objects attempted per image; an object that finds no place
            leaving the earlier ones well visible is skipped (every image keeps at least one).
        size_range: Shape size (diameter / side) as fractions of the short image side.
        img_ext: ``'.jpg'`` (quality 95) or ``'.png'``.
        overwrite: Replace the split folders and json files of an earlier run; without it an
            existing one raises ``FileExistsError``. Other files under ``root`` are left alone.

    Returns:
        A :class:`SyntheticCocoInfo` with the paths, classes, palette and counts.

    Raises:
        ValueError: For non-positive counts, a too small image size or other bad arguments.
        FileExistsError: When outputs exist and ``overwrite`` is False.
    """
    plan = _plan(root, num_train, num_val, image_size, seed, classes, num_objects, size_range,
                 img_ext)
    root, (h, w), classes, counts = plan.root, plan.size, plan.shapes, plan.counts
    img_dirs = {s: root / s for s in counts}
    ann_files = {s: root / 'annotations' / f'instances_{s}.json' for s in counts}
    _prepare_outputs([*img_dirs.values(), *ann_files.values()], overwrite)

    categories = [dict(id=i + 1, name=c, supercategory='shape') for i, c in enumerate(classes)]
    num_instances = {}
    for split in counts:
        img_dirs[split].mkdir(parents=True, exist_ok=True)
        images, annotations = [], []
        for idx, scene in plan.scenes(split):
            file_name = f'{idx:06d}{img_ext}'
            (img_dirs[split] / file_name).write_bytes(_encode(scene.image, img_ext))
            image_id = idx + 1
            images.append(dict(id=image_id, file_name=file_name, height=h, width=w))
            for k, (label, polys) in enumerate(zip(scene.labels, scene.polygons), start=1):
                visible = (scene.owner == k).view(np.uint8)
                bbox = [float(v) for v in cv2.boundingRect(visible)]  # x, y, w, h of pixels
                annotations.append(
                    dict(id=len(annotations) + 1, image_id=image_id, category_id=label + 1,
                         bbox=bbox, area=float(cv2.countNonZero(visible)), iscrowd=0,
                         segmentation=polys))
        coco = dict(
            info=dict(description=f'mmrest synthetic shapes ({split})', version='1.0',
                      contributor='mmrest.datasets.synthetic', seed=int(seed)),
            licenses=[], images=images, annotations=annotations, categories=categories)
        ann_files[split].parent.mkdir(parents=True, exist_ok=True)
        ann_files[split].write_text(json.dumps(coco, separators=(',', ':')) + '\n')
        num_instances[split] = len(annotations)

    return SyntheticCocoInfo(
        root=root, classes=classes, palette=tuple(_PALETTE[c] for c in classes),
        image_size=(h, w), seed=int(seed), num_images=counts, num_instances=num_instances,
        img_dirs=img_dirs, ann_files=ann_files)


def make_synthetic_ade(root: PathLike,
                       num_train: int = 100,
                       num_val: int = 20,
                       image_size: ImageSize = (256, 320),
                       seed: int = 0,
                       classes: Sequence[str] = DEFAULT_CLASSES,
                       background_class: bool = True,
                       num_objects: Tuple[int, int] = (1, 4),
                       size_range: Tuple[float, float] = (0.12, 0.45),
                       img_ext: str = '.jpg',
                       overwrite: bool = False) -> SyntheticAdeInfo:
    """Write a synthetic semantic-segmentation set laid out like ADE20K (mmseg 1.x).

    Layout: ``root/images/{training,validation}/NNNNNN.jpg`` with a label map of the same stem in
    ``root/annotations/{training,validation}/NNNNNN.png`` (single-channel uint8). The scenes are
    the same as :func:`make_synthetic_coco` draws for the same arguments.

    Label values follow ADE20K, to be read with ``reduce_zero_label=True``: 0 is "other"
    (ignored) and ``i + 1`` is ``info.classes[i]``. With ``background_class=True`` (default) the
    background is a class of its own, so ``info.classes == ('background', *classes)``: background
    pixels are 1, ``classes[j]`` is ``j + 2`` and 0 does not occur, which makes mIoU meaningful.
    With ``background_class=False`` the background is 0 (ignored, like ADE20K's "other") and
    ``info.classes == classes`` with ``classes[j]`` as ``j + 1``.

    Args:
        background_class: Label the background as a class (see above) instead of 0/"other".
        img_ext: ``'.jpg'`` (quality 95) or ``'.png'`` for the images; label maps are PNG.
        overwrite: Replace the image and label folders of an earlier run; without it an existing
            one raises ``FileExistsError``. Other files under ``root`` are left alone.
        The others: as :func:`make_synthetic_coco`, which raises the same errors.

    Returns:
        A :class:`SyntheticAdeInfo` with the paths, classes, palette and counts.
    """
    plan = _plan(root, num_train, num_val, image_size, seed, classes, num_objects, size_range,
                 img_ext)
    root, (h, w), shapes, counts = plan.root, plan.size, plan.shapes, plan.counts
    img_dirs = {s: root / 'images' / _ADE_SPLITS[s] for s in counts}
    seg_dirs = {s: root / 'annotations' / _ADE_SPLITS[s] for s in counts}
    _prepare_outputs([*img_dirs.values(), *seg_dirs.values()], overwrite)

    all_classes = ((BACKGROUND_CLASS, ) if background_class else ()) + shapes
    first_shape_value = 2 if background_class else 1
    num_instances = {}
    for split in counts:
        img_dirs[split].mkdir(parents=True, exist_ok=True)
        seg_dirs[split].mkdir(parents=True, exist_ok=True)
        num_instances[split] = 0
        for idx, scene in plan.scenes(split):
            # owner index -> label value; index 0 is the background
            lut = np.array([first_shape_value - 1] + [first_shape_value + c for c in scene.labels],
                           dtype=np.uint8)
            seg = lut[scene.owner]
            stem = f'{idx:06d}'
            (img_dirs[split] / f'{stem}{img_ext}').write_bytes(_encode(scene.image, img_ext))
            (seg_dirs[split] / f'{stem}.png').write_bytes(_encode(seg, '.png'))
            num_instances[split] += len(scene.labels)

    return SyntheticAdeInfo(
        root=root, classes=all_classes, palette=tuple(_PALETTE[c] for c in all_classes),
        image_size=(h, w), seed=int(seed), num_images=counts, num_instances=num_instances,
        img_dirs=img_dirs, seg_dirs=seg_dirs, img_suffix=img_ext)


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------
def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m mmrest.datasets.synthetic coco|ade ROOT [options]``; returns the exit code."""
    parser = make_parser(
        'Write a small synthetic shapes dataset (COCO instances or ADE20K-style semantic '
        'segmentation) for offline demos and tests.', prog='python -m mmrest.datasets.synthetic')
    parser.add_argument('kind', choices=('coco', 'ade'), help='dataset layout to write')
    parser.add_argument('root', help='output folder')
    parser.add_argument('--num-train', type=int, default=100, help='training images')
    parser.add_argument('--num-val', type=int, default=20, help='validation images')
    parser.add_argument('--size', type=parse_wh, default='320x256', metavar='WxH',
                        help='image size, or one number for a square')
    parser.add_argument('--seed', type=int, default=0, help='random seed')
    parser.add_argument('--classes', default=','.join(DEFAULT_CLASSES),
                        help=f'comma-separated shapes from {",".join(SUPPORTED_SHAPES)} '
                        f'(default {",".join(DEFAULT_CLASSES)})')
    parser.add_argument('--max-objects', type=int, default=4, help='objects per image, at most')
    parser.add_argument('--img-ext', choices=('.jpg', '.png'), default='.jpg',
                        help='image file type')
    parser.add_argument('--no-background-class', action='store_true',
                        help='ade only: label the background 0 ("other", ignored)')
    parser.add_argument('--overwrite', action='store_true', help='replace an earlier set')
    parser.add_argument('--json', action='store_true', help='print the description as JSON')
    args = parser.parse_args(argv)

    kwargs = dict(num_train=args.num_train, num_val=args.num_val, image_size=args.size,
                  seed=args.seed, classes=[c.strip() for c in args.classes.split(',') if c.strip()],
                  num_objects=(1, args.max_objects), img_ext=args.img_ext,
                  overwrite=args.overwrite)
    try:
        if args.kind == 'coco':
            if args.no_background_class:
                parser.error('--no-background-class applies to ade only')
            info = make_synthetic_coco(args.root, **kwargs)
        else:
            info = make_synthetic_ade(args.root, background_class=not args.no_background_class,
                                      **kwargs)
    except (ValueError, FileExistsError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    print(json.dumps(info.to_dict(), indent=2) if args.json else info.summary())
    return 0


if __name__ == '__main__':
    sys.exit(main())
