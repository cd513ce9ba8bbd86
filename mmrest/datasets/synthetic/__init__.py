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

Command line::

    python -m mmrest.datasets.synthetic coco data/shapes_coco --num-train 200 --num-val 50
    python -m mmrest.datasets.synthetic ade data/shapes_ade --size 320x256 --seed 1

The modules: :mod:`.info` (what was written), :mod:`.arguments` (their checks), :mod:`.rendering`
(the scenes), :mod:`.coco` and :mod:`.ade` (the writers), :mod:`.cache` (a set made once and
reused while its parameters stay the same, as the demo uses it) and :mod:`.cli`.
"""
from .ade import make_synthetic_ade
from .cache import prepare_synthetic_coco
from .cli import main
from .coco import make_synthetic_coco
from .info import (
    BACKGROUND_CLASS,
    DEFAULT_CLASSES,
    SUPPORTED_SHAPES,
    SyntheticAdeInfo,
    SyntheticCocoInfo,
)

__all__ = [
    'SUPPORTED_SHAPES', 'DEFAULT_CLASSES', 'BACKGROUND_CLASS', 'SyntheticCocoInfo',
    'SyntheticAdeInfo', 'make_synthetic_coco', 'make_synthetic_ade', 'prepare_synthetic_coco',
    'main'
]
