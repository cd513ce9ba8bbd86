"""Build every ResT / ResTv2 variant, run it on an image-sized tensor and print output shapes,
parameters and FLOPs.

    python tools/analysis/backbone_summary.py [--input 224x224 1199x800] [--variants ResTV2:tiny]
"""
import argparse
import sys
from typing import List, Optional

import mmrest
from mmrest.analysis import summarize_backbone
from mmrest.utils.cli import make_parser, parse_wh

ALL_VARIANTS = [f'ResT:{a}' for a in mmrest.ResT.arch_zoo] + \
    [f'ResTV2:{a}' for a in mmrest.ResTV2.arch_zoo]


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser(__doc__)
    parser.add_argument('--input', nargs='+', type=parse_wh, default=[(224, 224)],
                        metavar='WxH', help='input sizes (default: 224x224; any size works, '
                        'not only multiples of 32)')
    parser.add_argument('--variants', nargs='+', default=ALL_VARIANTS,
                        help=f'TYPE:ARCH entries (default: all: {" ".join(ALL_VARIANTS)})')
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)

    classes = {'ResT': mmrest.ResT, 'ResTV2': mmrest.ResTV2}
    print(f'{"variant":<14} {"input (WxH)":>9} {"params":>9} {"FLOPs":>9}  stage outputs (CxHxW)')
    for variant in args.variants:
        type_name, _, arch = variant.partition(':')
        if type_name not in classes:
            parser.error(f'unknown backbone type {type_name!r} in {variant!r}; use ResT or '
                         'ResTV2')
        for size in args.input:
            model = classes[type_name](arch=arch)
            print(summarize_backbone(f'{type_name}-{arch}', model, size).row(), flush=True)
    print('(backbone only, with the four output LayerNorms; FLOPs count one multiply-add once)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
