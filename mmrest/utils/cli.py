"""Small helpers shared by the command-line tools."""
import argparse
import os
from typing import Optional, Sequence, Tuple


def parse_wh(text: str) -> Tuple[int, int]:
    """'1280x800' (width x height, as OpenMMLab tools write it) -> (800, 1280) = (H, W); one
    number is a square ('256' -> (256, 256))."""
    try:
        sizes = [int(v) for v in text.lower().split('x')]
    except ValueError:
        sizes = []
    if len(sizes) == 1:
        sizes *= 2
    if len(sizes) != 2:
        raise argparse.ArgumentTypeError(f'expected WxH, e.g. 1280x800, or one number for a '
                                         f'square, got {text!r}')
    w, h = sizes
    if w < 1 or h < 1:
        raise argparse.ArgumentTypeError(f'sizes must be positive, got {text!r}')
    return h, w


def add_runner_arguments(parser: argparse.ArgumentParser, launcher_script: str) -> None:
    """The options tools/train.py and tools/test.py share: ``--cfg-options``, ``--launcher``
    and the ``--local-rank`` that torch.distributed.launch passes (torchrun sets
    ``LOCAL_RANK``; :func:`parse_runner_arguments` keeps both working)."""
    from mmengine.config import DictAction
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='override config entries, e.g. train_cfg.max_epochs=12')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help=f'job launcher ({launcher_script} sets pytorch)')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def parse_runner_arguments(parser: argparse.ArgumentParser,
                           argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args
