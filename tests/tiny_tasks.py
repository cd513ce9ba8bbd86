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

CONFIGS = Path(__file__).resolve().parent.parent / 'configs'

IMAGE_SIZE = (128, 160)  # (h, w) of the synthetic detection / segmentation images
NUM_TRAIN, NUM_VAL = 4, 2
TINY_DIMS = [16, 32, 64, 128]
TINY_ARCH = dict(embed_dims=TINY_DIMS, depths=[1, 1, 1, 1], num_heads=[1, 2, 4, 8])
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


def _coco_data(data: Datasets) -> Options:
    coco = data.coco
    # num_workers=0: no worker processes to start, which costs more than loading 4 images
    options = _loaders(num_workers=0, persistent_workers=False)
    for phase, split in (('train', 'train'), ('val', 'val'), ('test', 'val')):
        for key, value in coco.dataset_kwargs(split).items():
            options[f'{phase}_dataloader.dataset.{key}'] = value
    for phase in ('val', 'test'):
        options[f'{phase}_evaluator.ann_file'] = str(coco.ann_files['val'])
    h, w = IMAGE_SIZE
    # Index 2 of the train pipeline and 1 of the test pipelines resize; keep images small.
    options['train_dataloader.dataset.pipeline.2.scale'] = [(w, h - 32), (w, h)]
    options['val_dataloader.dataset.pipeline.1.scale'] = (w, h)
    options['test_dataloader.dataset.pipeline.1.scale'] = (w, h)
    return options


def mask_rcnn(data: Datasets) -> Options:
    c = 32  # FPN and head width
    num_classes = len(data.coco.classes)
    return {
        **_tiny_backbone(), **_coco_data(data), **_epochs(),
        'model.neck.in_channels': TINY_DIMS, 'model.neck.out_channels': c,
        'model.rpn_head.in_channels': c, 'model.rpn_head.feat_channels': c,
        'model.roi_head.bbox_roi_extractor.out_channels': c,
        'model.roi_head.bbox_head.in_channels': c,
        'model.roi_head.bbox_head.fc_out_channels': 64,
        'model.roi_head.bbox_head.num_classes': num_classes,
        'model.roi_head.mask_roi_extractor.out_channels': c,
        'model.roi_head.mask_head.in_channels': c,
        'model.roi_head.mask_head.conv_out_channels': c,
        'model.roi_head.mask_head.num_convs': 1,
        'model.roi_head.mask_head.num_classes': num_classes,
        # fewer proposals and sampled RoIs: RoIAlign's backward dominates on CPU
        'model.train_cfg.rpn_proposal.nms_pre': 200,
        'model.train_cfg.rpn_proposal.max_per_img': 100,
        'model.train_cfg.rcnn.sampler.num': 64,
        'model.test_cfg.rpn.nms_pre': 200,
        'model.test_cfg.rpn.max_per_img': 100,
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


def upernet(data: Datasets) -> Options:
    ade = data.ade
    num_classes = len(ade.classes)
    h, w = IMAGE_SIZE
    crop = (96, 96)
    options = _loaders(num_workers=0, persistent_workers=False)
    # ADE20KDataset has 150 fixed classes: the synthetic set is a plain BaseSegDataset.
    options.update(_loaders(**{'dataset.type': 'BaseSegDataset'}))
    for phase, split in (('train', 'train'), ('val', 'val'), ('test', 'val')):
        for key, value in ade.dataset_kwargs(split).items():
            options[f'{phase}_dataloader.dataset.{key}'] = value
    options.update({
        **_tiny_backbone(),
        'model.data_preprocessor.size': crop,
        'model.decode_head.in_channels': TINY_DIMS, 'model.decode_head.channels': 16,
        'model.decode_head.num_classes': num_classes,
        'model.auxiliary_head.in_channels': TINY_DIMS[2],
        'model.auxiliary_head.channels': 16,
        'model.auxiliary_head.num_classes': num_classes,
        # train pipeline: 2 RandomResize, 3 RandomCrop; test pipeline: 1 Resize
        'train_dataloader.dataset.pipeline.2.scale': (w, h),
        'train_dataloader.dataset.pipeline.3.crop_size': crop,
        'val_dataloader.dataset.pipeline.1.scale': (w, h),
        'test_dataloader.dataset.pipeline.1.scale': (w, h),
        'train_cfg.max_iters': 2, 'train_cfg.val_interval': 4,
        'default_hooks.checkpoint.interval': 2, 'default_hooks.logger.interval': 1,
    })
    return options


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
