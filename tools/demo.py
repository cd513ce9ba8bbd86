"""The README's demo: train Mask R-CNN + ResTv2 from scratch on a synthetic shapes dataset on
the CPU (offline, a few minutes) and compare its COCO bbox/segm mAP before and after.

    python tools/demo.py [--work-dir work_dirs/demo] [--data-root data/synthetic_coco]
        [--iters N] [--quick]

The logic lives in :mod:`mmrest.apis.demo`.
"""
import os
import sys
import warnings

# OpenMP threads that spin while they wait for each other make training several times slower
# on a machine shared with other jobs; sleeping costs little when it is idle. libgomp reads
# this when torch loads it, hence before any import.
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
# mmengine imports pkg_resources, whose deprecation warning would open the demo's output.
warnings.filterwarnings('ignore', message='pkg_resources is deprecated', category=UserWarning)

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from mmrest.apis.demo import build_parser, main  # noqa: E402

__all__ = ['build_parser', 'main']

if __name__ == '__main__':
    sys.exit(main())
