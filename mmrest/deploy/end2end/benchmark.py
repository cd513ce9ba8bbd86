"""Latency of an end-to-end ONNX file in ONNX Runtime against the model's PyTorch predict().

Both run in one process, interleaved (:func:`mmrest.analysis.timing.interleaved_timing`),
on the same image size with the same number of threads:

* PyTorch: ``model(inputs, data_samples, mode='predict')`` on the normalised input, as
  :func:`mmrest.analysis.benchmark.benchmark_config` times it (the test pipeline's resize and
  the data preprocessor are not timed);
* ONNX Runtime: the whole file from the raw uint8 image (resize, normalisation and padding
  included). At 1280x800 (detection, resize to fit 1333x800) and 512x512 (segmentation,
  2048x512) the resize keeps the size, so both run the network at the same resolution.

Random weights are the default (say so in any table): detectors then keep every detection
(score threshold 0: :func:`~mmrest.analysis.timed_model.load_timed_config`), so both sides do
the full post-processing of ``max_per_img`` detections.
"""
import copy
import os
import tempfile
from typing import Any, Callable, Dict, Optional, Tuple

import torch

from ...analysis.conditions import device_name, software_versions
from ...analysis.model_inputs import make_data_samples
from ...analysis.timed_model import inference_call, load_timed_config
from ...analysis.timing import interleaved_timing
from ...utils.markdown import markdown_row, markdown_table
from ..onnx import onnx_session
from .export import IMAGE_INPUT, export_end2end
from .verify import verification_images


def benchmark_end2end(cfg: Any,
                      name: str,
                      checkpoint: Optional[str] = None,
                      size: Tuple[int, int] = (800, 1280),
                      iters: int = 5,
                      warmup: int = 2,
                      repeats: int = 3,
                      threads: Optional[int] = None,
                      progress: Optional[Callable[[str], None]] = print) -> Dict[str, Any]:
    """Export ``cfg`` end to end (to a temporary file), then time it against PyTorch at
    ``size`` (h, w); returns medians, spreads and the conditions."""
    from ...utils.build import build_model
    cfg = load_timed_config(cfg) if checkpoint is None else copy.deepcopy(cfg)
    if threads:
        torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as tmp:
        if progress:
            progress(f'exporting {name}')
        exported = export_end2end(cfg, checkpoint, os.path.join(tmp, 'model.onnx'))
        session = onnx_session(exported.path, torch.get_num_threads())
    model, scope = build_model(cfg, checkpoint)
    image = verification_images([size])[0]
    feed = {IMAGE_INPUT: image}
    inputs = exported.module.preprocess(torch.from_numpy(image))[0]
    samples = make_data_samples(scope, 1, tuple(inputs.shape[2:]))
    calls = {'PyTorch predict()': inference_call(model, inputs, samples),
             'ONNX Runtime': lambda: session.run(None, feed)}
    entries = interleaved_timing(calls, torch.device('cpu'), iters, warmup, repeats, progress)
    results = {}
    for label, entry in entries.items():
        if not entry.ok:
            raise RuntimeError(f'{name}: {label} failed: {entry.error}')
        times = sorted(1000 * t for t in entry.times)
        results[label] = dict(median_ms=entry.median_ms(), min_ms=times[0], max_ms=times[-1])
    import onnxruntime
    versions = dict(software_versions(), onnxruntime=onnxruntime.__version__)
    return dict(config=name, size=size, device=device_name(torch.device('cpu')),
                threads=torch.get_num_threads(), iters=iters, repeats=repeats, warmup=warmup,
                weights=checkpoint or 'random (score threshold 0)', versions=versions,
                results=results)


def format_row(report: Dict[str, Any]) -> str:
    """A markdown table row: config, size, PyTorch and ONNX Runtime medians (min-max)."""
    h, w = report['size']
    cells = [report['config'], f'{w}x{h}']
    for label in ('PyTorch predict()', 'ONNX Runtime'):
        r = report['results'][label]
        cells.append(f'{r["median_ms"]:.0f} ({r["min_ms"]:.0f}-{r["max_ms"]:.0f})')
    torch_ms = report['results']['PyTorch predict()']['median_ms']
    cells.append(f'{torch_ms / report["results"]["ONNX Runtime"]["median_ms"]:.2f}x')
    return markdown_row(cells)


TABLE_HEADER = '\n'.join(markdown_table(
    ['config', 'image (WxH)', 'PyTorch predict() ms, median (min-max)',
     'ONNX Runtime ms, median (min-max)', 'speed-up'], []))
