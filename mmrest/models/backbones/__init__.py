from .rest import ResT, ResTBase, ResTV2

__all__ = ['ResT', 'ResTBase', 'ResTV2']
