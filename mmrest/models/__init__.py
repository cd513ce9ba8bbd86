from ..registry import MODELS, register_everywhere
from .backbones import ResT, ResTBase, ResTV2
from .checkpoint import CheckpointMismatchError, LoadReport

for _cls in (ResT, ResTV2):
    MODELS.register_module(module=_cls, force=True)
register_everywhere('MODELS', (ResT, ResTV2))

__all__ = ['ResT', 'ResTV2', 'ResTBase', 'CheckpointMismatchError', 'LoadReport']
