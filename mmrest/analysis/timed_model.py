"""A model as every speed tool times it: its config (every detection kept; quick runs with few
region proposals), its build, and the one inference call (without gradients, under autocast).

The speed suite, :mod:`.benchmark`, :mod:`.attn_styles`, :mod:`.profile`, :mod:`.compare` and
the ONNX latency comparison (:mod:`mmrest.deploy.end2end.benchmark`) all build and call their
models through it, so that what they time is the same thing.
"""
import copy
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional, Tuple, Union

import torch
import torch.nn as nn

from ..utils.build import build_model
from ..utils.config_loading import load_config
from .timing import autocast

if TYPE_CHECKING:  # mmengine is imported where it is used: timing plain backbones needs torch alone
    from mmengine.config import Config

# Quick runs keep few region proposals and detections: the RoI and mask heads' cost follows
# their number, not the image size, and would otherwise dominate a smoke test at tiny sizes.
QUICK_PROPOSALS = dict(test_nms_pre=100, test_max_per_img=50, train_nms_pre=200,
                       train_max_per_img=100, rcnn_samples=64, detections=10)


def keep_every_detection(model_cfg) -> None:
    """For timing with random weights: no score threshold in a detector's test config.

    Random weights put a two-stage detector's scores near the configs' threshold (0.05), so
    how many detections reach the mask head and the pasting varied from 0 to 79 between two
    builds of the same Mask R-CNN. Without the threshold every model keeps its
    ``max_per_img`` (100) best, as a trained model does on a busy image, and all do the same
    post-processing work. One-stage detectors (RetinaNet) hold the threshold in ``test_cfg``
    itself. (Mask2Former keeps its top 100 queries anyway.)
    """
    test_cfg = model_cfg.get('test_cfg') or {}
    for stage_cfg in (test_cfg, test_cfg.get('rcnn') or {}):
        if 'score_thr' in stage_cfg:
            stage_cfg['score_thr'] = 0.0


def _keep_few_proposals(model_cfg) -> None:
    """Shrink the proposal and detection counts of a two-stage detector config in place (a
    no-op for models without an RPN)."""
    n = QUICK_PROPOSALS
    test_cfg = model_cfg.get('test_cfg') or {}
    if test_cfg.get('rpn'):
        test_cfg['rpn'].update(nms_pre=n['test_nms_pre'], max_per_img=n['test_max_per_img'])
    if test_cfg.get('rcnn'):
        test_cfg['rcnn']['max_per_img'] = n['detections']
    train_cfg = model_cfg.get('train_cfg') or {}
    if train_cfg.get('rpn_proposal'):
        train_cfg['rpn_proposal'].update(nms_pre=n['train_nms_pre'],
                                         max_per_img=n['train_max_per_img'])
    rcnn = train_cfg.get('rcnn')
    for stage in (rcnn if isinstance(rcnn, list) else [rcnn] if rcnn else []):
        if stage.get('sampler'):
            stage['sampler']['num'] = n['rcnn_samples']


def load_timed_config(config: Union[str, 'Config'], quick: bool = False,
                      cfg_options: Optional[Mapping[str, Any]] = None) -> 'Config':
    """A config (a path, ``pkg::NAME`` or a loaded Config, which is copied) as every timed or
    profiled model is built from it: every detection kept (:func:`keep_every_detection`),
    and with ``quick`` few proposals and detections (:data:`QUICK_PROPOSALS`)."""
    cfg = load_config(config, cfg_options=cfg_options)
    keep_every_detection(cfg.model)
    if quick:
        _keep_few_proposals(cfg.model)
    return cfg


def build_timed_model(config: Union[str, 'Config'], device: Union[str, torch.device] = 'cpu',
                      quick: bool = False, cfg_options: Optional[Mapping[str, Any]] = None,
                      checkpoint: Optional[str] = None) -> Tuple[nn.Module, str]:
    """The model of ``config`` in eval mode on ``device``, and its scope. Random weights
    (no ``checkpoint``): built from :func:`load_timed_config`; with a checkpoint: from the
    config as it is (a trained model's score threshold applies)."""
    device = torch.device(device)
    if checkpoint is not None:
        return build_model(load_config(config, cfg_options=cfg_options), checkpoint, device)
    return build_model(load_timed_config(config, quick, cfg_options), None, device)


def infer(model: nn.Module, inputs: torch.Tensor, data_samples: Optional[list] = None,
          amp: bool = False, mode: Optional[str] = 'predict') -> Any:
    """The one inference call of the speed tools: ``model(inputs, data_samples, mode=mode)``
    of an mmdet / mmseg / mmpretrain model (``mode=None``: ``model(inputs)``, a bare
    backbone), without gradients, under autocast with ``amp`` (float16 on a GPU, bfloat16 on
    the CPU)."""
    with torch.no_grad(), autocast(inputs.device, amp):
        if mode is None:
            return model(inputs)
        return model(inputs, data_samples, mode=mode)


def inference_call(model: nn.Module, inputs: torch.Tensor, data_samples: Optional[list] = None,
                   amp: bool = False, mode: Optional[str] = 'predict') -> Callable[[], Any]:
    """:func:`infer` as a call without arguments, for
    :func:`~mmrest.analysis.timing.interleaved_timing`: each call gets a fresh copy of
    ``data_samples`` (prediction writes its results into them)."""
    return lambda: infer(model, inputs, copy.deepcopy(data_samples), amp, mode)
