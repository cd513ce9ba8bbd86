"""Deterministic weights for files laid out as the authors' released checkpoints, and inputs:
the rule of the reference fixtures (``tests/fixtures/*_rest*``).

The reference generator (``tools/dev/make_reference_outputs.py``) fills the authors' own models
with these values and records their outputs; the tests rebuild the same file from the recorded
key names and shapes alone, so no checkpoint and no foreign code is needed at test time.

A tensor's values depend only on its key name and shape (seeded by the name's CRC-32), scaled
so that deep random networks stay numerically tame: fan-in scaled weights, norm weights near
1, small biases, positive running variances. An input depends only on its shape and seed, so
fixtures record those instead of the images. Torch only, so that the generator can run in a
throwaway environment without mmrest.
"""
import math
import zlib
from typing import Dict, Iterable, Sequence, Tuple

import torch

KeyShapes = Iterable[Tuple[str, Sequence[int]]]


def reference_tensor(name: str, shape: Sequence[int]) -> torch.Tensor:
    """The value of the tensor ``name`` of this ``shape`` (float32; int64 for BN counters)."""
    shape = tuple(int(s) for s in shape)
    seed = zlib.crc32(name.encode())
    if name.endswith('num_batches_tracked'):
        return torch.full(shape, seed % 1000, dtype=torch.int64)
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(shape, generator=generator)
    if name.endswith('running_var'):
        return 0.5 + noise.abs()
    if name.endswith('running_mean'):
        return 0.1 * noise
    if len(shape) <= 1:  # a 1-D weight is a norm's; biases stay small
        return 1.0 + 0.1 * noise if name.endswith('weight') else 0.05 * noise
    fan_in = math.prod(shape[1:])
    return noise / math.sqrt(fan_in)


def reference_input(shape: Sequence[int], seed: int) -> torch.Tensor:
    """The float32 input of this ``shape`` and ``seed`` (standard normal)."""
    return torch.randn(tuple(int(s) for s in shape),
                       generator=torch.Generator().manual_seed(seed))


def reference_state_dict(keys: KeyShapes) -> Dict[str, torch.Tensor]:
    """A state dict with :func:`reference_tensor` for each ``(name, shape)``."""
    return {name: reference_tensor(name, shape) for name, shape in keys}
