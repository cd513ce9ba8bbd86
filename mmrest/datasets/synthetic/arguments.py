"""The writers' arguments, checked, and what every image of a set is drawn from (:class:`Plan`)."""
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, Sequence, Tuple, Union

import numpy as np

from .info import SUPPORTED_SHAPES, PathLike
from .rendering import Scene, render_scene, scene_rng

MIN_IMAGE_SIDE = 32  # below this the smallest shapes degenerate to a handful of pixels

ImageSize = Union[int, Tuple[int, int], Sequence[int]]


def parse_image_size(image_size: ImageSize) -> Tuple[int, int]:
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


def check_args(num_train: int, num_val: int, seed: int, classes: Sequence[str],
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


def prepare_outputs(paths: Sequence[Path], overwrite: bool) -> None:
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



@dataclass(frozen=True)
class Plan:
    """The checked arguments of a writer: what every image of a set is drawn from."""
    root: Path
    size: Tuple[int, int]
    shapes: Tuple[str, ...]
    counts: Dict[str, int]
    seed: int
    num_objects: Tuple[int, int]
    size_range: Tuple[float, float]

    def scenes(self, split: str) -> Iterator[Tuple[int, Scene]]:
        """(index, scene) of every image of ``split``; image ``i`` depends only on
        (seed, split, i), so the COCO and ADE writers draw the same scenes."""
        h, w = self.size
        for idx in range(self.counts[split]):
            yield idx, render_scene(scene_rng(self.seed, split, idx), h, w, len(self.shapes),
                                    self.shapes, self.num_objects, self.size_range)


def make_plan(root: PathLike, num_train: int, num_val: int, image_size: ImageSize, seed: int,
              classes: Sequence[str], num_objects: Tuple[int, int],
              size_range: Tuple[float, float], img_ext: str) -> Plan:
    """The checked arguments of a writer (``ValueError`` for a bad one)."""
    size = parse_image_size(image_size)
    shapes = check_args(num_train, num_val, seed, classes, tuple(num_objects),
                         tuple(size_range), img_ext)
    return Plan(Path(root), size, shapes, {'train': int(num_train), 'val': int(num_val)},
                 int(seed), tuple(num_objects), tuple(size_range))
