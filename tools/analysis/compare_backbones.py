"""Params, FLOPs, latency and peak memory of ResT / ResTv2 backbones against Swin, ConvNeXt
and ResNet backbones at 224x224 and 1280x800, measured in one process with interleaved
rounds; writes a Markdown report. Whole detectors, segmentors and classifiers as the papers
measure them: tools/analysis/speed_suite.py.

    python tools/analysis/compare_backbones.py [--device cpu|cuda] [--amp] [--repeats 3]
        [--out docs/benchmarks.md] [--models ResTv2-T Swin-T ...]
"""
import argparse
import os.path as osp
import sys
import time
from typing import List, Optional

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
from mmrest.analysis.benchmark import device_name, software_versions  # noqa: E402
from mmrest.analysis.compare import BACKBONES, compare_backbones, format_markdown  # noqa: E402
from mmrest.utils.cli import parse_wh  # noqa: E402


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--models', nargs='+', choices=list(BACKBONES),
                        default=[name for name in BACKBONES if not name.endswith('-explicit')])
    parser.add_argument('--small', type=parse_wh, default=(224, 224), help='WxH')
    parser.add_argument('--small-batch', type=int, default=16)
    parser.add_argument('--large', type=parse_wh, default=(800, 1280), help='WxH')
    parser.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    parser.add_argument('--amp', action='store_true')
    parser.add_argument('--iters', type=int, default=2, help='timed calls per model per round')
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--repeats', type=int, default=3, help='interleaved rounds')
    parser.add_argument('--out', default=None, help='write the Markdown tables here')
    args = parser.parse_args(argv)
    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda: no GPU is available here')
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
    conditions = (f'Device: {device_name(dev)}; precision: '
                  f'{"AMP" if args.amp else "fp32"}; random weights; {args.repeats} interleaved '
                  f'rounds x {args.iters} calls after {args.warmup} warm-up; medians. '
                  + ', '.join(f'{k} {v}' for k, v in software_versions().items())
                  + f'. Took {time.time() - started:.0f} s.')
    command = 'python tools/analysis/compare_backbones.py ' + ' '.join(
        argv if argv is not None else sys.argv[1:])
    report = '\n\n'.join([f'Command: `{command.strip()}`', conditions] + sections) + '\n'
    if args.out:
        with open(args.out, 'w') as f:
            f.write(report)
        say(f'written: {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
