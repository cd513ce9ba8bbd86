"""mmrest's networks, with torch alone: each is built once here, from
:mod:`mmrest.models.layers`, and every face subclasses it (the OpenMMLab backbones of
:mod:`mmrest.models.backbones`; the classifiers of plain PyTorch and timm, :mod:`.classifier`).

- :mod:`.base`: presets, the authors' initialisation, checkpoint fitting;
- :mod:`.rest`: the ResT (v1) and ResTv2 networks;
- :mod:`.ceit`: the CeiT network.
"""
from .base import NetworkBase
from .ceit import CeiTNet
from .rest import NUM_STAGES, ResTNet, ResTNetBase, ResTV2Net, stage_module_names

__all__ = ['CeiTNet', 'NUM_STAGES', 'NetworkBase', 'ResTNet', 'ResTNetBase', 'ResTV2Net',
           'stage_module_names']
