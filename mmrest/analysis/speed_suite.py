"""The papers' speed protocol in one run (``tools/analysis/speed_suite.py``).

Parts (``--only`` picks some):

- ``maskrcnn``: Mask R-CNN inference FPS at 1280x800, batch 1 (``mode='predict'``, post-processing
  included): ResTv2-T/S/B, Swin-T, ConvNeXt-T (mmpretrain's backbone in mmdet's Mask R-CNN, as
  mmdet's ConvNeXt configs do), ResNet-50.
- ``upernet``: UperNet FPS at 512x512: ResTv2-T/S/B, Swin-T, ConvNeXt-T.
- ``imagenet``: classification throughput at 224 (logits, ``mode='tensor'``) with the largest
  batch up to 256 that fits on a GPU (a fixed batch on the CPU): ResTv2-T/S/B/L,
  ResT-Lite/S/B/L, Swin-T, ConvNeXt-T.
- ``attn_styles``: Mask R-CNN ResTv2-T at 1280x800 with global / win / cwin / hwin attention:
  ms per image and FLOPs by operator class (ResTv2 paper, Table 4).
- ``training``: Mask R-CNN ResTv2-T training steps, batch 2 at 1333x800: step time and peak
  memory, with and without activation checkpointing (``with_cp``).
- ``cascade``, ``mask2former_coco``, ``mask2former_ade``: the recipes the papers do not have,
  ResTv2-T/S/B against the peers mmdet / mmseg ship configs for (Cascade Mask R-CNN at
  1280x800 against ConvNeXt-T and ResNet-50; Mask2Former at 1280x800 on COCO and 512x512 on
  ADE20K against Swin-T and ResNet-50).

Every comparison is interleaved in one process (each model in turn, every round), with warm-up
and device synchronisation; random weights throughout (speed does not depend on them; the
predictions are meaningless). ``amp=True`` measures every part in fp32 and with autocast
(float16 on a GPU, bfloat16 on the CPU, where a model whose operators lack bfloat16 kernels is
reported as failing). One part failing is reported and the others still run.

With a time budget the parts run in :data:`BUDGET_ORDER` (the papers' comparisons first), each
with a share of what is left: timing stops after the round that passes a part's share, and the
last parts are left out when the time left cannot give them a useful share; the report says
which.
``profile=True`` adds :mod:`mmrest.analysis.profile`'s tables. Beside the tables the report
writes ``speed_accuracy.png``: measured speed against the papers' accuracy.
"""
import copy
import dataclasses
import gc
import json
import math
import os
import statistics
import time
import traceback
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch

from ..apis import build_model, quiet_logger
from ..models.backbones.rest import ATTN_STYLES
from ..utils.cli import check_device
from ..utils.markdown import markdown_table
from . import paper
from .complexity import count_parameters
from .conditions import (
    conditions_sentence,
    device_name,
    machine_state,
    software_versions,
    timing_protocol,
)
from .model_inputs import make_data_samples, num_classes_of
from .timed_model import (
    QUICK_PROPOSALS,  # noqa: F401 (public here)
    build_timed_model,
    infer,
    inference_call,
    load_timed_config,
)
from .timing import (
    Entry,
    PeakMemory,
    call_in_fresh_process,
    interleaved_timing,
    short_error,
    synchronize,
)

Say = Callable[[str], None]
Size = Tuple[int, int]  # (H, W)

