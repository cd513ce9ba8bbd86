"""Latency of end-to-end ONNX exports in ONNX Runtime against PyTorch predict() on the CPU.

    python tools/analysis/benchmark_onnx.py CONFIG [CONFIG ...] [--checkpoints CKPT ...]
        [--det-size 1280x800] [--seg-size 512x512] [--iters 5] [--warmup 2] [--repeats 3]
        [--threads N] [--json out.json]

Each config is exported end to end (export_onnx.py --end2end) to a temporary file, then its
ONNX Runtime session and its PyTorch model are timed interleaved in this process; prints a
markdown table of medians (min-max) for docs/benchmarks.md. Run it on a quiet machine.
"""
import argparse
import json
import os.path as osp
import sys
from typing import List, Optional

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
from mmrest.analysis.conditions import conditions_sentence, timing_protocol  # noqa: E402
from mmrest.apis import exit_on_user_error, load_config  # noqa: E402
from mmrest.deploy.end2end.benchmark import TABLE_HEADER, benchmark_end2end, format_row  # noqa: E402
from mmrest.utils.cli import make_parser, parse_wh  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser(__doc__)
    parser.add_argument('configs', nargs='+', help='detection / segmentation configs to export')
    parser.add_argument('--checkpoints', nargs='+', default=[],
                        help='weights, one per config in order (default: random weights)')
    parser.add_argument('--det-size', type=parse_wh, default='1280x800', metavar='WxH',
                        help='image size of the detectors')
    parser.add_argument('--seg-size', type=parse_wh, default='512x512', metavar='WxH',
                        help='image size of the segmentors')
    parser.add_argument('--iters', type=int, default=5, help='timed calls per round')
    parser.add_argument('--warmup', type=int, default=2, help='untimed calls before timing')
    parser.add_argument('--repeats', type=int, default=3, help='interleaved rounds')
    parser.add_argument('--threads', type=int,
                        help="torch and ONNX Runtime threads (default: torch's own)")
    parser.add_argument('--json', help='write every report here')
    return parser


@exit_on_user_error
def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.checkpoints and len(args.checkpoints) != len(args.configs):
        parser.error('give one checkpoint per config, or none')
    reports = []
    for i, config in enumerate(args.configs):
        cfg = load_config(config)
        size = args.seg_size if cfg.get('default_scope') == 'mmseg' else args.det_size
        checkpoint = args.checkpoints[i] if args.checkpoints else None
        reports.append(benchmark_end2end(
            cfg, osp.basename(config), checkpoint, size, args.iters, args.warmup,
            args.repeats, args.threads, progress=lambda msg: print(msg, flush=True)))
    print('\n' + conditions_sentence(reports[0]['device'], reports[0]['versions'],
                                     f'weights: {reports[0]["weights"]}',
                                     timing_protocol(args.repeats, args.iters, args.warmup)))
    print(TABLE_HEADER)
    for report in reports:
        print(format_row(report))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(reports, f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
