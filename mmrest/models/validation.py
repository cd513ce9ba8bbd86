"""The argument checks every mmrest model and layer shares, so that one rule gives one message
everywhere (OpenMMLab's conventions: negative ``out_indices`` count from the end)."""
from typing import Sequence, Tuple, Union

import torch


def check_choice(name: str, value: object, choices: Sequence[object]) -> None:
    if value in choices:
        return
    if len(choices) == 2:
        raise ValueError(f'{name} must be {choices[0]!r} or {choices[1]!r}, got {value!r}')
    raise ValueError(f'{name} must be one of {", ".join(map(str, choices))}, got {value!r}')


def check_out_indices(out_indices: Union[int, Sequence[int]], count: int,
                      what: str = 'stages') -> Tuple[int, ...]:
    """Sorted, distinct indices in ``0..count-1`` from ints in ``-count..count-1`` (negative
    ones count from the end, as mmpretrain's backbones take them)."""
    indices = (out_indices, ) if isinstance(out_indices, int) else tuple(out_indices)
    if not indices:
        raise ValueError(f'out_indices is empty: give at least one of the {count} {what}')
    bad = [i for i in indices if not -count <= int(i) < count]
    if bad:
        raise ValueError(f'out_indices must be in [{-count}, {count - 1}] (the {count} {what};'
                         f' negative ones count from the end), got {indices}')
    return tuple(sorted({int(i) % count for i in indices}))


def check_frozen_stages(frozen_stages: int, count: int) -> int:
    """-1 (nothing) .. ``count`` (everything)."""
    if frozen_stages not in range(-1, count + 1):
        raise ValueError(f'frozen_stages must be in -1..{count}, got {frozen_stages}')
    return frozen_stages


def check_rate(name: str, value: float) -> float:
    """A probability in [0, 1): drop path, dropout."""
    if not 0.0 <= value < 1.0:
        raise ValueError(f'{name} must be in [0, 1), got {value}')
    return value


def check_batch(model: str, x: torch.Tensor) -> None:
    """Backbones take (B, C, H, W) images."""
    if x.dim() != 4:
        raise ValueError(f'{model} expects a (B, C, H, W) batch, got shape {tuple(x.shape)}')
