"""mmrest: ResT and ResTv2 backbones for mmdet, mmsegmentation and mmpretrain.

Importing it (e.g. ``custom_imports = dict(imports=['mmrest'])``) refuses an unsupported torch in
one line, registers the backbones in mmrest's registry and in that of each installed mmdet,
mmseg and mmpretrain, lets mmengine resolve ``mmrest::`` config paths and makes checkpoint
loading work with torch's ``weights_only`` default.
"""
from .utils.compat import check_torch

check_torch()

try:
    import mmengine  # noqa: F401
except ImportError as _error:
    raise ImportError(f'mmrest needs mmengine (pip install "mmengine>=0.10.4,<1"): '
                      f'{_error}') from _error

from .checkpoint import install_checkpoint_loader  # noqa: E402
from .utils.configs import register_scope  # noqa: E402
from .version import __version__  # noqa: E402

install_checkpoint_loader()
register_scope()

# Defining the classes registers them (mmrest.registry).
from . import engine, models  # noqa: E402,F401
from .models import CeiT, ResT, ResTV2  # noqa: E402

__all__ = ['__version__', 'ResT', 'ResTV2', 'CeiT']
