"""Evaluate a checkpoint on the test split of a config.

    python tools/test.py configs/mask_rcnn_restv2_t_3x.py work_dirs/.../epoch_36.pth
        [--work-dir DIR] [--show-dir DIR] [--out results.pkl] [--tta] [--cfg-options ...]
"""
import argparse
import os
import sys
from typing import List, Optional

from mmengine.dist import is_main_process

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from mmrest.apis import close_distributed, exit_on_user_error, load_config, test  # noqa: E402
from mmrest.utils.cli import (  # noqa: E402
    add_runner_arguments,
    make_parser,
    parse_runner_arguments,
)


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser(__doc__)
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='where the evaluation log goes '
                        '(default: ./work_dirs/CONFIG_NAME)')
    parser.add_argument('--show-dir', help='write images with the predictions drawn here')
    parser.add_argument('--out', help='dump the raw predictions to this .pkl file')
    parser.add_argument('--tta', action='store_true',
                        help="test-time augmentation with the config's tta_model and "
                        'tta_pipeline (e.g. multi-scale + flip for the UperNet configs)')
    add_runner_arguments(parser, 'dist_test.sh')
    return parser


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    return parse_runner_arguments(build_parser(), argv)


@exit_on_user_error
def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    cfg = load_config(args.config, work_dir=args.work_dir, cfg_options=args.cfg_options,
                      launcher=args.launcher)
    metrics = test(cfg, args.checkpoint, show_dir=args.show_dir, out=args.out, tta=args.tta)
    if is_main_process():
        print({k: round(v, 4) if isinstance(v, float) else v for k, v in metrics.items()})
    close_distributed()
    return 0


if __name__ == '__main__':
    sys.exit(main())
