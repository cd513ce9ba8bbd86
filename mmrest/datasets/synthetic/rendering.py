"""Drawing the synthetic scenes: textured backgrounds with coloured shapes that occlude each
other, each object's visible part as COCO polygons, and the image encoders.

Only numpy, OpenCV and the standard library are used. Image ``i`` of a split depends only on
``(seed, split, i)`` (:func:`scene_rng`).
"""
import math
from dataclasses import dataclass
from typing import Dict, List, Tuple

import cv2
import numpy as np

from .info import SPLIT_CODES

_MIN_SHAPE_PX = 8.0  # smallest shape size (diameter / side) in pixels, whatever the image size
_MIN_VISIBLE_PX = 24  # an object must keep at least this many visible pixels ...
_MIN_VISIBLE_FRAC = 0.4  # ... and this fraction of its own area once occluded
_MIN_POLY_AREA = 2.0  # px^2; a smaller polygon is a fragment of a few pixels
_POLY_EPSILON = 0.3  # px; polygon simplification tolerance (still decodes to the same mask)
_MAX_PLACEMENT_TRIES = 30
_MIN_COLOUR_DIST = 80.0  # L2 distance (0-255 RGB) between an object and the background under it
_JPEG_QUALITY = 95


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
    else:  # guarded by check_args
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
class Scene:
    image: np.ndarray  # (h, w, 3) uint8, BGR order for cv2 (colours are random anyway)
    owner: np.ndarray  # (h, w) int: 0 background, k >= 1 the k-th object (1-based)
    labels: List[int]  # class index (into `classes`) of each object
    polygons: List[List[List[float]]]  # COCO polygons of each object's visible part


def render_scene(rng: np.random.Generator, h: int, w: int, num_classes: int,
                 shapes: Tuple[str, ...], num_objects: Tuple[int, int],
                 size_range: Tuple[float, float]) -> Scene:
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
    return Scene(out, owner, labels, polygons)


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


def encode(image: np.ndarray, ext: str) -> bytes:
    params = [cv2.IMWRITE_JPEG_QUALITY, _JPEG_QUALITY] if ext == '.jpg' else [
        cv2.IMWRITE_PNG_COMPRESSION, 3]
    ok, buf = cv2.imencode(ext, image, params)
    if not ok:  # pragma: no cover - only with a broken OpenCV build
        raise RuntimeError(f'OpenCV could not encode a {ext} image')
    return buf.tobytes()


def scene_rng(seed: int, split: str, index: int) -> np.random.Generator:
    # one independent stream per image: results do not depend on how many images are made
    return np.random.default_rng([int(seed), SPLIT_CODES[split], int(index)])
