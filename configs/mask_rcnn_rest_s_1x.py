# Mask R-CNN + FPN with a ResT-Small backbone on COCO, 1x schedule.
# ResT paper (NeurIPS 2021), Sec. 4.2: multi-scale training (short side 480-800, long side
# <= 1333), AdamW lr 1e-4, weight decay 0.05, batch 16 (8 GPUs x 2 images), 12 epochs.
# Paper: 33.3M parameters, 39.6 box AP / 37.2 mask AP.
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmrest'], allow_failed_imports=False)

# The authors' ImageNet weights; override with
# --cfg-options model.backbone.init_cfg.checkpoint=/path/to/rest_small.pth
pretrained = 'checkpoints/rest_small.pth'

model = dict(
    backbone=dict(
        _delete_=True,
        type='ResT',
        arch='small',
        out_indices=(0, 1, 2, 3),
        frozen_stages=-1,
        norm_eval=False,
        with_cp=False,
        # The paper gives no detection rate for v1; use its ImageNet one (0.1/0.2/0.3 for
        # S/B/L), as ResTv2 does for its detectors.
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
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

max_epochs = 12
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1000),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_epochs,
        by_epoch=True,
        milestones=[8, 11],
        gamma=0.1),
]

# No weight decay on normalisation layers (every LayerNorm/BatchNorm, found by type: the
# stem's BatchNorms are not named "norm") nor on the biases of the PA position convs, as
# Swin's configs spare its position parameters; nor on the identity-initialised convs of
# attn_style='cwin', which decay would pull away from the identity.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        _delete_=True, type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(
        norm_decay_mult=0.,
        custom_keys={
            'pos.pa_conv.bias': dict(decay_mult=0.),
            'backbone.cwin': dict(decay_mult=0.),
        }))

# lr 1e-4 is for a total batch of 16 (8 GPUs x 2 images); `--auto-scale-lr` rescales it.
auto_scale_lr = dict(enable=False, base_batch_size=16)
