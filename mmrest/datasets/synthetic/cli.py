"""Command line of the synthetic writers: ``python -m mmrest.datasets.synthetic coco|ade ROOT``."""
import json
from typing import Optional, Sequence

from ...utils.cli import make_parser, parse_wh
from ...utils.errors import exit_on_errors
from .ade import make_synthetic_ade
from .coco import make_synthetic_coco
from .info import DEFAULT_CLASSES, SUPPORTED_SHAPES


@exit_on_errors((ValueError, FileExistsError))
def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m mmrest.datasets.synthetic coco|ade ROOT [options]``; returns the exit code
    (2 for bad arguments or an existing set, printed as ``error: ...``)."""
    parser = make_parser(
        'Write a small synthetic shapes dataset (COCO instances or ADE20K-style semantic '
        'segmentation) for offline demos and tests.', prog='python -m mmrest.datasets.synthetic')
    parser.add_argument('kind', choices=('coco', 'ade'), help='dataset layout to write')
    parser.add_argument('root', help='output folder')
    parser.add_argument('--num-train', type=int, default=100, help='training images')
    parser.add_argument('--num-val', type=int, default=20, help='validation images')
    parser.add_argument('--size', type=parse_wh, default='320x256', metavar='WxH',
                        help='image size, or one number for a square')
    parser.add_argument('--seed', type=int, default=0, help='random seed')
    parser.add_argument('--classes', default=','.join(DEFAULT_CLASSES),
                        help=f'comma-separated shapes from {",".join(SUPPORTED_SHAPES)} '
                        f'(default {",".join(DEFAULT_CLASSES)})')
    parser.add_argument('--max-objects', type=int, default=4, help='objects per image, at most')
    parser.add_argument('--img-ext', choices=('.jpg', '.png'), default='.jpg',
                        help='image file type')
    parser.add_argument('--no-background-class', action='store_true',
                        help='ade only: label the background 0 ("other", ignored)')
    parser.add_argument('--overwrite', action='store_true', help='replace an earlier set')
    parser.add_argument('--json', action='store_true', help='print the description as JSON')
    args = parser.parse_args(argv)

    kwargs = dict(num_train=args.num_train, num_val=args.num_val, image_size=args.size,
                  seed=args.seed, classes=[c.strip() for c in args.classes.split(',') if c.strip()],
                  num_objects=(1, args.max_objects), img_ext=args.img_ext,
                  overwrite=args.overwrite)
    if args.kind == 'coco':
        if args.no_background_class:
            parser.error('--no-background-class applies to ade only')
        info = make_synthetic_coco(args.root, **kwargs)
    else:
        info = make_synthetic_ade(args.root, background_class=not args.no_background_class,
                                  **kwargs)
    print(json.dumps(info.to_dict(), indent=2) if args.json else info.summary())
    return 0
