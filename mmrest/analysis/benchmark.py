"""Inference speed that can be trusted: warm-up, device synchronisation, repeats, peak memory,
and the conditions of the measurement travel with every number."""
import copy
import statistics
from dataclasses import asdict, dataclass
from typing import Callable, Dict, List, Optional, Tuple

import torch

from .conditions import device_name, format_versions, software_versions
from .model_inputs import make_data_samples
from .timed_model import build_timed_model, infer, inference_call
from .timing import Entry, interleaved_timing


def summarize(entry: Entry, batch_size: int) -> Dict[str, float]:
    """images/s of each round (mean, median, min, max), ms per image, peak memory."""
    ips = [batch_size * len(r) / sum(r) for r in entry.rounds]
    return dict(images_per_s_mean=statistics.mean(ips),
                images_per_s_median=statistics.median(ips),
                images_per_s_min=min(ips), images_per_s_max=max(ips),
                ms_per_image_median=entry.median_ms() / batch_size,
                peak_memory_mib=entry.peak_memory_mib)


@dataclass
class BenchmarkReport:
    config: str
    checkpoint: Optional[str]
    weights: str
    task: str
    device: str
    device_name: str
    precision: str
    input_size: Optional[Tuple[int, int]]
    batch_size: int
    iters: int
    warmup: int
    repeats: int
    fuse_conv_bn: bool
    cudnn_benchmark: bool
    data: str
    versions: Dict[str, str]
    results: Dict[str, float]
    images_per_s_per_repeat: List[float]

    def as_dict(self) -> dict:
        return asdict(self)

    def format(self) -> str:
        r = self.results
        size = f'{self.input_size[1]}x{self.input_size[0]}' if self.input_size else 'dataset'
        lines = [
            f'{self.config}: {r["images_per_s_mean"]:.2f} images/s mean, '
            f'{r["images_per_s_median"]:.2f} median (min {r["images_per_s_min"]:.2f}, max '
            f'{r["images_per_s_max"]:.2f}), {r["ms_per_image_median"]:.1f} ms/image, peak '
            f'memory {r["peak_memory_mib"]:.0f} MiB',
            f'  device {self.device_name}; {self.precision}; input {size} ({self.data}); '
            f'batch {self.batch_size}; {self.repeats} repeats x {self.iters} iters after '
            f'{self.warmup} warm-up; fuse_conv_bn={self.fuse_conv_bn}, '
            f'cudnn_benchmark={self.cudnn_benchmark}',
            '  ' + format_versions(self.versions),
            f'  weights: {self.weights}',
        ]
        return '\n'.join(lines)


def benchmark_config(cfg,
                     config_name: str,
                     checkpoint: Optional[str] = None,
                     device: str = 'cpu',
                     input_size: Tuple[int, int] = (800, 1280),
                     real_data: bool = False,
                     batch_size: int = 1,
                     iters: int = 10,
                     warmup: int = 3,
                     repeats: int = 3,
                     amp: bool = False,
                     fuse_conv_bn: bool = False,
                     cudnn_benchmark: bool = False,
                     progress: Optional[Callable[[str], None]] = print) -> BenchmarkReport:
    """Time inference (``mode='predict'``: the whole model with post-processing) of ``cfg``."""
    dev = torch.device(device)
    if dev.type == 'cuda':
        torch.backends.cudnn.benchmark = cudnn_benchmark
    if progress:
        progress(f'building {config_name} on {dev}')
    model, scope = build_timed_model(cfg, dev, checkpoint=checkpoint)
    if fuse_conv_bn:
        from mmcv.cnn import fuse_conv_bn as fuse
        from mmengine.model import revert_sync_batchnorm
        model = fuse(revert_sync_batchnorm(model))
    if real_data:
        from mmengine.runner import Runner

        from ..apis.checks import check_data_roots
        check_data_roots(cfg, ('test', ))
        loader_cfg = copy.deepcopy(cfg.test_dataloader)
        loader_cfg.batch_size = batch_size
        loader = Runner.build_dataloader(loader_cfg)
        batches = iter(loader)

        def step():
            nonlocal batches
            try:
                data = next(batches)
            except StopIteration:
                batches = iter(loader)
                data = next(batches)
            data = model.data_preprocessor(data, False)  # as test_step does
            infer(model, data['inputs'], data['data_samples'], amp)
    else:
        inputs = torch.randn(batch_size, 3, *input_size, device=dev)
        step = inference_call(model, inputs, make_data_samples(scope, batch_size, input_size),
                              amp)

    if progress:
        progress(f'timing: {warmup} warm-up, then {repeats} x {iters} iterations')
    entry = interleaved_timing({config_name: step}, dev, iters, warmup, repeats,
                               progress)[config_name]
    if not entry.ok:
        raise RuntimeError(f'{config_name} failed: {entry.error}')
    precision = 'fp32' if not amp else ('AMP fp16' if dev.type == 'cuda' else 'AMP bf16')
    return BenchmarkReport(
        config=config_name, checkpoint=checkpoint,
        weights=checkpoint or 'RANDOM weights (no checkpoint given): speed only, predictions '
        'are meaningless; detectors keep their 100 best detections (score threshold 0)',
        task=scope, device=str(dev), device_name=device_name(dev),
        precision=precision, input_size=None if real_data else tuple(input_size),
        batch_size=batch_size, iters=iters, warmup=warmup, repeats=repeats,
        fuse_conv_bn=fuse_conv_bn, cudnn_benchmark=cudnn_benchmark,
        data='test split of the config' if real_data else 'random tensor',
        versions=software_versions(), results=summarize(entry, batch_size),
        images_per_s_per_repeat=[batch_size * len(r) / sum(r) for r in entry.rounds])
