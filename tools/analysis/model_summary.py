"""Parameters and FLOPs of the whole model of configs (mmrest's and any mmdet / mmseg /
mmpretrain config), counted the same way for all: one image of the given size, the network
without post-processing (``mode='tensor'``), one multiply-add counted once, the attention
matrix products included.

    python tools/analysis/model_summary.py CONFIG [CONFIG ...] [--input 1280x800]
    python tools/analysis/model_summary.py mmrest::cascade_mask_rcnn_restv2_t_3x.py \
        mmdet::convnext/cascade-mask-rcnn_convnext-t-p4-w7_fpn_4conv1fc-giou_amp-ms-crop-3x_coco.py

Prints a Markdown table. Random weights (the backbone's pretrained file is not read).
"""
import argparse
import os.path as osp
import sys
from typing import List, Optional

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
from mmrest.analysis.complexity import ConfigSummary, summarize_config  # noqa: E402
from mmrest.apis import exit_on_user_error  # noqa: E402
from mmrest.utils.cli import make_parser, parse_wh  # noqa: E402
from mmrest.utils.markdown import markdown_table  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser(__doc__)
    parser.add_argument('configs', nargs='+', help='config paths or pkg::NAME')
    parser.add_argument('--input', type=parse_wh, default='1280x800', metavar='WxH',
                        help='input size (the papers count detectors at 1280x800)')
    return parser


@exit_on_user_error
def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    print('\n'.join(markdown_table(ConfigSummary.HEADER, [])))
    for config in args.configs:
        print(summarize_config(config, args.input).row(), flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
