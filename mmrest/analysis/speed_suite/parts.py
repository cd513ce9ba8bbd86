"""The parts of the speed suite: each builds its models, times them interleaved per precision
and returns a :class:`~.records.PartResult`; :data:`PARTS` names them."""
import copy
import gc
from typing import Callable, Dict, Optional

import torch

from ...models.backbones.rest import ATTN_STYLES
from ...utils.build import build_model, quiet_logger
from ..attn_styles import compare_attention_styles
from ..complexity import count_parameters
from ..model_inputs import make_data_samples, num_classes_of
from ..timed_model import build_timed_model, infer, inference_call, load_timed_config
from ..timing import (
    Entry,
    PeakMemory,
    Say,
    call_in_fresh_process,
    interleaved_timing,
    short_error,
    synchronize,
)
from .catalogue import (
    ATTN_STYLE_CONFIG,
    CASCADE_MODELS,
    IMAGENET_MODELS,
    MASK2FORMER_ADE_MODELS,
    MASK2FORMER_COCO_MODELS,
    MASK_RCNN_MODELS,
    TRAINING_CONFIG,
    UPERNET_MODELS,
)
from .records import Measurement, PartResult, Settings, Size

MAX_GPU_BATCH = 256


def _named(models: Dict[str, str], settings: Settings) -> Dict[str, str]:
    if settings.models is None:
        return dict(models)
    return {k: v for k, v in models.items() if k in settings.models}


def _build(name: str, path: str, settings: Settings, say: Say):
    say(f'  building {name} ({path})')
    return build_timed_model(path, settings.device, settings.quick)


def _is_oom(error: BaseException) -> bool:
    return isinstance(error, torch.cuda.OutOfMemoryError) or 'out of memory' in str(error)


def _time(calls: Dict[str, Callable[[], object]], settings: Settings, device: torch.device,
          say: Say) -> Dict[str, Entry]:
    return interleaved_timing(calls, device, settings.iters, settings.warmup, settings.repeats,
                              progress=say, round_seconds=settings.round_seconds,
                              deadline=settings.deadline)


def _measurement(entry: Entry, precision: str, batch: int, size: Size, params: int,
                 device: torch.device, **extra) -> Measurement:
    return Measurement(entry.name, precision, batch, size, params, entry.times,
                       entry.peak_memory_mib if device.type == 'cuda' else None,
                       error=entry.error, **extra)


def _inference_part(part: str, title: str, models: Dict[str, str], size: Size,
                    settings: Settings, say: Say, mode: str = 'predict',
                    batch_for: Optional[Callable] = None) -> PartResult:
    """Build every model of ``models``, then time them interleaved per precision."""
    device = torch.device(settings.device)
    result = PartResult(part, title)
    built: Dict[str, tuple] = {}
    for name, path in _named(models, settings).items():
        try:
            built[name] = _build(name, path, settings, say)
        except Exception as error:  # noqa: BLE001
            for precision in settings.precisions():
                result.measurements.append(Measurement(name, precision, 1, size,
                                                       error=short_error(error)))
            say(f'  {name}: could not be built ({short_error(error)})')
    for precision in settings.precisions():
        amp = precision == 'amp'
        calls, batches = {}, {}
        for name, (model, scope) in built.items():
            try:
                batch = batch_for(model, scope, amp) if batch_for else 1
            except Exception as error:  # noqa: BLE001 (reported; the others are timed)
                result.measurements.append(Measurement(name, precision, 0, size,
                                                       count_parameters(model),
                                                       error=short_error(error)))
                continue
            batches[name] = batch
            inputs = torch.randn(batch, 3, *size, device=device)
            samples = make_data_samples(scope, batch, size)
            calls[name] = inference_call(model, inputs, samples, amp, mode)
        say(f'[{part}] timing {len(calls)} models, {precision}, {size[1]}x{size[0]}')
        for name, entry in _time(calls, settings, device, say).items():
            result.measurements.append(_measurement(entry, precision, batches[name], size,
                                                    count_parameters(built[name][0]), device))
        del calls
        if device.type == 'cuda':
            torch.cuda.empty_cache()
    del built
    gc.collect()
    return result


