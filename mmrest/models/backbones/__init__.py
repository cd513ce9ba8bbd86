from .base import MMRestBackbone
from .ceit import CeiT
from .rest import ResT, ResTBase, ResTV2

__all__ = ['CeiT', 'MMRestBackbone', 'ResT', 'ResTBase', 'ResTV2']