# name -> config; ResTv2 and mmrest's own configs first, then the peers the papers compare with.
MASK_RCNN_MODELS: Dict[str, str] = {
    'ResTv2-T': 'mmrest::mask_rcnn_restv2_t_3x.py',
    'ResTv2-S': 'mmrest::mask_rcnn_restv2_s_3x.py',
    'ResTv2-B': 'mmrest::mask_rcnn_restv2_b_3x.py',
    'Swin-T': 'mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_ms-crop-3x_coco.py',
    'ConvNeXt-T': 'mmdet::convnext/mask-rcnn_convnext-t-p4-w7_fpn_amp-ms-crop-3x_coco.py',
    'ResNet-50': 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py',
}
UPERNET_MODELS: Dict[str, str] = {
    'ResTv2-T': 'mmrest::upernet_restv2_t_160k_ade20k.py',
    'ResTv2-S': 'mmrest::upernet_restv2_s_160k_ade20k.py',
    'ResTv2-B': 'mmrest::upernet_restv2_b_160k_ade20k.py',
    'Swin-T': 'mmseg::swin/swin-tiny-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-512x512.py',
    'ConvNeXt-T': 'mmseg::convnext/convnext-tiny_upernet_8xb2-amp-160k_ade20k-512x512.py',
}
IMAGENET_MODELS: Dict[str, str] = {
    'ResTv2-T': 'mmrest::imagenet/restv2_t_in1k.py',
    'ResTv2-S': 'mmrest::imagenet/restv2_s_in1k.py',
    'ResTv2-B': 'mmrest::imagenet/restv2_b_in1k.py',
    'ResTv2-L': 'mmrest::imagenet/restv2_l_in1k.py',
    'ResT-Lite': 'mmrest::imagenet/rest_lite_in1k.py',
    'ResT-S': 'mmrest::imagenet/rest_s_in1k.py',
    'ResT-B': 'mmrest::imagenet/rest_b_in1k.py',
    'ResT-L': 'mmrest::imagenet/rest_l_in1k.py',
    'Swin-T': 'mmpretrain::swin_transformer/swin-tiny_16xb64_in1k.py',
    'ConvNeXt-T': 'mmpretrain::convnext/convnext-tiny_32xb128_in1k.py',
}
# Not in the papers: the recipes researchers compare backbones with today (mmdet / mmseg).
CASCADE_MODELS: Dict[str, str] = {
    'ResTv2-T': 'mmrest::cascade_mask_rcnn_restv2_t_3x.py',
    'ResTv2-S': 'mmrest::cascade_mask_rcnn_restv2_s_3x.py',
    'ResTv2-B': 'mmrest::cascade_mask_rcnn_restv2_b_3x.py',
    'ConvNeXt-T': 'mmdet::convnext/cascade-mask-rcnn_convnext-t-p4-w7_fpn_4conv1fc-giou_amp-'
                  'ms-crop-3x_coco.py',
    'ResNet-50': 'mmdet::cascade_rcnn/cascade-mask-rcnn_r50_fpn_1x_coco.py',
}
MASK2FORMER_COCO_MODELS: Dict[str, str] = {
    'ResTv2-T': 'mmrest::mask2former_restv2_t_lsj_50e_coco.py',
    'ResTv2-S': 'mmrest::mask2former_restv2_s_lsj_50e_coco.py',
    'ResTv2-B': 'mmrest::mask2former_restv2_b_lsj_50e_coco.py',
    'Swin-T': 'mmdet::mask2former/mask2former_swin-t-p4-w7-224_8xb2-lsj-50e_coco.py',
    'ResNet-50': 'mmdet::mask2former/mask2former_r50_8xb2-lsj-50e_coco.py',
}
MASK2FORMER_ADE_MODELS: Dict[str, str] = {
    'ResTv2-T': 'mmrest::mask2former_restv2_t_160k_ade20k.py',
    'ResTv2-S': 'mmrest::mask2former_restv2_s_160k_ade20k.py',
    'ResTv2-B': 'mmrest::mask2former_restv2_b_160k_ade20k.py',
    'Swin-T': 'mmseg::mask2former/mask2former_swin-t_8xb2-160k_ade20k-512x512.py',
    'ResNet-50': 'mmseg::mask2former/mask2former_r50_8xb2-160k_ade20k-512x512.py',
}
ATTN_STYLE_CONFIG = 'mmrest::mask_rcnn_restv2_t_1x.py'
TRAINING_CONFIG = 'mmrest::mask_rcnn_restv2_t_3x.py'
PEERS = ('Swin-T', 'ConvNeXt-T')  # the ratio columns
MAX_GPU_BATCH = 256


