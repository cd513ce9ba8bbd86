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
from ..timed_model import QUICK_PROPOSALS, load_timed_config
from .catalogue import (
    ATTN_STYLE_CONFIG,
    CASCADE_MODELS,
    IMAGENET_MODELS,
    MASK2FORMER_ADE_MODELS,
    MASK2FORMER_COCO_MODELS,
    MASK_RCNN_MODELS,
    PAPER_FIGURES,
    PEERS,
    TRAINING_CONFIG,
    UPERNET_MODELS,
)
from .parts import PARTS, fps_part, largest_batch, part_attn_styles, part_imagenet, part_training
from .records import Measurement, PartResult, Settings, SuiteReport
from .report import format_markdown, plot_speed_accuracy, targets_table, write_report
from .schedule import BUDGET_ORDER, MIN_SHARE_SECONDS, conditions, run_suite

__all__ = [
    'ATTN_STYLE_CONFIG', 'BUDGET_ORDER', 'CASCADE_MODELS', 'IMAGENET_MODELS',
    'MASK2FORMER_ADE_MODELS', 'MASK2FORMER_COCO_MODELS', 'MASK_RCNN_MODELS', 'MIN_SHARE_SECONDS',
    'PAPER_FIGURES', 'PARTS', 'PEERS', 'QUICK_PROPOSALS', 'TRAINING_CONFIG', 'UPERNET_MODELS',
    'Measurement', 'PartResult', 'Settings', 'SuiteReport', 'conditions', 'format_markdown',
    'fps_part', 'largest_batch', 'load_timed_config', 'part_attn_styles', 'part_imagenet',
    'part_training', 'plot_speed_accuracy', 'run_suite', 'targets_table', 'write_report'
]
