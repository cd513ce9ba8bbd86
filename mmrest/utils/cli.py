"""Small helpers shared by the command-line tools."""
import argparse
from typing import Tuple


def parse_wh(text: str) -> Tuple[int, int]:
    """'1280x800' (width x height, as OpenMMLab tools write it) -> (800, 1280) = (H, W)."""
    try:
        w, h = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected WxH, e.g. 1280x800, got {text!r}')
    if w < 1 or h < 1:
        raise argparse.ArgumentTypeError(f'sizes must be positive, got {text!r}')
    return h, w
