"""Tiny offline versions of mmrest's real configs, for the tool tests.

Each task takes a real config from ``configs/`` and, through ``--cfg-options``-style overrides
(flat dotted keys, as :func:`mmrest.apis.load_config` takes them), shrinks the backbone to a
custom 4-stage arch, narrows the necks and heads to match, points the data at a small
synthetic dataset and cuts the schedule to one "unit" (an epoch of 2 iterations, or 2
iterations). Everything else (losses, samplers, evaluators, optimizer constructors, hooks)
stays what the real config says, so the tools run the code paths of a real training.

:class:`RecordRankHook` lets a test check what distributed training did on every rank.
"""
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import cv2
import numpy as np
import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from mmrest.datasets.synthetic import make_synthetic_ade, make_synthetic_coco
from tests.common import CONFIGS, DIMS, FLAT

IMAGE_SIZE = (128, 160)  # (h, w) of the synthetic detection / segmentation images
NUM_TRAIN, NUM_VAL = 4, 2
TINY_DIMS = list(DIMS)
TINY_ARCH = {key: list(value) for key, value in FLAT.items()}  # as a config holds it
IMAGENET_CLASSES = ('class_a', 'class_b', 'class_c', 'class_d', 'class_e')
IMAGENET_PER_CLASS = (2, 1)  # train, val images per class

Options = Dict[str, Any]


@dataclass(frozen=True)
class Datasets:
    coco: Any  # mmrest.datasets.synthetic.SyntheticCocoInfo
    ade: Any  # mmrest.datasets.synthetic.SyntheticAdeInfo
    imagenet: Path


def make_imagenet_folder(root: Path, classes=IMAGENET_CLASSES, per_class=IMAGENET_PER_CLASS,
                         size: int = 40, seed: int = 0) -> Path:
    """``root/{train,val}/<class>/<image>.jpg``: the folder layout of mmpretrain's
    ``CustomDataset`` (and of ``ImageNet`` without ``meta/*.txt``), random images."""
    rng = np.random.default_rng(seed)
    for split, count in zip(('train', 'val'), per_class):
        for label, name in enumerate(classes):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                image = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
                # unique names: mmpretrain's VisualizationHook names its files after them
                cv2.imwrite(str(folder / f'{name}_{i}.jpg'), image)
    return root


def make_datasets(root: Path) -> Datasets:
    kwargs = dict(num_train=NUM_TRAIN, num_val=NUM_VAL, image_size=IMAGE_SIZE, seed=0)
    return Datasets(coco=make_synthetic_coco(root / 'coco', **kwargs),
                    ade=make_synthetic_ade(root / 'ade', **kwargs),
                    imagenet=make_imagenet_folder(root / 'imagenet'))


def _loaders(**values: Any) -> Options:
    """The same overrides for the train, val and test dataloaders."""
    return {f'{phase}_dataloader.{key}': value for phase in ('train', 'val', 'test')
            for key, value in values.items()}


def _tiny_backbone(out_indices=(0, 1, 2, 3)) -> Options:
    return {'model.backbone.arch': dict(TINY_ARCH), 'model.backbone.init_cfg': None,
            'model.backbone.drop_path_rate': 0.0,
            'model.backbone.out_indices': tuple(out_indices)}


def _epochs(epochs: int = 1) -> Options:
    # validation after the second epoch: the resumed run validates, the first does not
    return {'train_cfg.max_epochs': epochs, 'train_cfg.val_interval': 2,
            'default_hooks.logger.interval': 1}


def _coco_data(data: Datasets, train_pipeline: Optional[List[dict]] = None) -> Options:
    coco = data.coco
    # num_workers=0: no worker processes to start, which costs more than loading 4 images
    options = _loaders(num_workers=0, persistent_workers=False)
    for phase, split in (('train', 'train'), ('val', 'val'), ('test', 'val')):
        for key, value in coco.dataset_kwargs(split).items():
            options[f'{phase}_dataloader.dataset.{key}'] = value
    for phase in ('val', 'test'):
        options[f'{phase}_evaluator.ann_file'] = str(coco.ann_files['val'])
    h, w = IMAGE_SIZE
    # Index 2 of the ResT recipes' train pipeline and 1 of the test pipelines resize; keep
    # images small.
    if train_pipeline is None:
        options['train_dataloader.dataset.pipeline.2.scale'] = [(w, h - 32), (w, h)]
    else:
        options['train_dataloader.dataset.pipeline'] = train_pipeline
    options['val_dataloader.dataset.pipeline.1.scale'] = (w, h)
    options['test_dataloader.dataset.pipeline.1.scale'] = (w, h)
    return options