@dataclass
class Settings:
    """What a run measures and how long."""
    device: str = 'cuda'
    amp: bool = False  # fp32 and AMP
    quick: bool = False  # every part at tiny sizes: a smoke test
    warmup: int = 10
    iters: int = 20  # timed calls per model and round, at most
    round_seconds: Optional[float] = None  # fewer calls for models slower than this per round
    repeats: int = 5  # interleaved rounds
    cpu_batch: int = 16  # ImageNet batch on the CPU (no search for the largest)
    maskrcnn_size: Size = (800, 1280)
    upernet_size: Size = (512, 512)
    imagenet_size: Size = (224, 224)
    training_size: Size = (800, 1333)
    training_batch: int = 2
    models: Optional[Sequence[str]] = None  # restrict every part to these names
    # set by a budgeted run for one part: no timing round starts after this perf_counter
    # value, and only this precision is measured
    deadline: Optional[float] = None
    only_precision: Optional[str] = None

    @classmethod
    def for_device(cls, device: str, quick: bool = False, **overrides) -> 'Settings':
        """Defaults that finish in minutes: many short calls on a GPU, few long ones on the
        CPU; ``quick`` shrinks every size (ImageNet stays at 224: mmpretrain's Swin-T needs
        its 7x7 windows at stride 32) and the detectors' proposal counts (QUICK_PROPOSALS)."""
        if quick:
            base = dict(warmup=1, iters=1, repeats=2, cpu_batch=2, maskrcnn_size=(96, 128),
                        upernet_size=(64, 64), imagenet_size=(224, 224),
                        training_size=(96, 128), training_batch=2)
        elif device.startswith('cuda'):
            # at most ~0.5 s per model and round: a batch of 256 or a training step gets one
            # to a few calls, a Mask R-CNN image the full 20, and a full run with --amp (84
            # model-precision pairs) stays within minutes
            base = dict(warmup=5, iters=20, repeats=5, round_seconds=0.5)
        else:
            base = dict(warmup=1, iters=1, repeats=3)
        base.update(overrides)
        return cls(device=device, quick=quick, **base)

    def precisions(self) -> List[str]:
        if self.only_precision is not None:
            return [self.only_precision]
        return ['fp32', 'amp'] if self.amp else ['fp32']

    def amp_dtype(self) -> str:
        return 'float16' if self.device.startswith('cuda') else 'bfloat16'


@dataclass
class Measurement:
    """One model (or variant) in one precision."""
    model: str
    precision: str
    batch_size: int
    input_hw: Size
    params: int = 0
    times_s: List[float] = field(default_factory=list)  # per call (one batch)
    peak_memory_mib: Optional[float] = None
    flops: Dict[str, int] = field(default_factory=dict)
    error: Optional[str] = None

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.times_s)

    def ms_per_image(self) -> float:
        return 1000 * statistics.median(self.times_s) / self.batch_size

    def spread_ms(self) -> Tuple[float, float]:
        return (1000 * min(self.times_s) / self.batch_size,
                1000 * max(self.times_s) / self.batch_size)

    def images_per_s(self) -> float:
        return 1000 / self.ms_per_image()

    def as_dict(self) -> dict:
        out = asdict(self)
        if self.ok:
            out.update(ms_per_image_median=self.ms_per_image(), spread_ms=self.spread_ms(),
                       images_per_s=self.images_per_s())
        return out


@dataclass
class PartResult:
    name: str
    title: str
    measurements: List[Measurement] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)
    error: Optional[str] = None
    seconds: float = 0.0


# ------------------------------------------------------------------------------------- helpers
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


