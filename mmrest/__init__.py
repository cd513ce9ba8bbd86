"""mmrest: ResT and ResTv2 backbones for mmdet, mmsegmentation and mmpretrain.

Importing it (e.g. ``custom_imports = dict(imports=['mmrest'])``) registers the backbones in
every installed OpenMMLab model registry, lets mmengine resolve ``mmrest::`` config paths and
makes checkpoint loading work with torch's ``weights_only`` default.
"""
from .utils.checkpoint_io import install_checkpoint_loader
from .utils.configs import register_scope
from .version import __version__

install_checkpoint_loader()
register_scope()

from . import models  # noqa: E402,F401  (registers the backbones)
from . import engine  # noqa: E402,F401  (registers the optimizer constructor)
from .models import CeiT, ResT, ResTV2  # noqa: E402

__all__ = ['__version__', 'ResT', 'ResTV2', 'CeiT']
