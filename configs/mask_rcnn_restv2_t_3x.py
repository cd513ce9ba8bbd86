# Mask R-CNN + FPN with a ResTv2-Tiny backbone on COCO, 3x schedule with multi-scale crop
# augmentation (mmdet's Swin ms-crop-3x recipe, which this inherits: AdamW lr 1e-4, weight
# decay 0.05, 1000 warm-up iterations, 36 epochs, lr x0.1 after epochs 27 and 33).
# ResTv2 paper, Table 4 / App. C.2: batch 16 (8 GPUs x 2 images), drop path 0.1, mixed
# precision (add `--amp` to tools/train.py). Paper: 49.9M parameters, 253G FLOPs,
# 47.6 box AP / 43.2 mask AP.
_base_ = [
    'mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_ms-crop-3x_coco.py',
    './_base_/rest_backbones.py',
]
custom_imports = dict(imports=['mmrest'], allow_failed_imports=False)

model = dict(
    backbone=dict(_delete_=True, **_base_.restv2_tiny),
    neck=dict(in_channels=[96, 192, 384, 768]))

train_dataloader = dict(batch_size=2)

# Swin's AdamW; no weight decay on ResTv2's norms and position biases instead of Swin's keys.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(lr=1e-4, weight_decay=0.05),
    paramwise_cfg=dict(_delete_=True, **_base_.rest_paramwise_cfg))

# lr 1e-4 is for a total batch of 16 (8 GPUs x 2 images); `--auto-scale-lr` rescales it.
auto_scale_lr = dict(enable=False, base_batch_size=16)
