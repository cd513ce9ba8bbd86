"""mmrest: ResT, ResTv2 and CeiT for OpenMMLab (mmdet, mmsegmentation, mmpretrain), timm and
plain PyTorch.

Importing it refuses an unsupported torch in one line. Where mmengine is installed (the
``det``, ``seg`` and ``cls`` extras), it also registers the backbones in mmrest's registry and
in that of each installed mmdet, mmseg and mmpretrain (``custom_imports =
dict(imports=['mmrest'])``), lets mmengine resolve ``mmrest::`` config paths and makes
checkpoint loading work with torch's ``weights_only`` default. With torch alone, the networks
and their plain-PyTorch models work (``from mmrest.models import restv2_tiny``), and the
OpenMMLab classes say which extra to install when used. ``import mmrest.timm`` registers the
models in timm.
"""
from .utils.compat import check_torch

check_torch()

from .utils.packages import has_library  # noqa: E402
from .version import __version__  # noqa: E402

if has_library('mmengine'):
    from .checkpoint import install_checkpoint_loader
    from .utils.configs import register_scope

    install_checkpoint_loader()
    register_scope()
    from . import engine  # noqa: F401  (registers the optimizer wrapper constructor)

# Defining the classes registers them (mmrest.registry).
from . import models  # noqa: E402,F401
from .models import CeiT, ResT, ResTV2  # noqa: E402

__all__ = ['__version__', 'ResT', 'ResTV2', 'CeiT']