# --------------------------------------------------------------------------------------- parts
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
    from .attn_styles import compare_attention_styles
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
PAPER_FIGURES = {
    'maskrcnn': (paper.MASK_RCNN_FPS, 'FPS'),
    'upernet': (paper.UPERNET_FPS, 'FPS'),
    'imagenet': (paper.IMAGENET_THROUGHPUT, 'images/s'),
}


# --------------------------------------------------------------------------------------- suite
# A budgeted run's order, the papers' comparisons first: (part, precision or None for every
# precision of the run, weight). Before each part the time left is shared, by weight, among it
# and as many of the parts after it as get at least MIN_SHARE_SECONDS per unit of weight; the
# last ones are left out first (and may come back if earlier parts end early).
BUDGET_ORDER: List[Tuple[str, Optional[str], float]] = [
    ('maskrcnn', None, 3.0), ('imagenet', None, 2.5), ('upernet', None, 2.0),
    ('profile', None, 1.5), ('attn_styles', 'fp32', 1.5), ('attn_styles', 'amp', 1.0),
    ('mask2former_ade', None, 1.0), ('mask2former_coco', None, 1.5), ('cascade', None, 1.5),
    ('training', None, 2.0),
]
MIN_SHARE_SECONDS = 4.0


@dataclass
class SuiteReport:
    conditions: dict
    parts: List[PartResult]
    profiles: List[dict] = field(default_factory=list)  # mmrest.analysis.profile.Profile

    def as_dict(self) -> dict:
        return dict(conditions=self.conditions, parts={
            p.name: dict(title=p.title, error=p.error, seconds=round(p.seconds, 1),
                         notes=p.notes, measurements=[m.as_dict() for m in p.measurements])
            for p in self.parts}, profiles=self.profiles)

    @classmethod
    def from_dict(cls, data: dict) -> 'SuiteReport':
        """The report a ``speed.json`` holds (to render its tables again)."""
        names = {f.name for f in fields(Measurement)}
        parts = []
        for name, part in data['parts'].items():
            measurements = [Measurement(**{k: v for k, v in m.items() if k in names})
                            for m in part['measurements']]
            for m in measurements:
                m.input_hw = tuple(m.input_hw)
            parts.append(PartResult(name, part['title'], measurements, part['notes'],
                                    part['error'], part['seconds']))
        return cls(data['conditions'], parts, data.get('profiles', []))

    def part(self, name: str) -> Optional[PartResult]:
        return next((p for p in self.parts if p.name == name), None)


def conditions(settings: Settings, parts: Sequence[str], command: str) -> dict:
    device = torch.device(settings.device)
    cond = dict(
        command=command, date=time.strftime('%Y-%m-%d %H:%M'),
        device=settings.device, device_name=device_name(device),
        precisions=[p if p == 'fp32' else f'AMP ({settings.amp_dtype()} autocast)'
                    for p in settings.precisions()],
        weights='random (speed only)', parts=list(parts), quick=settings.quick,
        warmup=settings.warmup, iters=settings.iters, repeats=settings.repeats,
        round_seconds=settings.round_seconds,
        settings={k: v for k, v in asdict(settings).items()
                  if k not in ('models', 'deadline', 'only_precision')},
        versions=software_versions())
    cond.update(machine_state(device))
    return cond


def _record_budget(report: SuiteReport, budget: float, used: float,
                   left_out: List[str]) -> None:
    report.conditions['budget'] = dict(
        seconds=budget, used=round(used, 1), left_out=list(left_out),
        shortened={p.name: [n for n in p.notes if n.startswith('Shortened')]
                   for p in report.parts if any(n.startswith('Shortened') for n in p.notes)})


