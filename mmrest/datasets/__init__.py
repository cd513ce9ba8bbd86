"""Datasets for mmrest demos and tests.

:mod:`mmrest.datasets.synthetic` writes small synthetic COCO / ADE20K-style shape datasets.
Its names are imported lazily (PEP 562) so that ``python -m mmrest.datasets.synthetic`` does not
find the module already imported by this package (runpy warns about that).
"""
from typing import TYPE_CHECKING, Any

__all__ = [
    'SUPPORTED_SHAPES', 'DEFAULT_CLASSES', 'BACKGROUND_CLASS', 'SyntheticCocoInfo',
    'SyntheticAdeInfo', 'make_synthetic_coco', 'make_synthetic_ade'
]

if TYPE_CHECKING:  # pragma: no cover - for static analysers only
    from .synthetic import (
        BACKGROUND_CLASS,
        DEFAULT_CLASSES,
        SUPPORTED_SHAPES,
        SyntheticAdeInfo,
        SyntheticCocoInfo,
        make_synthetic_ade,
        make_synthetic_coco,
    )


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import synthetic
        return getattr(synthetic, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


def __dir__() -> list:
    return sorted(list(globals()) + __all__)
