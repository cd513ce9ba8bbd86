"""Export a config's model (or its backbone) to ONNX with dynamic batch, height and width.

    python tools/deploy/export_onnx.py CONFIG [CHECKPOINT] --out model.onnx [--backbone-only]
        [--input 1344x800] [--static] [--opset 17] [--dynamo] [--verify] [--cfg-options ...]
    python tools/deploy/export_onnx.py CONFIG CHECKPOINT --end2end --out model.onnx [--verify]

By default detectors export their neck features and dense (RPN / bbox) head outputs,
segmentors their logits at 1/4 of the input; the input is the image batch after the data
preprocessor (normalised, RGB). ``--verify`` runs the file in ONNX Runtime at the export size
and at two others that are not multiples of 32, and fails (exit code 1) unless it matches
PyTorch.

``--end2end`` writes the whole model instead: one raw (height, width, 3) uint8 RGB image in,
with the resize, normalisation and padding inside the graph; boxes, scores, labels (and
masks) or a label map out, in standard ONNX operators (docs/deploy.md). ``--verify`` then
compares ONNX Runtime with the model's predict() on three images of sizes that are not
multiples of 32, on the graph's network input and from the raw image through the config's
own pipeline (tools/deploy/run_onnx.py runs the file without torch).
"""
import argparse
import dataclasses
import os.path as osp
import sys
from typing import List, Optional

import torch
from mmengine.config import DictAction

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
from mmrest.apis import exit_on_user_error  # noqa: E402
from mmrest.deploy import OnnxMismatchError, export_model, verification_sizes, verify_onnx  # noqa: E402
from mmrest.deploy.end2end import (  # noqa: E402
    DEFAULT_SIZES,
    FROM_RAW,
    STRICT,
    End2EndMismatchError,
    UnsupportedModelError,
    export_end2end,
    verification_images,
    verify_end2end,
)
from mmrest.utils.cli import make_parser, parse_wh  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser(__doc__)
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', nargs='?',
                        help='trained weights; without them the weights are random (enough '
                        'to check the export, not to deploy)')
    parser.add_argument('--out', default='model.onnx', help='ONNX file to write')
    parser.add_argument('--backbone-only', action='store_true',
                        help='export model.backbone alone (its stage outputs)')
    parser.add_argument('--input', type=parse_wh, metavar='WxH',
                        help="width x height traced with (default: the config's crop_size, "
                        'else 1344x800; 224x224 with --backbone-only)')
    parser.add_argument('--static', action='store_true',
                        help='fix height and width to --input (the batch stays dynamic)')
    parser.add_argument('--opset', type=int,
                        help='ONNX opset (default: 17; 18 with --dynamo, its minimum)')
    parser.add_argument('--dynamo', action='store_true',
                        help="torch.export-based exporter instead of the TorchScript tracer "
                        '(minutes instead of seconds)')
    parser.add_argument('--end2end', action='store_true',
                        help='export the whole detector / segmentor: raw image in, results '
                        'out (pre- and post-processing in the graph)')
    parser.add_argument('--verify', action='store_true',
                        help='compare ONNX Runtime with PyTorch at three sizes')
    parser.add_argument('--min-detections', type=int, default=STRICT.min_detections,
                        help='--end2end --verify: fewer detections per image fail (default: '
                        '%(default)s; a trained model may need --cfg-options '
                        'model.test_cfg.rcnn.score_thr=0 or model.test_cfg.score_thr=0)')
    parser.add_argument('--atol', type=float, default=1e-4,
                        help='--verify passes when max |ONNX - PyTorch| <= atol + rtol * '
                        'max |PyTorch| for every output (default: 1e-4)')
    parser.add_argument('--rtol', type=float, default=1e-4, help='see --atol (default: 1e-4)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='override config entries')
    return parser


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


@exit_on_user_error
def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    if args.checkpoint is not None and not osp.isfile(args.checkpoint):
        print(f'error: checkpoint not found: {args.checkpoint!r}', file=sys.stderr)
        return 2
    if args.checkpoint is None:
        print('warning: no checkpoint given: exporting randomly initialised weights',
              file=sys.stderr)
    if args.end2end:
        return export_and_verify_end2end(args)
    exported = export_model(args.config, args.checkpoint, args.out, args.input,
                            dynamic_hw=not args.static, opset=args.opset,
                            backbone_only=args.backbone_only, cfg_options=args.cfg_options,
                            dynamo=args.dynamo)
    h, w = exported.input_size
    shape = 'batch x 3 x height x width' if exported.dynamic_hw else f'batch x 3 x {h} x {w}'
    print(f'wrote {exported.path}: input ({shape}), outputs {", ".join(exported.output_names)}'
          f' (opset {exported.opset}, traced at {w}x{h} WxH)')
    if args.verify:
        sizes = verification_sizes(exported.input_size, exported.dynamic_hw)
        inputs = [torch.randn(1, 3, *size) for size in sizes]
        try:
            checks = verify_onnx(exported.path, exported.module, inputs, atol=args.atol,
                                 rtol=args.rtol)
        except OnnxMismatchError as error:
            print(f'verification FAILED: {error}', file=sys.stderr)
            return 1
        for check in checks:
            print(f'verified {check.summary()}')
    return 0


def export_and_verify_end2end(args: argparse.Namespace) -> int:
    if args.backbone_only or args.static or args.dynamo or args.input:
        print('error: --end2end takes none of --backbone-only, --static, --dynamo, --input',
              file=sys.stderr)
        return 2
    try:
        exported = export_end2end(args.config, args.checkpoint, args.out, args.opset,
                                  cfg_options=args.cfg_options)
    except (UnsupportedModelError, ValueError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    print(f'wrote {exported.path}: input image (height x width x 3, uint8 RGB), outputs '
          f'{", ".join(exported.output_names)} (opset {exported.opset}, {exported.task})')
    if args.verify:
        minimum = dict(min_detections=args.min_detections)
        try:
            results = verify_end2end(exported.path, exported.model, exported.cfg,
                                     verification_images(DEFAULT_SIZES), exported.task,
                                     strict=dataclasses.replace(STRICT, **minimum),
                                     from_raw=dataclasses.replace(FROM_RAW, **minimum))
        except End2EndMismatchError as error:
            print(f'verification FAILED: {error}', file=sys.stderr)
            return 1
        for result in results:
            print(f'verified {result.summary()}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
