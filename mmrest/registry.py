"""mmrest's registries, children of mmengine's roots, so ``type='mmrest.ResTV2'`` resolves
from any OpenMMLab scope; :func:`register_everywhere` adds the classes to mmdet, mmseg and
mmpretrain too, so that the plain ``type='ResTV2'`` works in their configs."""
import importlib
from typing import Iterable

from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import Registry

MODELS = Registry('model', parent=MMENGINE_MODELS, scope='mmrest', locations=['mmrest.models'])
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor', parent=MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS, scope='mmrest',
    locations=['mmrest.engine'])

DOWNSTREAM_PACKAGES = ('mmdet', 'mmseg', 'mmpretrain')


def register_everywhere(registry_name: str, classes: Iterable[type]) -> None:
    """Register ``classes`` in ``<pkg>.registry.<registry_name>`` of mmdet, mmseg and
    mmpretrain, which mmrest requires (requirements/runtime.txt: its configs, tools and APIs
    use all three)."""
    classes = list(classes)
    for package in DOWNSTREAM_PACKAGES:
        try:
            registry = getattr(importlib.import_module(f'{package}.registry'), registry_name)
        except ImportError as error:
            raise ImportError(f'mmrest needs {package} (requirements/runtime.txt: mmdet, '
                              f'mmsegmentation and mmpretrain); importing it failed: '
                              f'{error}') from error
        for cls in classes:
            registry.register_module(module=cls, force=True)
