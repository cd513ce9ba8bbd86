# Mask R-CNN + FPN with a ResT-Small backbone on COCO, 1x schedule.
# ResT paper (NeurIPS 2021), Sec. 4.2: multi-scale training (short side 480-800, long side
# <= 1333), AdamW lr 1e-4, weight decay 0.05, batch 16 (8 GPUs x 2 images), 12 epochs.
# Paper: 33.3M parameters, 39.6 box AP / 37.2 mask AP.
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    './_base_/schedules/rest_det_1x.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmrest'], allow_failed_imports=False)

model = dict(
    data_preprocessor=_base_.detectron2_bgr_input,  # the authors' detectron2 input
    backbone=dict(_delete_=True, **_base_.rest_small),
    neck=dict(in_channels=[64, 128, 256, 512]))

# Multi-scale training: the short side is drawn uniformly from [480, 800].
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomResize', scale=[(1333, 480), (1333, 800)], keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(batch_size=2, dataset=dict(pipeline=train_pipeline))
