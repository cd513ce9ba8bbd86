"""mmrest's networks, with torch alone: each is built once here, from
:mod:`mmrest.models.layers`, and every face subclasses it (the OpenMMLab backbones of
:mod:`mmrest.models.backbones`; the classifiers of plain PyTorch and timm, :mod:`.classifier`).

- :mod:`.base`: presets, the authors' initialisation, checkpoint fitting;
- :mod:`.rest`: the ResT (v1) and ResTv2 networks;
- :mod:`.ceit`: the CeiT network;
- :mod:`.classifier`: the ImageNet classifiers of ResT and ResTv2 (plain PyTorch and timm);
- :mod:`.zoo`: those classifiers by name, with the authors' files loaded.
"""
from .base import NetworkBase
from .ceit import CeiTNet
from .classifier import ResTClassifier, ResTClassifierBase, ResTV2Classifier
from .rest import NUM_STAGES, ResTNet, ResTNetBase, ResTV2Net, stage_module_names
from .zoo import (
    MODELS,
    create_model,
    load_checkpoint,
    rest_base,
    rest_large,
    rest_lite,
    rest_small,
    restv2_base,
    restv2_large,
    restv2_small,
    restv2_tiny,
)

__all__ = [
    'CeiTNet', 'MODELS', 'NUM_STAGES', 'NetworkBase', 'ResTClassifier', 'ResTClassifierBase',
    'ResTNet', 'ResTNetBase', 'ResTV2Classifier', 'ResTV2Net', 'create_model',
    'load_checkpoint', 'rest_base', 'rest_large', 'rest_lite', 'rest_small', 'restv2_base',
    'restv2_large', 'restv2_small', 'restv2_tiny', 'stage_module_names'
]