def _run_part(name: str, settings: Settings, say: Say) -> PartResult:
    start = time.perf_counter()
    shortened: List[str] = []

    def noting(message: str) -> None:
        if message.strip().startswith('time budget:'):
            shortened.append(message.strip())
        say(message)
    try:
        result = PARTS[name](settings, noting)
    except Exception:  # noqa: BLE001 (reported; the other parts still run)
        result = PartResult(name, name, error=traceback.format_exc())
        say(f'part {name} FAILED:\n{result.error}')
    which = f' ({settings.only_precision})' if settings.only_precision else ''
    for message in dict.fromkeys(shortened):  # once per message, in order
        times = shortened.count(message)
        result.notes.append(f'Shortened by the time budget{which}: '
                            f'{message[len("time budget: "):]}'
                            + (f' ({times} timings)' if times > 1 else '') + '.')
    result.seconds = time.perf_counter() - start
    return result


def _merge(report: SuiteReport, result: PartResult) -> None:
    """Add a part's result; a second precision of the same part joins the first."""
    earlier = report.part(result.name)
    if earlier is None:
        report.parts.append(result)
        return
    earlier.measurements += result.measurements
    earlier.notes += [n for n in result.notes if n not in earlier.notes]
    earlier.seconds += result.seconds
    earlier.error = earlier.error or result.error


def run_suite(settings: Settings, parts: Optional[Sequence[str]] = None,
              command: str = '', say: Say = print, budget: Optional[float] = None,
              profile: bool = False,
              on_progress: Optional[Callable[[SuiteReport], None]] = None) -> SuiteReport:
    """Run ``parts`` (default: all) and return their results; a part that raises is
    recorded with its traceback and the next one runs. ``budget`` (seconds): the papers'
    comparisons first, each part within a share of the time left (module docstring).
    ``profile``: the profile tables too. ``on_progress`` gets the report after every part
    (to write what is finished)."""
    parts = list(parts or PARTS)
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        raise ValueError(f'unknown parts {unknown}; choose from {", ".join(PARTS)}')
    check_device(None, settings.device)
    if settings.device.startswith('cuda'):
        torch.backends.cudnn.benchmark = True
    report = SuiteReport(conditions(settings, parts, command), [])
    tasks = [(name, precision, weight) for name, precision, weight in BUDGET_ORDER
             if (name in parts or (name == 'profile' and profile))
             and (precision is None or precision in settings.precisions())]
    if budget is None:  # the order asked for, every precision of a part at once
        tasks = [(name, None, 1.0) for name in parts] + ([('profile', None, 1.0)]
                                                          if profile else [])
    start, left_out = time.perf_counter(), []
    for i, (name, precision, weight) in enumerate(tasks):
        label = name + (f' ({precision})' if precision else '')
        task_settings = dataclasses.replace(settings, only_precision=precision)
        if budget is not None:
            remaining = budget - (time.perf_counter() - start)
            planned = 0.0  # the weight of this part and those after it that still fit
            for _, _, w in tasks[i:]:
                if planned + w > remaining / MIN_SHARE_SECONDS:
                    break
                planned += w
            if not planned:
                left_out.append(label)
                say(f'\n== {label}: left out, {max(remaining, 0):.0f} s of the budget left')
                continue
            share = remaining * weight / planned
            task_settings.deadline = time.perf_counter() + share
            say(f'\n== {label} ({share:.0f} s of {remaining:.0f} s left)')
        else:
            say(f'\n== {label}')
        if name == 'profile':
            part_start = time.perf_counter()
            report.profiles = _profile(task_settings, say)
            say(f'== profile done in {time.perf_counter() - part_start:.0f} s')
        else:
            result = _run_part(name, task_settings, say)
            say(f'== {label} done in {result.seconds:.0f} s')
            _merge(report, result)
        gc.collect()
        if budget is not None:  # also in each partial report: a run cut short states it
            _record_budget(report, budget, time.perf_counter() - start, left_out)
        if on_progress:
            on_progress(report)
    if budget is not None:
        _record_budget(report, budget, time.perf_counter() - start, left_out)
    if not settings.device.startswith('cuda'):
        report.conditions['load_average_at_end'] = round(os.getloadavg()[0], 2)
    if on_progress:
        on_progress(report)
    return report