def largest_batch(model: torch.nn.Module, size: Size, device: torch.device, amp: bool,
                  limit: int = MAX_GPU_BATCH) -> int:
    """The largest power-of-two batch up to ``limit`` whose forward fits in GPU memory."""
    batch = limit
    while batch >= 1:
        try:
            infer(model, torch.randn(batch, 3, *size, device=device), amp=amp, mode='tensor')
            synchronize(device)
            return batch
        except Exception as error:  # noqa: BLE001
            if not _is_oom(error):
                raise
            torch.cuda.empty_cache()
            batch //= 2
    raise RuntimeError('not even one image fits in GPU memory')


DETECTION_NOTE = ('Post-processing included, with the score threshold at 0: every model '
                  'keeps its 100 best detections (random weights would otherwise leave a '
                  'different number to each model).')


def fps_part(name: str, title: str, models: Dict[str, str], size_setting: str,
             note: Optional[str] = None) -> Callable[[Settings, Say], PartResult]:
    """A part that times the inference of ``models`` at ``Settings.<size_setting>``, batch 1."""

    def part(settings: Settings, say: Say) -> PartResult:
        size = getattr(settings, size_setting)
        result = _inference_part(name, f'{title} inference, {size[1]}x{size[0]}, batch 1 '
                                 '(FPS)', models, size, settings, say)
        if note:
            result.notes.append(note)
        return result
    return part


def part_imagenet(settings: Settings, say: Say) -> PartResult:
    device = torch.device(settings.device)
    size = settings.imagenet_size

    def batch_for(model, scope, amp):
        if device.type != 'cuda':
            return settings.cpu_batch
        return largest_batch(model, size, device, amp)

    rule = ('largest power of two up to 256 that fits' if device.type == 'cuda' else
            f'{settings.cpu_batch} on the CPU')
    result = _inference_part('imagenet',
                             f'ImageNet classification throughput, {size[1]}x{size[0]} '
                             f'(images/s; batch: {rule})', IMAGENET_MODELS, size, settings,
                             say, mode='tensor', batch_for=batch_for)
    return result


def part_attn_styles(settings: Settings, say: Say) -> PartResult:
    size = settings.maskrcnn_size
    result = PartResult('attn_styles', f'Attention styles, Mask R-CNN ResTv2-T, {size[1]}x'
                        f'{size[0]}, batch 1 (ms per image; FLOPs by operator class)')
    cfg = load_timed_config(ATTN_STYLE_CONFIG, settings.quick)
    for precision in settings.precisions():
        styles = compare_attention_styles(
            cfg, ATTN_STYLES, size, settings.device, iters=settings.iters, warmup=settings.warmup,
            repeats=settings.repeats, amp=precision == 'amp', count_flops=precision == 'fp32',
            progress=say, round_seconds=settings.round_seconds, deadline=settings.deadline)
        for style in styles:
            result.measurements.append(Measurement(
                style.style, precision, 1, size, style.params,
                [t / 1000 for t in style.forward_ms], style.peak_memory_mib,
                flops=dict(style.flops), error=style.error))
    result.notes.append(DETECTION_NOTE)
    result.notes.append('FLOPs count one multiply-add once, the attention matrix products '
                        '(fused kernel included) as matmul, for the tensor-mode forward.')
    return result


def _training_setup(config: str, with_cp: bool, device: torch.device, amp: bool, size: Size,
                    batch: int, quick: bool = False):
    """A Mask R-CNN in training mode, its optimizer wrapper (AMP: mmengine's
    AmpOptimWrapper) and a synthetic batch as a dataloader gives it."""
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import DefaultScope
    cfg = load_timed_config(config, quick, cfg_options={'model.backbone.with_cp': with_cp})
    model, scope = build_model(cfg, None, device)
    model.train()
    optim_cfg = copy.deepcopy(cfg.optim_wrapper)
    if amp:
        optim_cfg.type = 'AmpOptimWrapper'
        optim_cfg.setdefault('loss_scale', 'dynamic')
    # quiet: the layer-wise constructor logs every parameter's options at INFO
    with DefaultScope.overwrite_default_scope(scope), quiet_logger():
        optim_wrapper = build_optim_wrapper(model, optim_cfg)
    gen = torch.Generator().manual_seed(0)
    data = dict(inputs=[torch.randint(0, 256, (3, *size), dtype=torch.uint8, generator=gen)
                        for _ in range(batch)],
                data_samples=make_data_samples(scope, batch, size, with_targets=True,
                                               num_classes=num_classes_of(model)))
    return model, optim_wrapper, data


