"""The papers' speed table in one run: Mask R-CNN and UperNet FPS, ImageNet throughput, the
attention styles and Mask R-CNN training steps, ResT/ResTv2 against Swin-T, ConvNeXt-T and
ResNet-50 (and Cascade Mask R-CNN / Mask2Former FPS), each comparison interleaved in one
process. Writes speed.md, speed.json, speed_accuracy.png (and profile.md), updated as each part
ends.

    python tools/analysis/speed_suite.py --out work_dirs/speed [--device cuda|cpu] [--amp]
        [--quick] [--budget SECONDS] [--profile] [--only maskrcnn upernet imagenet
        attn_styles training cascade mask2former_coco mask2former_ade]
        [--models ResTv2-T Swin-T ...] [--warmup W] [--iters N] [--repeats R] [--round-seconds S]
    python tools/analysis/speed_suite.py --render work_dirs/speed/speed.json --out DIR

``--amp`` measures fp32 and mixed precision (float16 on a GPU, bfloat16 on the CPU) in one run.
``--quick`` runs every part at tiny sizes (a smoke test: the test suite runs it on the CPU).
``--budget`` plans the run to end within that many seconds: the papers' comparisons first, the
rest as time allows; speed.md says what was left out or shortened. ``--profile`` adds
torch.profiler tables of one inference of the ResTv2-T and Swin-T backbones and Mask R-CNNs.
``--render`` writes the tables of an earlier run's speed.json again, measuring nothing.
Random weights: speed only. The logic lives in :mod:`mmrest.analysis.speed_suite`.
"""
import argparse
import json
import os.path as osp
import sys
from pathlib import Path
from typing import List, Optional

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
from mmrest.analysis.conditions import command_line  # noqa: E402
from mmrest.analysis.speed_suite import (  # noqa: E402
    PARTS,
    Settings,
    SuiteReport,
    format_markdown,
    run_suite,
    write_report,
)
from mmrest.utils.cli import add_device_argument, check_device, make_parser  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser(__doc__)
    parser.add_argument('--out', required=True, type=Path,
                        help='folder for speed.md and speed.json')
    add_device_argument(parser)
    parser.add_argument('--amp', action='store_true',
                        help='also measure mixed precision (fp32 and AMP in one run)')
    parser.add_argument('--quick', action='store_true',
                        help='every part at tiny sizes, one short round each (smoke test)')
    parser.add_argument('--only', nargs='+', choices=list(PARTS), metavar='PART',
                        help=f'parts to run (default: all): {", ".join(PARTS)}')
    parser.add_argument('--models', nargs='+', metavar='NAME',
                        help='only these models in the parts that compare models (all but '
                        'attn_styles and training), e.g. ResTv2-T Swin-T')
    parser.add_argument('--warmup', type=int, help='untimed calls per model first')
    parser.add_argument('--iters', type=int, help='timed calls per model and round')
    parser.add_argument('--repeats', type=int, help='interleaved rounds')
    parser.add_argument('--round-seconds', type=float,
                        help='fewer than --iters calls for a model whose --iters calls would '
                        'take longer than this in a round (GPU default 0.5; 0: always --iters)')
    parser.add_argument('--cpu-batch', type=int, help='ImageNet batch on the CPU (default 16)')
    parser.add_argument('--budget', type=float, metavar='SECONDS',
                        help='finish within this many seconds (parts by priority, each within '
                        'a share of the time left; what was left out is said)')
    parser.add_argument('--profile', action='store_true',
                        help='also profile one inference per model and precision (profile.md)')
    parser.add_argument('--render', type=Path, metavar='SPEED_JSON',
                        help="write speed.md and speed.json of an earlier run's speed.json "
                        'to --out again; measures nothing')
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.render:
        try:
            report = SuiteReport.from_dict(json.loads(args.render.read_text()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            parser.error(f'--render {args.render}: not a speed.json of this suite ({err!r})')
        md, js = write_report(report, args.out)
        print(f'written: {md}, {js}')
        return 0
    overrides = {k: v for k, v in dict(warmup=args.warmup, iters=args.iters,
                                       repeats=args.repeats, cpu_batch=args.cpu_batch).items()
                 if v is not None}
    if any(v < (0 if k == 'warmup' else 1) for k, v in overrides.items()):
        parser.error('--iters, --repeats and --cpu-batch must be >= 1, --warmup >= 0')
    if args.budget is not None and args.budget <= 0:
        parser.error('--budget must be > 0 seconds')
    if args.round_seconds is not None:
        if args.round_seconds < 0:
            parser.error('--round-seconds must be >= 0')
        overrides['round_seconds'] = args.round_seconds or None
    check_device(parser, args.device)
    settings = Settings.for_device(args.device, quick=args.quick, amp=args.amp,
                                   models=args.models, **overrides)
    say = lambda message: print(message, flush=True)  # noqa: E731
    report = run_suite(settings, args.only, command_line('tools/analysis/speed_suite.py', argv),
                       say, budget=args.budget, profile=args.profile,
                       on_progress=lambda partial: write_report(partial, args.out))
    md, js = write_report(report, args.out)
    say('\n' + format_markdown(report))
    say(f'written: {md}, {js}')
    failed = [p.name for p in report.parts if p.error]
    if failed:
        say(f'parts that failed: {", ".join(failed)} (see {md})')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
