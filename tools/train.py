"""Train a detector, segmentor or classifier from an mmrest (or any mm*) config.

    python tools/train.py configs/mask_rcnn_restv2_t_3x.py [--work-dir DIR] [--amp] [--resume]
        [--cfg-options model.backbone.init_cfg.checkpoint=checkpoints/restv2_tiny_224.pth]
"""
import argparse
import os
import sys
from typing import List, Optional

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from mmrest.apis import close_distributed, exit_on_user_error, load_config, train  # noqa: E402
from mmrest.utils.cli import (  # noqa: E402
    add_runner_arguments,
    make_parser,
    parse_runner_arguments,
)


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser(__doc__)
    parser.add_argument('config', help='config file')
    parser.add_argument('--work-dir', help='where logs and checkpoints go '
                        '(default: ./work_dirs/CONFIG_NAME)')
    parser.add_argument('--amp', action='store_true',
                        help='automatic mixed precision (float16; needs a GPU)')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from this checkpoint, or (no value) from the latest one '
                        'in the work dir')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the learning rate to the actual total batch size')
    add_runner_arguments(parser, 'dist_train.sh')
    return parser


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    return parse_runner_arguments(build_parser(), argv)


@exit_on_user_error
def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    cfg = load_config(args.config, work_dir=args.work_dir, cfg_options=args.cfg_options,
                      amp=args.amp, resume=args.resume, launcher=args.launcher,
                      auto_scale_lr=args.auto_scale_lr)
    train(cfg)
    close_distributed()
    return 0


if __name__ == '__main__':
    sys.exit(main())
