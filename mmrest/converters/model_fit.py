"""Whether a checkpoint fits a whole model (a detector, segmentor or classifier holding mmrest
backbones), checked before it is loaded: mmengine's ``load_from`` only warns about missing keys
and shape mismatches, and would test partly random weights."""
import os.path as osp
from typing import Any, Mapping, Optional, Union

import torch

from ..checkpoint import (
    CheckpointMismatchError,
    compare_state_dicts,
    extract_state_dict,
    load_from_local,
    missing_checkpoint,
    required_missing,
)
from ..models.backbones.base import MMRestBackbone
from .official import recognise_official


def check_model_fits(model: torch.nn.Module, checkpoint: Union[str, Mapping[str, Any]],
                     strict: bool = False, source: Optional[str] = None) -> None:
    """Refuse a checkpoint (a path, or a loaded one) that belongs to another model. The
    backbones' parts are read as loading reads them (the authors' names translated,
    :meth:`~mmrest.models.backbones.base.MMRestBackbone.translate_state_dict`), then compared
    with the model's state dict (:func:`~mmrest.checkpoint.compare_state_dicts`).
    ``strict``: tensors the model does not have are refused too.

    Raises:
        FileNotFoundError: ``checkpoint`` is a path to no file.
        CheckpointMismatchError: it does not fit; an authors' file is named, with the converter.
    """
    if isinstance(checkpoint, str):
        if not osp.isfile(checkpoint):
            raise FileNotFoundError(missing_checkpoint(checkpoint))
        source = source or checkpoint
        loaded = load_from_local(checkpoint, map_location='cpu')
    else:
        source, loaded = source or 'the checkpoint', checkpoint
    state = extract_state_dict(loaded, source)
    while hasattr(model, 'module'):  # DDP and/or test-time augmentation wrappers
        model = model.module
    own = model.state_dict()
    problems = []
    for name, module in model.named_modules():
        if isinstance(module, MMRestBackbone):
            try:
                module.translate_state_dict(state, f'{name}.' if name else '', source=source,
                                            log=False)
            except CheckpointMismatchError as error:  # another version or size
                problems.append(str(error).rstrip('.'))
    comparison = compare_state_dicts(state, own)
    mismatched = [f'{k} {a} vs {b}' for k, a, b in comparison.mismatched]
    missing = required_missing(comparison.missing)
    unexpected = comparison.unexpected if strict else []
    if not (problems or mismatched or missing or unexpected):
        return
    if mismatched:
        problems.append(f'{len(mismatched)} tensors have other shapes (checkpoint vs model, '
                        f'e.g. {", ".join(mismatched[:3])})')
    if missing:
        problems.append(f'{len(missing)} of {len(own)} model tensors are missing from it '
                        f'(e.g. {", ".join(missing[:3])})')
    if unexpected:
        problems.append(f'{len(unexpected)} of its tensors are not in the model (e.g. '
                        f'{", ".join(unexpected[:3])})')
    try:
        official = recognise_official(loaded, source)
        hint = (f' It is {official}: convert it with python tools/convert_official.py '
                f'{source} OUT.pth (its config: configs/{official.config}).')
    except CheckpointMismatchError:
        hint = ' Is it the checkpoint of another config?'
    raise CheckpointMismatchError(f'{source} does not fit the model of this config: '
                                  f'{"; ".join(problems)}.{hint}')
