"""Datasets for mmrest demos and tests: :mod:`mmrest.datasets.synthetic` writes small synthetic
COCO / ADE20K-style shape datasets (``python -m mmrest.datasets.synthetic``)."""
from .synthetic import (
    BACKGROUND_CLASS,
    DEFAULT_CLASSES,
    SUPPORTED_SHAPES,
    SyntheticAdeInfo,
    SyntheticCocoInfo,
    make_synthetic_ade,
    make_synthetic_coco,
    prepare_synthetic_coco,
)

__all__ = [
    'SUPPORTED_SHAPES', 'DEFAULT_CLASSES', 'BACKGROUND_CLASS', 'SyntheticCocoInfo',
    'SyntheticAdeInfo', 'make_synthetic_coco', 'make_synthetic_ade', 'prepare_synthetic_coco'
]
