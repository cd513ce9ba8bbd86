"""The COCO writer: a synthetic instance-segmentation set for mmdet's ``CocoDataset``."""
import json
from pathlib import Path
from typing import Dict, Iterable, Sequence, Tuple

import cv2
import numpy as np

from .arguments import ImageSize, make_plan, prepare_outputs
from .info import DEFAULT_CLASSES, PALETTE, PathLike, SyntheticCocoInfo
from .rendering import encode


def coco_outputs(root: Path, splits: Iterable[str]) -> Tuple[Dict[str, Path], Dict[str, Path]]:
    """Where a set's images (``root/SPLIT``) and annotations
    (``root/annotations/instances_SPLIT.json``) go, per split."""
    splits = list(splits)
    return ({s: root / s for s in splits},
            {s: root / 'annotations' / f'instances_{s}.json' for s in splits})


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
    plan = make_plan(root, num_train, num_val, image_size, seed, classes, num_objects,
                     size_range, img_ext)
    root, (h, w), classes, counts = plan.root, plan.size, plan.shapes, plan.counts
    img_dirs, ann_files = coco_outputs(root, counts)
    prepare_outputs([*img_dirs.values(), *ann_files.values()], overwrite)

    categories = [dict(id=i + 1, name=c, supercategory='shape') for i, c in enumerate(classes)]
    num_instances = {}
    for split in counts:
        img_dirs[split].mkdir(parents=True, exist_ok=True)
        images, annotations = [], []
        for idx, scene in plan.scenes(split):
            file_name = f'{idx:06d}{img_ext}'
            (img_dirs[split] / file_name).write_bytes(encode(scene.image, img_ext))
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
        root=root, classes=classes, palette=tuple(PALETTE[c] for c in classes),
        image_size=(h, w), seed=int(seed), num_images=counts, num_instances=num_instances,
        img_dirs=img_dirs, ann_files=ann_files)