def _profile(settings: Settings, say: Say) -> List[dict]:
    from .profile import as_dicts, profile_models
    size = settings.maskrcnn_size
    say(f'[profile] one inference per model and precision at {size[1]}x{size[0]}')
    return as_dicts(profile_models(settings.device, settings.precisions(), size,
                                   quick=settings.quick, say=say))


# ------------------------------------------------------------------------------------- reports
def _ratio(value: Optional[float], reference: Optional[float]) -> str:
    if value is None or reference is None or not reference or math.isnan(value):
        return '-'
    return f'{value / reference:.2f}x'


def _failed_row(m: Measurement, width: int, first: Sequence[str]) -> List[str]:
    cells = list(first) + [f'failed: {m.error}']
    return cells + ['-'] * (width - len(cells))


def _millions(count: int, digits: int) -> str:
    return f'{count / 1e6:.{digits}f}M' if count else '-'  # 0: not built


def _memory(m: Measurement) -> str:
    return '-' if m.peak_memory_mib is None else f'{m.peak_memory_mib:.0f} MiB'


def _speed_table(part: PartResult, precision: str) -> List[str]:
    """Rows with throughput and its ratio to each peer, measured and in the paper."""
    figures, unit = PAPER_FIGURES.get(part.name, ({}, 'FPS'))
    rows = [m for m in part.measurements if m.precision == precision]
    measured = {m.model: m.images_per_s() for m in rows if m.ok}
    header = ['model', 'params', 'batch', 'ms / image (median)', 'spread (min-max)', unit]
    for peer in PEERS:
        header += [f'vs {peer}', f'paper vs {peer}']
    header.append('peak memory')
    cells = []
    for m in rows:
        first = [m.model, _millions(m.params, 1), str(m.batch_size or '-')]
        if not m.ok:
            cells.append(_failed_row(m, len(header), first))
            continue
        low, high = m.spread_ms()
        row = first + [f'{m.ms_per_image():.2f}', f'{low:.2f}-{high:.2f}',
                       f'{m.images_per_s():.2f}']
        for peer in PEERS:
            row += [_ratio(measured.get(m.model), measured.get(peer)),
                    _ratio(figures.get(m.model), figures.get(peer))]
        cells.append(row + [_memory(m)])
    return markdown_table(header, cells, drop_empty_columns=True)


def _attn_table(part: PartResult, precision: str) -> List[str]:
    rows = [m for m in part.measurements if m.precision == precision]
    glob = next((m for m in rows if m.model == 'global' and m.ok), None)
    classes = ('conv', 'linear', 'matmul', 'others')
    header = ['style', 'params', 'FLOPs', *classes, 'ms / image (median)', 'spread',
              'vs global', 'paper ms/iter', 'paper vs global', 'paper FLOPs']
    cells = []
    for m in rows:
        if not m.ok:
            cells.append(_failed_row(m, len(header), [m.model]))
            continue
        flops = [m.flops.get(c, 0) / 1e9 for c in classes] if m.flops else []
        paper_flops = paper.ATTN_STYLE_FLOPS_G.get(m.model, {})
        paper_ms = paper.ATTN_STYLE_MS.get(m.model)
        low, high = m.spread_ms()
        cells.append(
            [m.model, _millions(m.params, 2), f'{sum(flops):.1f}G' if flops else '-']
            + ([f'{f:.2f}G' for f in flops] if flops else ['-'] * 4)
            + [f'{m.ms_per_image():.1f}', f'{low:.1f}-{high:.1f}',
               _ratio(m.ms_per_image(), glob.ms_per_image() if glob else None),
               '-' if paper_ms is None else f'{paper_ms:.1f}',
               _ratio(paper_ms, paper.ATTN_STYLE_MS['global']),
               f'{sum(paper_flops.values()):.1f}G' if paper_flops else '-'])
    return markdown_table(header, cells, drop_empty_columns=True)


