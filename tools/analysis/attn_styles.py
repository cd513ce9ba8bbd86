"""Compare global, Win, CWin and HWin attention for a config: parameters, FLOPs by operator
class (attention matrix products included), padding overhead, and measured time per image.

    python tools/analysis/attn_styles.py configs/mask_rcnn_restv2_t_1x.py \
        [--styles global win cwin hwin] [--input 1280x800] [--device cpu|cuda] [--iters N] \
        [--repeats R] [--amp] [--train] [--out-dir work_dirs/attn_styles]
"""
import argparse
import json
import os
import os.path as osp
import sys
from typing import List, Optional

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
from mmrest.analysis.attn_styles import (  # noqa: E402
    STYLES,
    compare_attention_styles,
    format_table,
    results_as_dicts,
    write_chart,
    write_csv,
)
from mmrest.apis import exit_on_user_error, load_config  # noqa: E402
from mmrest.utils.cli import add_device_argument, check_device, make_parser, parse_wh  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser(__doc__)
    parser.add_argument('config', help='a ResT / ResTV2 config (path or mmrest::NAME)')
    parser.add_argument('--styles', nargs='+', default=list(STYLES), choices=STYLES,
                        help='attention styles to compare')
    parser.add_argument('--input', type=parse_wh, default='1280x800', metavar='WxH',
                        help='input size, as in the paper')
    parser.add_argument('--window-size', type=int, nargs=4, default=None,
                        help='window sizes per stage in tokens (default: the config\'s, '
                        'else 64 32 16 8)')
    add_device_argument(parser)
    parser.add_argument('--iters', type=int, default=3, help='timed runs per style and round')
    parser.add_argument('--warmup', type=int, default=1, help='untimed runs first')
    parser.add_argument('--repeats', type=int, default=1,
                        help='interleaved rounds (every style in turn in each)')
    parser.add_argument('--amp', action='store_true',
                        help='autocast: float16 on a GPU, bfloat16 on the CPU')
    parser.add_argument('--train', action='store_true', help='also time training steps')
    parser.add_argument('--out-dir', default='work_dirs/attn_styles',
                        help='where the CSV, JSON and PNG chart go')
    return parser


@exit_on_user_error
def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.iters < 1 or args.repeats < 1 or args.warmup < 0:
        parser.error('--iters and --repeats must be >= 1 and --warmup >= 0')
    check_device(parser, args.device)
    cfg = load_config(args.config)
    if cfg.model.get('backbone', {}).get('type') not in ('ResTV2', 'ResT', 'mmrest.ResTV2',
                                                          'mmrest.ResT'):
        parser.error('the config\'s model.backbone is not a ResT / ResTV2 backbone')
    results = compare_attention_styles(
        cfg, args.styles, args.input, args.device, args.iters, args.warmup, args.train,
        args.window_size, repeats=args.repeats, amp=args.amp,
        progress=lambda msg: print(msg, flush=True))
    h, w = args.input
    title = f'{osp.basename(args.config)} at {w}x{h}, {args.device}'
    print(f'\n{title} (FLOPs: one multiply-add counted once; pad: extra attended tokens)')
    print(format_table(results))
    os.makedirs(args.out_dir, exist_ok=True)
    stem = osp.join(args.out_dir, osp.splitext(osp.basename(args.config))[0])
    write_csv(results, stem + '.csv')
    write_chart(results, stem + '.png', title)
    with open(stem + '.json', 'w') as f:
        json.dump(dict(config=args.config, input_hw=[h, w], device=args.device,
                       results=results_as_dicts(results)), f, indent=2)
    print(f'\nwritten: {stem}.csv, {stem}.png, {stem}.json')
    return 0


if __name__ == '__main__':
    sys.exit(main())
