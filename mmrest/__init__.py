"""mmrest: ResT and ResTv2 backbones for mmdet, mmsegmentation and mmpretrain.

Importing it (e.g. ``custom_imports = dict(imports=['mmrest'])``) registers the backbones in
every installed OpenMMLab model registry, lets mmengine resolve ``mmrest::`` config paths and
makes checkpoint loading work with torch's ``weights_only`` default.
"""
from .checkpoint import install_checkpoint_loader
from .utils.configs import register_scope
from .version import __version__

install_checkpoint_loader()
register_scope()

# Imported after the loader and the scope: they register the backbones and the optimizer
# constructor.
from . import engine, models  # noqa: E402,F401
from .models import CeiT, ResT, ResTV2  # noqa: E402

__all__ = ['__version__', 'ResT', 'ResTV2', 'CeiT']
