from ..checkpoint import CheckpointMismatchError, LoadReport
from ..registry import MODELS, register_everywhere
from .backbones import CeiT, ResT, ResTBase, ResTV2

for _cls in (ResT, ResTV2, CeiT):
    MODELS.register_module(module=_cls, force=True)
register_everywhere('MODELS', (ResT, ResTV2, CeiT))

__all__ = ['ResT', 'ResTV2', 'CeiT', 'ResTBase', 'CheckpointMismatchError', 'LoadReport']
