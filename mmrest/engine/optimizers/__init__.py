from ...registry import register_everywhere
from .layer_decay_optim_wrapper_constructor import ResTLayerDecayOptimWrapperConstructor

# So that configs of mmdet, mmseg and mmpretrain (default scopes) find it by its plain name.
register_everywhere('OPTIM_WRAPPER_CONSTRUCTORS', (ResTLayerDecayOptimWrapperConstructor, ))

__all__ = ['ResTLayerDecayOptimWrapperConstructor']
