"""Writing the ONNX file of a backbone or of a config's model (TorchScript tracer or dynamo
exporter), with dynamic batch, height and width."""
import os
import warnings
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Union

import torch
import torch.nn as nn

from ...utils.aliases import PathLike, Size2d
from ...utils.build import build_model
from ...utils.compat import dynamic_dim, onnx_export
from ...utils.config_loading import load_config
from .networks import backbone_output_names, model_network
from .rewrites import export_rewrites

# 17: the first opset with LayerNormalization as one operator. torch's dynamo exporter writes
# opset 18 and converts down only unreliably (the ONNX version converter fails on ReduceMean).
DEFAULT_OPSET = 17
MIN_DYNAMO_OPSET = 18
INPUT_NAME = 'input'


@dataclass
class OnnxExport:
    """What :func:`export_backbone` / :func:`export_model` wrote.

    ``module`` is the exported PyTorch module (in eval mode): verify the file against it.
    """
    path: str
    module: nn.Module
    input_size: Size2d
    output_names: List[str]
    dynamic_hw: bool
    opset: int
    dynamo: bool
    rewrites: int = 0


def as_size(size: Union[int, Sequence[int]]) -> Size2d:
    if isinstance(size, int):
        return size, size
    if len(size) != 2 or any(int(s) < 1 for s in size):
        raise ValueError(f'input_size must be (height, width), got {size}')
    return int(size[0]), int(size[1])


def _export(module: nn.Module, path: PathLike, inputs: torch.Tensor, output_names: List[str],
            dynamic_hw: bool, dynamic_batch: bool, opset: int, dynamo: bool) -> None:
    if dynamo:
        axes: Dict[int, Any] = {}
        if dynamic_batch:
            axes[0] = dynamic_dim()
        if dynamic_hw:
            axes.update({2: dynamic_dim(), 3: dynamic_dim()})
        onnx_export(module, (inputs, ), str(path), dynamo=True, opset_version=opset,
                    input_names=[INPUT_NAME], output_names=output_names,
                    dynamic_shapes=((axes, ) if axes else None), verbose=False)
        return
    dynamic_axes: Dict[str, Dict[int, str]] = {}
    if dynamic_batch or dynamic_hw:
        for name in [INPUT_NAME] + output_names:
            # Output names also label their own axes, so that ONNX Runtime checks no false
            # equality between the sizes of different outputs.
            dims = {0: 'batch'} if dynamic_batch else {}
            if dynamic_hw:
                label = 'image' if name == INPUT_NAME else name
                dims.update({2: f'{label}_height', 3: f'{label}_width'})
            dynamic_axes[name] = dims
    with warnings.catch_warnings():
        # torch >= 2.9 deprecates the TorchScript exporter; it stays the default here because
        # it exports these models in seconds where the dynamo exporter takes minutes, with
        # the same verified results.
        warnings.filterwarnings('ignore', category=DeprecationWarning,
                                message='.*legacy TorchScript-based ONNX export.*')
        onnx_export(module, (inputs, ), str(path), dynamo=False, opset_version=opset,
                    input_names=[INPUT_NAME], output_names=output_names,
                    dynamic_axes=dynamic_axes or None, do_constant_folding=True)


def export_module(module: nn.Module, names_from: Any, path: PathLike, input_size: Size2d,
                   in_channels: int, dynamic_hw: bool, dynamic_batch: bool,
                   opset: Optional[int], dynamo: bool) -> OnnxExport:
    if opset is None:
        opset = MIN_DYNAMO_OPSET if dynamo else DEFAULT_OPSET
    elif dynamo and opset < MIN_DYNAMO_OPSET:
        raise ValueError(f'the dynamo exporter writes opset {MIN_DYNAMO_OPSET} or later, got '
                         f'opset {opset} (use the TorchScript exporter, dynamo=False)')
    # torch.export specialises sizes 0 and 1: an example batch of 2 keeps the batch dynamic.
    batch = 2 if dynamo and dynamic_batch else 1
    param = next(module.parameters(), None)
    inputs = torch.randn(batch, in_channels, *input_size,
                         device=param.device if param is not None else 'cpu')
    was_training = module.training
    module.eval()
    try:
        output_names = names_from(inputs)
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        with torch.no_grad(), export_rewrites(module) as rewrites:
            _export(module, path, inputs, output_names, dynamic_hw, dynamic_batch, opset, dynamo)
    finally:
        module.train(was_training)
    return OnnxExport(str(path), module, input_size, output_names, dynamic_hw, opset, dynamo,
                      rewrites)


def export_backbone(model: nn.Module,
                    path: PathLike,
                    input_size: Union[int, Size2d] = (224, 224),
                    dynamic_hw: bool = True,
                    opset: Optional[int] = None,
                    *,
                    in_channels: int = 3,
                    dynamic_batch: bool = True,
                    dynamo: bool = False) -> OnnxExport:
    """Export a backbone (``(B, C, H, W) -> tuple of feature maps``) to ``path``.

    Args:
        model: a ResT / ResTV2 (or any backbone returning a tuple of tensors); it is put in
            eval mode for the export and returned to its mode afterwards.
        input_size: (height, width) of the example input the graph is traced with; with
            ``dynamic_hw`` the graph works at any size, else only at this one.
        dynamic_hw / dynamic_batch: make height and width / the batch size dynamic axes.
        opset: ONNX opset; default 17 (LayerNormalization is one operator), 18 with
            ``dynamo`` (its minimum).
        dynamo: use torch's ``torch.export``-based exporter instead of the TorchScript tracer.
            Both export ResT and ResTv2 dynamically; the tracer takes seconds where the dynamo
            exporter takes minutes.
    """
    return export_module(model, lambda x: backbone_output_names(model, x), path,
                          as_size(input_size), in_channels, dynamic_hw, dynamic_batch, opset,
                          dynamo)


def export_model(config: Union[str, 'os.PathLike[str]', Any],
                 checkpoint: Optional[str] = None,
                 path: PathLike = 'model.onnx',
                 input_size: Union[int, Size2d, None] = None,
                 dynamic_hw: bool = True,
                 opset: Optional[int] = None,
                 *,
                 backbone_only: bool = False,
                 cfg_options: Optional[Dict[str, Any]] = None,
                 dynamic_batch: bool = True,
                 dynamo: bool = False) -> OnnxExport:
    """Export the network part of a config's model (see the module doc) to ``path``.

    Args:
        config: a config file or a loaded :class:`mmengine.config.Config`.
        checkpoint: trained weights (mmengine checkpoint); None exports random weights.
        input_size: (height, width) traced with; with ``dynamic_hw`` any size works later.
            Default: the config's ``crop_size`` if it has one, else (800, 1344) (a padded
            COCO test image) for a detector, (224, 224) for a backbone.
        backbone_only: export ``model.backbone`` alone.
        cfg_options: overrides merged into the config (flat dotted keys).
        dynamic_hw, dynamic_batch, opset, dynamo: as in :func:`export_backbone`.
    """
    cfg = load_config(config, cfg_options=cfg_options)
    model, _ = build_model(cfg, checkpoint, strict=True)
    in_channels = 3
    if input_size is None:
        input_size = cfg.get('crop_size') or ((224, 224) if backbone_only else (800, 1344))
    if backbone_only:
        backbone = model.backbone
        return export_backbone(backbone, path, input_size, dynamic_hw, opset,
                               in_channels=in_channels, dynamic_batch=dynamic_batch,
                               dynamo=dynamo)
    network = model_network(model).eval()
    return export_module(network, network.output_names, path, as_size(input_size),
                          in_channels, dynamic_hw, dynamic_batch, opset, dynamo)
