"""Params, FLOPs, latency and peak memory of ResT / ResTv2 backbones against Swin, ConvNeXt
and ResNet backbones at 224x224 and 1280x800, measured in one process with interleaved
rounds; writes a Markdown report. Whole detectors, segmentors and classifiers as the papers
measure them: tools/analysis/speed_suite.py.

    python tools/analysis/compare_backbones.py [--device cpu|cuda] [--amp] [--repeats 3]
        [--out work_dirs/compare.md] [--models ResTv2-T Swin-T ...]
"""
import argparse
import os.path as osp
import sys
import time
from typing import List, Optional

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
from mmrest.analysis.compare import BACKBONES, compare_backbones, format_markdown  # noqa: E402
from mmrest.analysis.conditions import (  # noqa: E402
    command_line,
    conditions_sentence,
    device_name,
    software_versions,
    timing_protocol,
)
from mmrest.utils.cli import add_device_argument, check_device, make_parser, parse_wh  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser(__doc__)
    parser.add_argument('--models', nargs='+', choices=list(BACKBONES), metavar='NAME',
                        default=[name for name in BACKBONES if not name.endswith('-explicit')],
                        help=f'backbones to compare, of: {", ".join(BACKBONES)}')
    parser.add_argument('--small', type=parse_wh, default='224x224', metavar='WxH',
                        help='the small input size (batch --small-batch)')
    parser.add_argument('--small-batch', type=int, default=16, help='batch at the small size')
    parser.add_argument('--large', type=parse_wh, default='1280x800', metavar='WxH',
                        help='the large input size (batch 1)')
    add_device_argument(parser)
    parser.add_argument('--amp', action='store_true',
                        help='autocast: float16 on a GPU, bfloat16 on the CPU')
    parser.add_argument('--iters', type=int, default=2, help='timed calls per model per round')
    parser.add_argument('--warmup', type=int, default=1, help='untimed calls per model first')
    parser.add_argument('--repeats', type=int, default=3, help='interleaved rounds')
    parser.add_argument('--out', default=None, help='write the Markdown tables here')
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    check_device(parser, args.device)
    say = lambda msg: print(msg, flush=True)  # noqa: E731
    started = time.time()
    sections = []
    for size, batch in ((args.small, args.small_batch), (args.large, 1)):
        entries = compare_backbones(args.models, size, batch, args.device, args.iters,
                                    args.warmup, args.repeats, args.amp, progress=say)
        sections.append(format_markdown(
            f'Backbone forward, {size[1]}x{size[0]}, batch {batch}', entries, batch))
        say('\n' + sections[-1] + '\n')
    dev = torch.device(args.device)
    conditions = conditions_sentence(
        device_name(dev), software_versions(), f'precision: {"AMP" if args.amp else "fp32"}',
        'random weights', timing_protocol(args.repeats, args.iters, args.warmup), 'medians'
    ) + f' Took {time.time() - started:.0f} s.'
    command = command_line('tools/analysis/compare_backbones.py', argv)
    report = '\n\n'.join([f'Command: `{command.strip()}`', conditions] + sections) + '\n'
    if args.out:
        with open(args.out, 'w') as f:
            f.write(report)
        say(f'written: {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
