"""Convert any of the authors' released ResT / ResTv2 checkpoints into the layout of the mmrest
config it belongs to, which then loads it with ``strict=True``.

    python tools/convert_official.py restv2_tiny_224.pth checkpoints/restv2_t_in1k.pth
    python tools/convert_official.py upernet_restv2_tiny_512_160k_ade20k.pth OUT.pth \\
        --config configs/upernet_restv2_t_160k_ade20k.py
    python tools/convert_official.py model_final.pkl OUT.pth  # a detectron2 file

It recognises the family (ImageNet classifier, UperNet of mmsegmentation 0.x, Mask R-CNN or
RetinaNet of detectron2), version and size from the keys and shapes, prints the config the file
belongs to, every rename and what it drops and why; with --config it first checks the file
against that config. Detection and segmentation configs also load the authors' files without
conversion: ImageNet files through the backbone's init_cfg, UperNet files as they are
(load_from, tools/test.py).
"""
import argparse
import os
import sys
from typing import List, Optional

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from mmrest.apis import exit_on_user_error  # noqa: E402
from mmrest.apis.convert import convert_checkpoint, describe_conversion  # noqa: E402
from mmrest.utils.cli import make_parser  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser(__doc__)
    parser.add_argument('src', help="the authors' checkpoint, as downloaded")
    parser.add_argument('dst', help='where to write the converted checkpoint')
    parser.add_argument('--config', help='check the converted file against this config '
                        '(a path or mmrest::NAME) before writing it')
    return parser


@exit_on_user_error
def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    conversion = convert_checkpoint(args.src, args.dst, args.config)
    print('\n'.join(describe_conversion(conversion, args.src, args.dst, args.config)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
