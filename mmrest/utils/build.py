"""Building the model of a config outside a runner (speed tools, ONNX export, the demo)."""
import copy
import logging
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator, Optional, Tuple, Union

import torch
import torch.nn as nn

from .configs import scope_of
from .packages import require

if TYPE_CHECKING:  # mmengine is imported where it is used: mmrest.utils needs torch alone
    from mmengine.config import Config


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@contextmanager
def quiet_logger(level: int = logging.WARNING) -> Iterator[None]:
    """Keep mmengine's current logger at ``level`` inside the block: outside a runner (no
    log file) ``init_weights`` prints how every tensor was initialised, a thousand lines."""
    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    previous = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(previous)


def build_model(cfg: 'Config',
                checkpoint: Optional[str] = None,
                device: Union[str, torch.device] = 'cpu',
                strict: bool = False) -> Tuple[nn.Module, str]:
    """The model of ``cfg`` through the registry of its default scope, and that scope.

    With a ``checkpoint`` its weights are loaded (``strict``: every tensor must fit);
    without one the model is initialised as training starts, except that the backbone's
    pretrained file is not read (its ``init_cfg`` is dropped: the file may not be there, and
    speed, export and demos do not need it). SyncBN becomes BN (one process), and the model
    is returned in eval mode on ``device``.
    """
    from mmengine.model import revert_sync_batchnorm
    from mmengine.registry import DefaultScope, init_default_scope
    from mmengine.runner import load_checkpoint

    # Importing any part of mmrest has registered its backbones (mmrest/__init__.py).
    scope = scope_of(cfg)
    init_default_scope(scope)
    model_cfg = copy.deepcopy(cfg.model)
    if checkpoint is None and model_cfg.get('backbone') is not None:
        model_cfg.backbone.init_cfg = None
    registry = require(scope, f'a model of the {scope} scope').registry.MODELS
    with DefaultScope.overwrite_default_scope(scope):
        model = registry.build(model_cfg)
    if checkpoint is not None:
        load_checkpoint(model, checkpoint, map_location='cpu', strict=strict)
    else:
        with quiet_logger():
            model.init_weights()
    model = revert_sync_batchnorm(model).to(device)
    model.eval()  # not chained: some train() overrides (mmdet's Swin) return None
    return model, scope
