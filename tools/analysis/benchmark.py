"""Inference speed (images/s) of a detection, segmentation or classification config.

    python tools/analysis/benchmark.py CONFIG [CHECKPOINT] [--device cuda|cpu]
        [--input 1280x800 | --real-data] [--batch-size B] [--iters N] [--warmup W]
        [--repeats R] [--amp] [--fuse-conv-bn] [--cudnn-benchmark] [--json out.json]

Every result is printed with its conditions (device, precision, input, batch, versions).
"""
import argparse
import json
import os.path as osp
import sys
from typing import List, Optional

from mmengine.config import DictAction

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
from mmrest.analysis.benchmark import benchmark_config  # noqa: E402
from mmrest.apis import exit_on_user_error, load_config  # noqa: E402
from mmrest.utils.cli import add_device_argument, check_device, make_parser, parse_wh  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser(__doc__)
    parser.add_argument('config', help='config file (path or pkg::NAME)')
    parser.add_argument('checkpoint', nargs='?', help='weights (default: random, said so)')
    add_device_argument(parser)
    source = parser.add_mutually_exclusive_group()
    source.add_argument('--input', type=parse_wh, default=None, metavar='WxH',
                        help='random input of WxH (default 1280x800; 224x224 for mmpretrain)')
    source.add_argument('--real-data', action='store_true',
                        help="images from the config's test split (through its pipeline)")
    parser.add_argument('--batch-size', type=int, default=1, help='images per call')
    parser.add_argument('--iters', type=int, default=20, help='timed iterations per repeat')
    parser.add_argument('--warmup', type=int, default=5, help='untimed iterations first')
    parser.add_argument('--repeats', type=int, default=3,
                        help='timed repeats; the median is reported')
    parser.add_argument('--amp', action='store_true',
                        help='mixed precision (fp16 on GPU, bf16 on CPU)')
    parser.add_argument('--fuse-conv-bn', action='store_true',
                        help='fold BatchNorms into the preceding convs first')
    parser.add_argument('--cudnn-benchmark', action='store_true',
                        help='set torch.backends.cudnn.benchmark')
    parser.add_argument('--json', help='write the report (results and conditions) here')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='override config entries, as in tools/train.py')
    return parser


@exit_on_user_error
def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if min(args.batch_size, args.iters, args.repeats) < 1 or args.warmup < 0:
        parser.error('--batch-size, --iters and --repeats must be >= 1, --warmup >= 0')
    check_device(parser, args.device)
    if args.checkpoint and not osp.isfile(args.checkpoint):
        parser.error(f'checkpoint not found: {args.checkpoint}')
    cfg = load_config(args.config, cfg_options=args.cfg_options)
    size = args.input or ((224, 224) if cfg.get('default_scope') == 'mmpretrain' else
                          (800, 1280))
    report = benchmark_config(
        cfg, args.config, args.checkpoint, args.device, size, args.real_data,
        args.batch_size, args.iters, args.warmup, args.repeats, args.amp,
        args.fuse_conv_bn, args.cudnn_benchmark, progress=lambda msg: print(msg, flush=True))
    print()
    print(report.format())
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(report.as_dict(), f, indent=2)
        print(f'written: {args.json}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
