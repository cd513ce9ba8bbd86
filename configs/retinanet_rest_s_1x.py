# RetinaNet + FPN with a ResT-Small backbone on COCO, 1x schedule.
# ResT paper (NeurIPS 2021), Sec. 4.2: multi-scale training (short side 480-800, long side
# <= 1333), AdamW lr 1e-4, weight decay 0.05, batch 16 (8 GPUs x 2 images), 12 epochs.
# Paper: 23.4M parameters, 40.3 box AP.
_base_ = [
    'mmdet::_base_/models/retinanet_r50_fpn.py',
    'mmdet::_base_/datasets/coco_detection.py',
    './_base_/schedules/rest_det_1x.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmrest'], allow_failed_imports=False)

model = dict(
    data_preprocessor=_base_.detectron2_bgr_input,  # the authors' detectron2 input
    # RetinaNet uses P3-P7: stage 1 (stride 4) would only add unused parameters, which
    # distributed training rejects.
    backbone=dict(_delete_=True, out_indices=(1, 2, 3), **_base_.rest_small),
    # As detectron2 (the authors' code): P6 from the last backbone output ('on_input'), P7 from
    # relu(P6).
    neck=dict(in_channels=[128, 256, 512], start_level=0, num_outs=5,
              relu_before_extra_convs=True),
    # detectron2 orders the 9 anchors of a location size-major (mmdet's default is
    # ratio-major): the authors' trained class and box convs expect that order.
    bbox_head=dict(anchor_generator=dict(scale_major=False)))

# Multi-scale training as mask_rcnn_rest_s_1x.py, boxes only.
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='RandomResize', scale=[(1333, 480), (1333, 800)], keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(batch_size=2, dataset=dict(pipeline=train_pipeline))