def _two_stage_heads(num_classes: int, c: int = 32) -> Options:
    """Narrow FPN, RPN and RoI extractors / mask head of a two-stage detector, fewer
    proposals and sampled RoIs (RoIAlign's backward dominates on CPU)."""
    return {
        'model.neck.in_channels': TINY_DIMS, 'model.neck.out_channels': c,
        'model.rpn_head.in_channels': c, 'model.rpn_head.feat_channels': c,
        'model.roi_head.bbox_roi_extractor.out_channels': c,
        'model.roi_head.mask_roi_extractor.out_channels': c,
        'model.roi_head.mask_head.in_channels': c,
        'model.roi_head.mask_head.conv_out_channels': c,
        'model.roi_head.mask_head.num_convs': 1,
        'model.roi_head.mask_head.num_classes': num_classes,
        'model.train_cfg.rpn_proposal.nms_pre': 200,
        'model.train_cfg.rpn_proposal.max_per_img': 100,
        'model.test_cfg.rpn.nms_pre': 200,
        'model.test_cfg.rpn.max_per_img': 100,
    }


def mask_rcnn(data: Datasets) -> Options:
    c = 32  # FPN and head width
    num_classes = len(data.coco.classes)
    return {
        **_tiny_backbone(), **_coco_data(data), **_epochs(), **_two_stage_heads(num_classes, c),
        'model.roi_head.bbox_head.in_channels': c,
        'model.roi_head.bbox_head.fc_out_channels': 64,
        'model.roi_head.bbox_head.num_classes': num_classes,
        'model.train_cfg.rcnn.sampler.num': 64,
    }


def _small_detection_pipeline() -> List[dict]:
    """Instead of a recipe's multi-scale crops of 1333-pixel images: the small images as
    they are, flipped."""
    h, w = IMAGE_SIZE
    return [dict(type='LoadImageFromFile'),
            dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
            dict(type='Resize', scale=(w, h), keep_ratio=True),
            dict(type='RandomFlip', prob=0.5),
            dict(type='PackDetInputs')]


def cascade(data: Datasets) -> Options:
    c, num_classes = 32, len(data.coco.classes)
    options = {
        **_tiny_backbone(), **_coco_data(data, train_pipeline=_small_detection_pipeline()),
        **_epochs(), **_two_stage_heads(num_classes, c),
        'optim_wrapper.type': 'OptimWrapper',  # the recipe's AMP needs a GPU
    }
    for stage in range(3):  # the three cascade stages, 4conv1fc heads narrowed to 1conv1fc
        head = f'model.roi_head.bbox_head.{stage}.'
        options.update({head + 'in_channels': c, head + 'conv_out_channels': c,
                        head + 'fc_out_channels': 64, head + 'num_shared_convs': 1,
                        head + 'num_classes': num_classes,
                        f'model.train_cfg.rcnn.{stage}.sampler.num': 64})
    return options


def _mask2former_head(prefix: str, num_classes: int) -> Options:
    """10 queries, one pixel-decoder and one transformer-decoder layer, few sampled points."""
    return {f'{prefix}.in_channels': TINY_DIMS, f'{prefix}.num_queries': 10,
            f'{prefix}.pixel_decoder.encoder.num_layers': 1,
            f'{prefix}.transformer_decoder.num_layers': 1,
            f'{prefix}.loss_cls.class_weight': [1.0] * num_classes + [0.1]}


def _iters(iters: int = 2) -> Options:
    return {'train_cfg.max_iters': iters, 'train_cfg.val_interval': 2 * iters,
            'default_hooks.checkpoint.interval': iters, 'default_hooks.logger.interval': 1}