def _training_table(part: PartResult, precision: str) -> List[str]:
    rows = [m for m in part.measurements if m.precision == precision]
    header = ['variant', 'params', 'ms / step (median)', 'spread (min-max)', 'images/s',
              'peak memory']
    cells = []
    for m in rows:
        first = [m.model, _millions(m.params, 2)]
        if not m.ok:
            cells.append(_failed_row(m, len(header), first))
            continue
        step = [1000 * t for t in m.times_s]
        cells.append(first + [f'{statistics.median(step):.0f}',
                              f'{min(step):.0f}-{max(step):.0f}',
                              f'{m.batch_size * 1000 / statistics.median(step):.2f}',
                              _memory(m)])
    return markdown_table(header, cells, drop_empty_columns=True)


TABLES = {'attn_styles': _attn_table, 'training': _training_table}


def _images_per_s(report: SuiteReport, part: str, model: str,
                  precision: str) -> Optional[float]:
    result = report.part(part)
    found = [m for m in (result.measurements if result else [])
             if m.model == model and m.precision == precision and m.ok]
    return found[0].images_per_s() if found else None


def targets_table(report: SuiteReport) -> List[str]:
    """ResTv2-T's measured speed ratios against the papers' (the targets)."""
    precisions = [p for p in ('fp32', 'amp')
                  if any(m.precision == p for part in report.parts for m in part.measurements)]
    header = ['comparison', 'paper'] + [f'measured {p}' for p in precisions] + ['reached']
    rows = []
    for part, peer in paper.TARGETS:
        figures = PAPER_FIGURES[part][0]
        target = figures['ResTv2-T'] / figures[peer]
        ratios = []
        for precision in precisions:
            ours = _images_per_s(report, part, 'ResTv2-T', precision)
            theirs = _images_per_s(report, part, peer, precision)
            ratios.append(ours / theirs if ours and theirs else None)
        measured = [r for r in ratios if r is not None]
        reached = ('-' if not measured else
                   ', '.join(f'{p} {"yes" if r >= target else "no"}'
                             for p, r in zip(precisions, ratios) if r is not None))
        rows.append([f'{PARTS_TITLES[part]} ResTv2-T vs {peer}', f'{target:.3f}x']
                    + [f'{r:.3f}x' if r is not None else '-' for r in ratios] + [reached])
    return markdown_table(header, rows, drop_empty_columns=True)


PARTS_TITLES = {'maskrcnn': 'Mask R-CNN FPS', 'upernet': 'UperNet FPS',
                'imagenet': 'ImageNet throughput'}


def format_markdown(report: SuiteReport) -> str:
    c = report.conditions
    state = (f'load average {c["load_average_at_start"]} at the start, '
             f'{c.get("load_average_at_end", "?")} at the end'
             if 'load_average_at_start' in c else 'cudnn.benchmark on')
    tf32 = [f'TF32 matmul {c["tf32"]["matmul"]}, cuDNN {c["tf32"]["cudnn"]}'] \
        if 'tf32' in c else []
    lines = ['# mmrest speed suite', '', f'Command: `{c["command"]}`', '',
             conditions_sentence(
                 c['device_name'], c['versions'], f'precision: {", ".join(c["precisions"])}',
                 f'{c["weights"]} weights',
                 timing_protocol(c['repeats'], c['iters'], c['warmup'], c.get('round_seconds')),
                 'medians over all timed calls, spread = fastest and slowest call', state, *tf32),
             '', f'Date: {c["date"]}.' + (' QUICK run (tiny sizes, few region proposals): '
                                          'a smoke test, not a measurement.'
                                          if c['quick'] else '')]
    budget = c.get('budget')
    if budget:
        lines += ['', f'Time budget {budget["seconds"]:.0f} s, used {budget["used"]:.0f} s. '
                  + (f'Left out: {", ".join(budget["left_out"])}. ' if budget['left_out']
                     else 'Nothing left out. ')
                  + (f'Shortened: {", ".join(budget["shortened"])}.' if budget['shortened']
                     else '')]
    if any(report.part(p) for p, _ in paper.TARGETS):
        lines += ['', "## Targets: ResTv2-T's speed ratios in the papers (V100) and here", '']
        lines += targets_table(report)
        lines += ['', '![speed against accuracy](speed_accuracy.png)']
    if report.profiles:
        lines += ['', 'Profiles of one inference: [profile.md](profile.md).']
    for part in report.parts:
        lines += ['', f'## {part.title}', '']
        if part.error:
            lines += ['FAILED:', '', '```', part.error.strip(), '```']
            continue
        for precision in sorted({m.precision for m in part.measurements},
                                key=['fp32', 'amp'].index):
            label = precision if precision == 'fp32' else \
                next(p for p in c['precisions'] if p.startswith('AMP'))
            lines += [f'**{label}**', '']
            lines += TABLES.get(part.name, _speed_table)(part, precision)
            lines.append('')
        took = round(part.seconds, 1)  # as speed.json holds it, so --render writes the same
        lines += part.notes + ([''] if part.notes else []) + [f'Took {took:.0f} s.']
    return '\n'.join(lines) + '\n'


