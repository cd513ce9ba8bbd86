"""Record, as figures for mmrest's tests, what the authors' released downstream checkpoints look
like and what their models compute (the generator: ``tools/dev/reference/``).

    python tools/dev/make_reference_outputs.py upernet --authors PATH/TO/ResT \\
        --mmseg0 PATH/TO/mmsegmentation-0.x --out tests/fixtures
    PYTHONPATH=DEPS python tools/dev/make_reference_outputs.py detectron2 \\
        --authors PATH/TO/ResT --detectron2 PATH/TO/detectron2 --out tests/fixtures
    python tools/dev/make_reference_outputs.py imagenet --authors PATH/TO/ResT \\
        --out tests/fixtures

``--out`` is where the files are written; mmrest's tests read them from ``tests/fixtures``.
``--authors`` is a checkout of the authors' repository (wofmanaf/ResT), ``--mmseg0`` one of
mmsegmentation 0.x (whose ``UPerHead`` / ``FCNHead`` the authors trained with), ``--detectron2``
one of detectron2 (not built: its compiled ops are not needed; DEPS holds fvcore, iopath, yacs,
omegaconf, tabulate, termcolor, portalocker and cloudpickle, e.g. ``pip install --target DEPS
--no-deps ...``). Their code is read from there at development time and never copied into
mmrest. The script needs torch and mmengine, mmcv 2.x (for ``ConvModule``, whose parameter
names are those of mmcv 1.x) for the UperNet files, but not mmrest; the few timm / mmcv 1.x /
mmseg 0.x imports those modules make are stubbed.

Every model is filled by the rule of ``tests/reference_weights.py`` and run in eval mode, on
inputs made by its ``reference_input`` (the JSON records their shape and seed; the images are
not stored). What each family records: :mod:`tools.dev.reference.imagenet`,
:mod:`tools.dev.reference.upernet`, :mod:`tools.dev.reference.detectron2`.
"""
import argparse
import os.path as osp
import sys
from typing import List, Optional

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
from tools.dev.reference.detectron2 import record_detectron2  # noqa: E402
from tools.dev.reference.imagenet import record_imagenet  # noqa: E402
from tools.dev.reference.upernet import record_upernet  # noqa: E402


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('family', choices=['upernet', 'detectron2', 'imagenet'],
                        help='which published files')
    parser.add_argument('--authors', required=True, help="checkout of the authors' ResT repo")
    parser.add_argument('--mmseg0', help='checkout of mmsegmentation 0.x (upernet)')
    parser.add_argument('--detectron2', help='checkout of detectron2 (detectron2)')
    parser.add_argument('--out', required=True,
                        help='output folder (the tests read tests/fixtures)')
    args = parser.parse_args(argv)
    needed = {'upernet': 'mmseg0', 'detectron2': 'detectron2'}.get(args.family)
    if needed is not None and getattr(args, needed) is None:
        parser.error(f'{args.family} needs --{needed}')
    if args.family == 'upernet':
        paths = record_upernet(args.authors, args.mmseg0, args.out)
    elif args.family == 'detectron2':
        paths = record_detectron2(args.authors, args.detectron2, args.out)
    else:
        paths = record_imagenet(args.authors, args.out)
    for path in paths:
        print(f'wrote {path} ({osp.getsize(path) / 1e6:.2f} MB)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