def mask2former_coco(data: Datasets) -> Options:
    num_classes = len(data.coco.classes)
    return {
        **_tiny_backbone(), **_coco_data(data, train_pipeline=_small_detection_pipeline()),
        **_iters(), **_mask2former_head('model.panoptic_head', num_classes),
        'model.panoptic_head.num_things_classes': num_classes,
        'model.panoptic_head.num_stuff_classes': 0,
        'model.panoptic_fusion_head.num_things_classes': num_classes,
        'model.data_preprocessor.batch_augments.0.size': IMAGE_SIZE,  # LSJ pads to 1024
        'model.train_cfg.num_points': 256,
        'model.test_cfg.max_per_image': 10,
    }


def retinanet(data: Datasets) -> Options:
    c = 32
    return {
        **_tiny_backbone(out_indices=(1, 2, 3)), **_coco_data(data), **_epochs(),
        'model.neck.in_channels': TINY_DIMS[1:], 'model.neck.out_channels': c,
        'model.bbox_head.in_channels': c, 'model.bbox_head.feat_channels': c,
        'model.bbox_head.stacked_convs': 1,
        'model.bbox_head.num_classes': len(data.coco.classes),
        # an untrained focal-loss head scores about 0.01 (its prior): keep its detections,
        # so that evaluation computes real metrics
        'model.test_cfg.score_thr': 0.0,
    }


def _ade_data(data: Datasets) -> Options:
    options = _loaders(num_workers=0, persistent_workers=False)
    # ADE20KDataset has 150 fixed classes: the synthetic set is a plain BaseSegDataset.
    options.update(_loaders(**{'dataset.type': 'BaseSegDataset'}))
    for phase, split in (('train', 'train'), ('val', 'val'), ('test', 'val')):
        for key, value in data.ade.dataset_kwargs(split).items():
            options[f'{phase}_dataloader.dataset.{key}'] = value
    h, w = IMAGE_SIZE
    for phase in ('val', 'test'):  # test pipelines: 1 Resize
        options[f'{phase}_dataloader.dataset.pipeline.1.scale'] = (w, h)
    return options


def upernet(data: Datasets) -> Options:
    num_classes = len(data.ade.classes)
    h, w = IMAGE_SIZE
    crop = (96, 96)
    options = _ade_data(data)
    options.update({
        **_tiny_backbone(),
        'model.data_preprocessor.size': crop,
        'model.decode_head.in_channels': TINY_DIMS, 'model.decode_head.channels': 16,
        'model.decode_head.num_classes': num_classes,
        'model.auxiliary_head.in_channels': TINY_DIMS[2],
        'model.auxiliary_head.channels': 16,
        'model.auxiliary_head.num_classes': num_classes,
        # train pipeline: 2 RandomResize, 3 RandomCrop
        'train_dataloader.dataset.pipeline.2.scale': (w, h),
        'train_dataloader.dataset.pipeline.3.crop_size': crop,
        'train_cfg.max_iters': 2, 'train_cfg.val_interval': 4,
        'default_hooks.checkpoint.interval': 2, 'default_hooks.logger.interval': 1,
    })
    return options


def mask2former_ade(data: Datasets) -> Options:
    num_classes = len(data.ade.classes)
    h, w = IMAGE_SIZE
    crop = (96, 96)
    return {
        **_ade_data(data), **_tiny_backbone(), **_iters(),
        **_mask2former_head('model.decode_head', num_classes),
        'model.decode_head.num_classes': num_classes,
        'model.decode_head.train_cfg.num_points': 256,
        'model.data_preprocessor.size': crop,
        'train_dataloader.dataset.pipeline': [
            dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
            dict(type='Resize', scale=(w, h), keep_ratio=True),
            dict(type='RandomCrop', crop_size=crop), dict(type='RandomFlip', prob=0.5),
            dict(type='PackSegInputs')],
    }


