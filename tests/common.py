"""What many tests share: where things are, the small archs that stand in for the presets, and
the one parameter count (mmrest's)."""
from pathlib import Path

import pytest

from mmrest.analysis import count_parameters  # noqa: F401  (re-exported for the tests)
from mmrest.utils.packages import TASK_PACKAGES, is_available

REPO = Path(__file__).resolve().parent.parent
CONFIGS = REPO / 'configs'
FIXTURES = REPO / 'tests' / 'fixtures'

DIMS = (16, 32, 64, 128)
HEADS = (1, 2, 4, 8)


def tiny_arch(*depths: int, embed_dims=DIMS) -> dict:
    """A four-stage ResT / ResTv2 arch with these depths, small enough for any test."""
    return dict(embed_dims=tuple(embed_dims), depths=tuple(depths), num_heads=HEADS)


TINY = tiny_arch(1, 1, 2, 1)  # two blocks in stage 3: block indices beyond 0 exist
FLAT = tiny_arch(1, 1, 1, 1)  # the fastest: the tool tests' tiny tasks
DEEP = tiny_arch(1, 2, 2, 1)  # two blocks in stages 2 and 3 (decay ids, ablations)
WINDOWED = tiny_arch(1, 2, 2, 2)  # a last block per stage that differs (attention styles)
OTHER = tiny_arch(1, 2, 2, 1, embed_dims=(24, 48, 96, 192))  # another width


def requires(*packages: str) -> pytest.MarkDecorator:
    """Skip where these OpenMMLab task packages do not import (the light stacks: torch and
    mmengine only), naming them and their extras."""
    missing = [TASK_PACKAGES[p] for p in packages if not is_available(p)]
    return pytest.mark.skipif(bool(missing), reason='needs ' + ', '.join(
        f'{info.distribution} (mmrest[{info.extra}])' for info in missing))
