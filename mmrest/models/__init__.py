from ..checkpoint import CheckpointMismatchError, LoadReport
from .backbones import CeiT, ResT, ResTBase, ResTV2

__all__ = ['ResT', 'ResTV2', 'CeiT', 'ResTBase', 'CheckpointMismatchError', 'LoadReport']
