"""Run an end-to-end ONNX file (export_onnx.py --end2end) on an image and draw the result,
with numpy, onnxruntime and OpenCV only: no torch, no OpenMMLab package.

    python tools/deploy/run_onnx.py model.onnx image.jpg --out result.png [--score-thr 0.3]

Detections are drawn as boxes with their class and score (and masks, tinted); a label map
as a colour per class blended over the image. The classes come from the file's metadata.
"""
import argparse
import json
import sys
from typing import Any, Dict, List, Optional

import numpy as np

INPUT_NAME = 'image'


class InputError(ValueError):
    """An image the file cannot take, a file that is not an end-to-end export."""


def load_session(path: str, threads: Optional[int] = None) -> Any:
    import onnxruntime as ort
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    options.log_severity_level = 3
    session = ort.InferenceSession(path, options, providers=['CPUExecutionProvider'])
    if [i.name for i in session.get_inputs()] != [INPUT_NAME]:
        raise InputError(f'{path} is not an end-to-end export (its input is not "image"; '
                         'export with tools/deploy/export_onnx.py --end2end)')
    return session


def metadata(session: Any) -> Dict[str, Any]:
    meta = session.get_modelmeta().custom_metadata_map
    return {'task': meta.get('mmrest.task', 'detection'),
            'classes': json.loads(meta.get('mmrest.classes', '[]'))}


def check_image(image: np.ndarray) -> np.ndarray:
    """The image as the file takes it: ``(H, W, 3)`` uint8 RGB, else a one-line error."""
    if image.dtype != np.uint8:
        raise InputError(f'the image must be uint8, got {image.dtype}')
    if image.ndim != 3 or image.shape[2] != 3:
        got = image.shape[2] if image.ndim == 3 else 1
        raise InputError(f'the image must have 3 channels (RGB), got {got} (shape '
                         f'{tuple(image.shape)}): convert it first, e.g. grey or RGBA to RGB')
    return np.ascontiguousarray(image)


def run(session: Any, image: np.ndarray) -> Dict[str, np.ndarray]:
    """The file's outputs (by name) for one ``(H, W, 3)`` uint8 RGB image."""
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, {INPUT_NAME: check_image(image)})))


def read_rgb(path: str) -> np.ndarray:
    import cv2
    image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise InputError(f'cannot read image {path!r}')
    if image.ndim == 3 and image.shape[2] == 3:
        image = image[:, :, ::-1]  # OpenCV reads BGR
    return check_image(image)


def palette(count: int) -> np.ndarray:
    rng = np.random.default_rng(1)
    return rng.integers(40, 256, (max(count, 1), 3), dtype=np.uint8)


def draw(image: np.ndarray, outputs: Dict[str, np.ndarray], classes: List[str],
         score_thr: float = 0.3) -> np.ndarray:
    """An RGB drawing of the results on ``image``."""
    import cv2
    canvas = image.copy()
    if 'label_map' in outputs:
        labels = outputs['label_map']
        colors = palette(max(len(classes), int(labels.max()) + 1))
        return (0.5 * canvas + 0.5 * colors[labels]).astype(np.uint8)
    keep = outputs['scores'] >= score_thr
    colors = palette(max(len(classes), int(outputs['labels'].max(initial=0)) + 1))
    if 'masks' in outputs:
        for mask, label in zip(outputs['masks'][keep], outputs['labels'][keep]):
            region = mask.astype(bool)
            canvas[region] = (0.5 * canvas[region] + 0.5 * colors[label]).astype(np.uint8)
    for box, score, label in zip(outputs['boxes'][keep], outputs['scores'][keep],
                                 outputs['labels'][keep]):
        x1, y1, x2, y2 = (int(round(float(v))) for v in box)
        color = tuple(int(c) for c in colors[label])
        cv2.rectangle(canvas, (x1, y1), (x2, y2), color, 2)
        name = classes[label] if label < len(classes) else str(int(label))
        cv2.putText(canvas, f'{name} {score:.2f}', (x1, max(y1 - 4, 10)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.4, color, 1, cv2.LINE_AA)
    return canvas


def summary(outputs: Dict[str, np.ndarray], classes: List[str], score_thr: float) -> str:
    if 'label_map' in outputs:
        present = np.unique(outputs['label_map'])
        names = [classes[i] if i < len(classes) else str(i) for i in present]
        return f'label map {outputs["label_map"].shape}: classes present {", ".join(names)}'
    kept = int((outputs['scores'] >= score_thr).sum())
    return (f'{len(outputs["scores"])} detections, {kept} with score >= {score_thr}' +
            (', with masks' if 'masks' in outputs else ''))


# It runs without torch and mmrest, so it cannot take mmrest.utils.cli's parser style: its help
# texts state their defaults themselves.
TORCH_FREE = True


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('model', help='ONNX file written by export_onnx.py --end2end')
    parser.add_argument('image', help='image file (read with OpenCV)')
    parser.add_argument('--out', default='result.png',
                        help='drawing to write (default: result.png)')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='draw detections with at least this score (default: 0.3)')
    parser.add_argument('--threads', type=int,
                        help="ONNX Runtime intra-op threads (default: ONNX Runtime's choice)")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    import cv2
    try:
        session = load_session(args.model, args.threads)
        image = read_rgb(args.image)
        info = metadata(session)
        outputs = run(session, image)
    except InputError as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    drawing = draw(image, outputs, info['classes'], args.score_thr)
    if not cv2.imwrite(args.out, np.ascontiguousarray(drawing[:, :, ::-1])):
        print(f'error: cannot write {args.out!r}', file=sys.stderr)
        return 2
    print(summary(outputs, info['classes'], args.score_thr))
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
