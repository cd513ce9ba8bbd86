"""Small helpers shared by the command-line tools: one parser style (defaults shown, plain-text
descriptions), one ``--device`` default, one WxH size syntax, the runner options."""
import argparse
import os
import re
from typing import Optional, Sequence, Tuple

DEVICES = ('cuda', 'cpu')


def has_default(action: argparse.Action) -> bool:
    """Whether an option has a default worth printing: not None, not a switch that is off, not
    an empty collection."""
    default = action.default
    return not (default is None or default is False or default == argparse.SUPPRESS
                or (isinstance(default, (list, tuple, dict)) and not default))


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows the default of every option that has one (:func:`has_default`), unless its help
    already says it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ''
        if not has_default(action) or 'default' in text:
            return text
        return super()._get_help_string(action)


def plain_text(docstring: str) -> str:
    """The first paragraph of a docstring without reStructuredText markup (``code``,
    :role:`target`, a closing ``::``), as a help text prints it."""
    text = (docstring or '').strip().split('\n\n')[0]
    text = re.sub(r':[a-z]+:`~?([^`]+)`', r'\1', text)
    text = text.replace('``', '')
    return re.sub(r'::$', ':', text)


def make_parser(docstring: str, **kwargs) -> argparse.ArgumentParser:
    """The parser every tool builds: the first paragraph of its docstring as the description,
    defaults shown in ``--help``."""
    return argparse.ArgumentParser(description=plain_text(docstring),
                                   formatter_class=HelpFormatter, **kwargs)


def default_device() -> str:
    """``cuda`` when a GPU is visible, else ``cpu``: the one ``--device`` default of the tools."""
    import torch
    return 'cuda' if torch.cuda.is_available() else 'cpu'


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    """``--device cuda|cpu``, by default cuda when a GPU is visible, else cpu."""
    parser.add_argument('--device', choices=DEVICES, default=default_device(),
                        help='where to run: cuda or cpu (default: cuda if a GPU is visible, '
                        'else cpu; here %(default)s)')


def check_device(parser: Optional[argparse.ArgumentParser], device: str) -> None:
    """The one check for ``--device cuda`` (or ``cuda:N``) on a machine without a GPU: the
    parser's error (exit 2) in a tool, a ``RuntimeError`` in a library call (no parser)."""
    if device.startswith('cuda'):
        import torch
        if not torch.cuda.is_available():
            message = '--device cuda: no GPU is visible here (use --device cpu)'
            if parser is None:
                raise RuntimeError(message)
            parser.error(message)


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
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0,
                        help='set by torch.distributed.launch (torchrun sets LOCAL_RANK)')


def parse_runner_arguments(parser: argparse.ArgumentParser,
                           argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args
