"""Library side of ``tools/convert_official.py``: any of the authors' released files (``.pth``,
or detectron2's ``.pkl``) -> the layout of the mmrest config it belongs to, checked against a
config on request."""
import os
import os.path as osp
from typing import List, Optional

import torch

from ..checkpoint import CheckpointMismatchError, missing_checkpoint, read_checkpoint
from ..converters import Conversion, check_model_fits, convert_official
from ..utils.build import build_model, quiet_logger
from ..utils.config_loading import load_config
from ..utils.configs import config_dir
from ..utils.errors import ConfigError


def convert_checkpoint(src: str, dst: str, config: Optional[str] = None) -> Conversion:
    """Convert the authors' file ``src`` and write it to ``dst``. With ``config`` (a path or
    ``mmrest::NAME``), the converted weights must fit that config's model exactly
    (``strict=True``) before anything is written.

    Raises:
        CheckpointMismatchError: ``src`` is none of the authors' files, or does not fit
            ``config``.
    """
    if not osp.isfile(src):
        raise ConfigError(missing_checkpoint(src))
    conversion = convert_official(read_checkpoint(src), source=src)
    if config is not None:
        cfg = load_config(config)
        with quiet_logger():
            model, _ = build_model(cfg)
        try:
            check_model_fits(model, conversion.checkpoint, strict=True, source=src)
        except CheckpointMismatchError as error:
            raise CheckpointMismatchError(
                f'{src} is {conversion.official} (its config: configs/'
                f'{conversion.official.config}) and does not fit {config}: {error}') from error
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    torch.save(conversion.checkpoint, dst)
    return conversion


def describe_conversion(conversion: Conversion, src: str, dst: str,
                        config: Optional[str] = None, limit: int = 12) -> List[str]:
    """What the converter prints: what the file is, its config, every rename (the first
    ``limit`` and a count), what was dropped and why, the command that evaluates it."""
    target = f'configs/{conversion.official.config}'
    if not (config_dir() / conversion.official.config).is_file():
        target += ' (not in this mmrest)'
    lines = [f'{src}: {conversion.official}', f'config: {target}']
    if conversion.renamed:
        lines.append(f'renamed {len(conversion.renamed)} tensors:')
        lines += [f'  {old} -> {new}' for old, new in conversion.renamed[:limit]]
        if len(conversion.renamed) > limit:
            lines.append(f'  ... and {len(conversion.renamed) - limit} more')
    for prefix, count in conversion.prefixed.items():
        lines.append(f"prefixed {count} tensors with '{prefix}'")
    if conversion.kept:
        lines.append(f'kept {conversion.kept} tensors as they are')
    for reason, keys in conversion.dropped.items():
        lines.append(f'dropped {", ".join(keys)} ({reason})')
    if config is not None:
        lines.append(f'checked: {config} loads it with strict=True')
    lines.append(f'wrote {dst} ({len(conversion.checkpoint["state_dict"])} tensors)')
    lines.append(f'evaluate: python tools/test.py {config or target} {dst}')
    return lines
