"""mmrest's registries, children of mmengine's roots, so ``type='mmrest.ResTV2'`` resolves
from any OpenMMLab scope. :func:`register_model` and :func:`register_optim_wrapper_constructor`
register a class once, where it is defined: here, and in the registry of each installed mmdet,
mmseg and mmpretrain, so that the plain ``type='ResTV2'`` works in their configs. Nothing is
registered with ``force=True``: a name clash raises.

Without mmengine (plain PyTorch) there are no registries: the decorators leave the class as it
is, and ``MODELS`` and ``OPTIM_WRAPPER_CONSTRUCTORS`` are None.
"""
from typing import Callable, Optional, Type, TypeVar

from .utils.packages import TASK_PACKAGES, has_library, task_registry

T = TypeVar('T', bound=type)

if has_library('mmengine'):
    from mmengine.registry import MODELS as MMENGINE_MODELS
    from mmengine.registry import (
        OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS,
    )
    from mmengine.registry import Registry

    MODELS: Optional[Registry] = Registry('model', parent=MMENGINE_MODELS, scope='mmrest',
                                          locations=['mmrest.models'])
    OPTIM_WRAPPER_CONSTRUCTORS: Optional[Registry] = Registry(
        'optimizer wrapper constructor', parent=MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS,
        scope='mmrest', locations=['mmrest.engine'])
else:
    MODELS = OPTIM_WRAPPER_CONSTRUCTORS = None


def _registering(own: Optional['Registry'], name: str) -> Callable[[T], T]:
    """A class decorator: register in ``own`` and in ``<task package>.registry.<name>`` of
    every task package that imports (none without mmengine)."""
    def register(cls: Type) -> Type:
        if own is None:
            return cls
        own.register_module(module=cls)
        for package in TASK_PACKAGES:
            registry = task_registry(package, name)
            if registry is not None:
                registry.register_module(module=cls)
        return cls
    return register


register_model = _registering(MODELS, 'MODELS')
register_optim_wrapper_constructor = _registering(OPTIM_WRAPPER_CONSTRUCTORS,
                                                  'OPTIM_WRAPPER_CONSTRUCTORS')
