from .ceit import CeiT
from .rest import ResT, ResTBase, ResTV2

__all__ = ['CeiT', 'ResT', 'ResTBase', 'ResTV2']