# part -> (the papers' accuracy, its name) for the speed-accuracy picture
ACCURACY = {'maskrcnn': (paper.MASK_RCNN_BOX_AP, 'box AP (Mask R-CNN 3x, paper)'),
            'upernet': (paper.UPERNET_MIOU, 'mIoU (UperNet, ms, paper)'),
            'imagenet': (paper.IMAGENET_TOP1, 'top-1 % (ImageNet, paper)')}


def plot_speed_accuracy(report: SuiteReport, path: Path) -> Optional[Path]:
    """Measured speed against the papers' accuracy, one panel per comparison (fp32 filled,
    AMP hollow); ``None`` when no part of it was measured."""
    panels = [p for p in ACCURACY if report.part(p)]
    if not panels:
        return None
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    c = report.conditions
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.5), squeeze=False)
    for ax, name in zip(axes[0], panels):
        accuracy, label = ACCURACY[name]
        unit = PAPER_FIGURES[name][1]
        for m in report.part(name).measurements:
            if not m.ok or m.model not in accuracy:
                continue
            ours = m.model.startswith('ResT')
            ax.scatter(m.images_per_s(), accuracy[m.model], s=50,
                       color='tab:red' if ours else 'tab:blue',
                       facecolors='none' if m.precision == 'amp' else None)
            ax.annotate(f'{m.model}' + (' AMP' if m.precision == 'amp' else ''),
                        (m.images_per_s(), accuracy[m.model]), fontsize=8,
                        xytext=(4, 3), textcoords='offset points')
        ax.set_xlabel(f'measured {unit} ({PARTS_TITLES[name]})')
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    title = f'{c["device_name"]}: measured speed (filled fp32, hollow AMP) vs papers\' accuracy'
    if c.get('quick'):
        title = 'SMOKE TEST (quick run, tiny inputs): ' + title
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(report: SuiteReport, out_dir: Path) -> Tuple[Path, Path]:
    """speed.md and speed.json, and where there is something to show, speed_accuracy.png and
    profile.md."""
    out_dir.mkdir(parents=True, exist_ok=True)
    md, js = out_dir / 'speed.md', out_dir / 'speed.json'
    md.write_text(format_markdown(report))
    js.write_text(json.dumps(report.as_dict(), indent=1) + '\n')
    plot_speed_accuracy(report, out_dir / 'speed_accuracy.png')
    if report.profiles:
        from .profile import format_profiles, from_dicts
        labels = {'amp': next((p for p in report.conditions['precisions']
                               if p.startswith('AMP')), 'amp')}
        (out_dir / 'profile.md').write_text(format_profiles(
            from_dicts(report.profiles), report.conditions['device_name'], labels))
    return md, js