def classifier(data: Datasets) -> Options:
    options = _loaders(num_workers=0, persistent_workers=False, batch_size=5)
    for phase in ('train', 'val', 'test'):
        options[f'{phase}_dataloader.dataset.data_root'] = str(data.imagenet)
        # The config's ImageNet type reads the folder tree too, once told the class names
        # (it would otherwise expect its 1000 folders).
        options[f'{phase}_dataloader.dataset.metainfo'] = dict(classes=IMAGENET_CLASSES)
    options.update({
        **_tiny_backbone(out_indices=(3, )), **_epochs(),
        'model.head.in_channels': TINY_DIMS[-1],
        'model.head.num_classes': len(IMAGENET_CLASSES),
        'data_preprocessor.num_classes': len(IMAGENET_CLASSES),  # Mixup / CutMix one-hot
        # train pipeline: 1 RandomResizedCrop; test pipeline: 1 ResizeEdge, 2 CenterCrop
        'train_dataloader.dataset.pipeline.1.scale': 32,
        'val_dataloader.dataset.pipeline.1.scale': 36,
        'val_dataloader.dataset.pipeline.2.crop_size': 32,
        'test_dataloader.dataset.pipeline.1.scale': 36,
        'test_dataloader.dataset.pipeline.2.crop_size': 32,
    })
    return options


@dataclass(frozen=True)
class Task:
    name: str
    config: Path
    options: Callable[[Datasets], Options]
    length_key: str  # one unit of training, doubled by the resume tests
    metric: str  # a key of the test metrics
    num_test: int  # test images

    @property
    def by_epoch(self) -> bool:
        return self.length_key.endswith('epochs')

    def checkpoint(self, units: int) -> str:
        return f'epoch_{units}.pth' if self.by_epoch else f'iter_{2 * units}.pth'


TASKS: Dict[str, Task] = {
    t.name: t for t in [
        Task('mask_rcnn', CONFIGS / 'mask_rcnn_restv2_t_1x.py', mask_rcnn,
             'train_cfg.max_epochs', 'coco/segm_mAP', NUM_VAL),
        Task('retinanet', CONFIGS / 'retinanet_rest_s_1x.py', retinanet,
             'train_cfg.max_epochs', 'coco/bbox_mAP', NUM_VAL),
        Task('upernet', CONFIGS / 'upernet_restv2_t_160k_ade20k.py', upernet,
             'train_cfg.max_iters', 'mIoU', NUM_VAL),
        Task('classifier', CONFIGS / 'imagenet' / 'restv2_t_in1k.py', classifier,
             'train_cfg.max_epochs', 'accuracy/top1',
             len(IMAGENET_CLASSES) * IMAGENET_PER_CLASS[1]),
    ]
}

# Cascade Mask R-CNN and Mask2Former (mmdet's and mmseg's recipes on ResTv2).
FAMILY_TASKS: Dict[str, Task] = {
    t.name: t for t in [
        Task('cascade', CONFIGS / 'cascade_mask_rcnn_restv2_t_3x.py', cascade,
             'train_cfg.max_epochs', 'coco/segm_mAP', NUM_VAL),
        Task('mask2former_coco', CONFIGS / 'mask2former_restv2_t_lsj_50e_coco.py',
             mask2former_coco, 'train_cfg.max_iters', 'coco/segm_mAP', NUM_VAL),
        Task('mask2former_ade', CONFIGS / 'mask2former_restv2_t_160k_ade20k.py',
             mask2former_ade, 'train_cfg.max_iters', 'mIoU', NUM_VAL),
    ]
}


def task_options(task: Task, data: Datasets, units: int = 1,
                 without: Optional[List[str]] = None) -> Options:
    """The overrides of ``task`` for ``units`` units of training, less the keys
    ``without``."""
    options = task.options(data)
    options[task.length_key] *= units
    for key in without or ():
        options.pop(key)
    return options


@HOOKS.register_module(force=True)
class RecordRankHook(Hook):
    """Writes ``rank<N>.json`` to the work dir: the images this rank trained on, in order, and
    the sum of every parameter at the end (equal on all ranks iff gradients were reduced)."""

    def __init__(self) -> None:
        self.seen: List[str] = []

    def before_train_iter(self, runner, batch_idx: int, data_batch: Any = None) -> None:
        self.seen += [sample.img_path for sample in data_batch['data_samples']]

    def after_train(self, runner) -> None:
        model = runner.model
        while hasattr(model, 'module'):
            model = model.module
        with torch.no_grad():
            sums = {name: p.double().sum().item() for name, p in model.named_parameters()}
        with open(Path(runner.work_dir) / f'rank{get_rank()}.json', 'w') as f:
            json.dump(dict(seen=self.seen, param_sums=sums), f)
