"""mmrest's models: the networks (torch alone, :mod:`.networks`), built from
:mod:`.layers`, and their faces: the OpenMMLab backbones (:mod:`.backbones`, with mmengine)
and the plain-PyTorch classifiers by name (``restv2_tiny(checkpoint=PATH)``)."""
from ..checkpoint import CheckpointMismatchError, LoadReport
from .backbones import CeiT, ResT, ResTBase, ResTV2
from .networks import (
    CeiTNet,
    ResTClassifier,
    ResTNet,
    ResTV2Classifier,
    ResTV2Net,
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
    'ResT', 'ResTV2', 'CeiT', 'ResTBase', 'CheckpointMismatchError', 'LoadReport', 'CeiTNet',
    'ResTNet', 'ResTV2Net', 'ResTClassifier', 'ResTV2Classifier', 'create_model',
    'load_checkpoint', 'rest_lite', 'rest_small', 'rest_base', 'rest_large', 'restv2_tiny',
    'restv2_small', 'restv2_base', 'restv2_large'
]
