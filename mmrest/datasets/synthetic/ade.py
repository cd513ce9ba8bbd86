"""The ADE20K-style writer: a synthetic semantic-segmentation set for mmseg's
``BaseSegDataset``."""
from typing import Sequence, Tuple

import numpy as np

from .arguments import ImageSize, make_plan, prepare_outputs
from .info import BACKGROUND_CLASS, DEFAULT_CLASSES, PALETTE, PathLike, SyntheticAdeInfo
from .rendering import encode

ADE_SPLITS = {'train': 'training', 'val': 'validation'}


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
    plan = make_plan(root, num_train, num_val, image_size, seed, classes, num_objects,
                     size_range, img_ext)
    root, (h, w), shapes, counts = plan.root, plan.size, plan.shapes, plan.counts
    img_dirs = {s: root / 'images' / ADE_SPLITS[s] for s in counts}
    seg_dirs = {s: root / 'annotations' / ADE_SPLITS[s] for s in counts}
    prepare_outputs([*img_dirs.values(), *seg_dirs.values()], overwrite)

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
            (img_dirs[split] / f'{stem}{img_ext}').write_bytes(encode(scene.image, img_ext))
            (seg_dirs[split] / f'{stem}.png').write_bytes(encode(seg, '.png'))
            num_instances[split] += len(scene.labels)

    return SyntheticAdeInfo(
        root=root, classes=all_classes, palette=tuple(PALETTE[c] for c in all_classes),
        image_size=(h, w), seed=int(seed), num_images=counts, num_instances=num_instances,
        img_dirs=img_dirs, seg_dirs=seg_dirs, img_suffix=img_ext)
