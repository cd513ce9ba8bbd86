from .optimizers import ResTLayerDecayOptimWrapperConstructor

__all__ = ['ResTLayerDecayOptimWrapperConstructor']
