"""The README's demo: train Mask R-CNN + ResTv2 from scratch on a synthetic shapes dataset on
the CPU (offline, a few minutes) and compare its COCO bbox/segm mAP before and after.

    python tools/demo.py [--work-dir work_dirs/demo] [--data-root data/synthetic_coco]
        [--iters N] [--quick]

The stages and the summary live in :mod:`mmrest.apis.demo`.
"""
import argparse
import os
import sys
import warnings
from typing import Optional, Sequence

# OpenMP threads that spin while they wait for each other make training several times slower
# on a machine shared with other jobs; sleeping costs little when it is idle. libgomp reads
# this when torch loads it, hence before any import.
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
# mmengine imports pkg_resources, whose deprecation warning would open the demo's output.
warnings.filterwarnings('ignore', message='pkg_resources is deprecated', category=UserWarning)

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from mmrest.apis import USER_ERRORS  # noqa: E402
from mmrest.apis.demo import (  # noqa: E402
    DEFAULT_CONFIG,
    DEFAULT_WORK_DIR,
    QUICK_DATA,
    QUICK_ITERS,
    run_demo,
)
from mmrest.utils.cli import make_parser  # noqa: E402
from mmrest.utils.errors import exit_on_errors  # noqa: E402

__all__ = ['build_parser', 'main']


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser(
        'Train Mask R-CNN + ResTv2 from scratch on a synthetic shapes dataset, offline on the '
        'CPU in a few minutes, and compare its COCO mAP before and after.')
    parser.add_argument('--work-dir', default=DEFAULT_WORK_DIR,
                        help='checkpoints, logs and prediction images')
    parser.add_argument('--data-root',
                        help='synthetic dataset folder, generated if missing (default: '
                        'data/synthetic_coco; with --quick: data/synthetic_coco_quick)')
    parser.add_argument('--iters', type=int,
                        help="training iterations (default: the config's max_iters)")
    parser.add_argument('--quick', action='store_true',
                        help=f'smoke test: {QUICK_ITERS} iterations on {QUICK_DATA["num_train"]} '
                        'images, too short to learn anything')
    parser.add_argument('--config', default=DEFAULT_CONFIG,
                        help='demo config (default: mmrest::demo/mask_rcnn_restv2_synthetic.py)')
    return parser


# A data folder that holds someone else's files is refused (FileExistsError), not replaced.
@exit_on_errors((*USER_ERRORS, FileExistsError))
def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    summary = run_demo(work_dir=args.work_dir, data_root=args.data_root, iters=args.iters,
                       quick=args.quick, config=args.config)
    print('\n' + summary.format(), flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