def _training_memory(config: str, with_cp: bool, device: str, amp: bool, size: Size,
                     batch: int, quick: bool = False) -> float:
    """Peak memory (MiB) of two training steps in this (fresh) process: everything the step
    holds, the model and optimizer state included."""
    dev = torch.device(device)
    memory = PeakMemory(dev, absolute=True)
    with memory.measure():
        model, optim_wrapper, data = _training_setup(config, with_cp, dev, amp, size, batch,
                                                     quick)
        for _ in range(2):
            model.train_step(copy.deepcopy(data), optim_wrapper)
        synchronize(dev)
    return memory.peak_mib


def part_training(settings: Settings, say: Say) -> PartResult:
    device = torch.device(settings.device)
    size, batch = settings.training_size, settings.training_batch
    result = PartResult('training', f'Mask R-CNN ResTv2-T training step, batch {batch} at '
                        f'{size[1]}x{size[0]} (ms per step; peak memory of a fresh process)')
    for precision in settings.precisions():
        amp = precision == 'amp'
        variants = {'with_cp=False': False, 'with_cp=True': True}
        if amp and device.type != 'cuda':
            for name in variants:
                result.measurements.append(Measurement(
                    name, precision, batch, size,
                    error='mmengine AMP training (AmpOptimWrapper) needs a GPU'))
            continue
        calls, params = {}, {}
        for name, with_cp in variants.items():
            say(f'  building {name}')
            model, optim_wrapper, data = _training_setup(TRAINING_CONFIG, with_cp, device,
                                                         amp, size, batch, settings.quick)
            params[name] = count_parameters(model)

            def step(model=model, optim_wrapper=optim_wrapper, data=data):
                model.train_step(copy.deepcopy(data), optim_wrapper)
            calls[name] = step
        say(f'[training] timing {precision}')
        entries = _time(calls, settings, device, say)
        del calls
        gc.collect()
        for name, with_cp in variants.items():
            measurement = _measurement(entries[name], precision, batch, size, params[name],
                                       device)
            if measurement.ok:
                say(f'  peak memory of {name}, {precision}, in a fresh process')
                measurement.peak_memory_mib = call_in_fresh_process(
                    _training_memory, TRAINING_CONFIG, with_cp, settings.device, amp, size,
                    batch, settings.quick)
            result.measurements.append(measurement)
    result.notes.append('Synthetic batch with random boxes and masks through the model\'s '
                        'data preprocessor; one step = forward, backward and the AdamW '
                        'update of the config\'s optimizer wrapper.')
    return result


PARTS: Dict[str, Callable[[Settings, Say], PartResult]] = {
    'maskrcnn': fps_part('maskrcnn', 'Mask R-CNN', MASK_RCNN_MODELS, 'maskrcnn_size',
                         DETECTION_NOTE),
    'upernet': fps_part('upernet', 'UperNet', UPERNET_MODELS, 'upernet_size'),
    'imagenet': part_imagenet,
    'attn_styles': part_attn_styles,
    'training': part_training,
    'cascade': fps_part('cascade', 'Cascade Mask R-CNN', CASCADE_MODELS, 'maskrcnn_size',
                        DETECTION_NOTE),
    'mask2former_coco': fps_part('mask2former_coco', 'Mask2Former (COCO instances)',
                                 MASK2FORMER_COCO_MODELS, 'maskrcnn_size'),
    'mask2former_ade': fps_part('mask2former_ade', 'Mask2Former (ADE20K)',
                                MASK2FORMER_ADE_MODELS, 'upernet_size'),
}
