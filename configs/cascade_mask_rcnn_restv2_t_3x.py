# Cascade Mask R-CNN + FPN with a ResTv2-Tiny backbone on COCO, 3x schedule: mmdet's ConvNeXt-T
# recipe, which this inherits (4conv1fc box heads with GIoU loss and SyncBN, multi-scale crop
# augmentation, AdamW lr 2e-4, weight decay 0.05, batch 16 = 8 GPUs x 2 images, mixed precision,
# 36 epochs with the lr divided by 10 after epochs 27 and 33) with drop path 0.1/0.2/0.3 for
# T/S/B as the ResTv2 Mask R-CNN configs. Not in the ResTv2 paper.
#
# The recipe's layer-wise lr decay (rate 0.7) through mmrest's constructor: each block of the
# backbone has its own id (the stem 0, the k-th block k; the heads the full lr), so the stem
# trains at 0.7^12 of the lr for T (11 blocks), 0.7^18 for S, 0.7^24 for B; mmdet maps
# ConvNeXt-T's 18 blocks onto 7 ids (stem 0.7^7).
_base_ = [
    'mmdet::convnext/cascade-mask-rcnn_convnext-t-p4-w7_fpn_4conv1fc-giou_amp-ms-crop-3x_coco.py',
    './_base_/rest_backbones.py',
]
custom_imports = dict(imports=['mmrest'], allow_failed_imports=False)

model = dict(
    backbone=dict(_delete_=True, **_base_.restv2_tiny),
    neck=dict(in_channels=[96, 192, 384, 768]))

optim_wrapper = dict(
    constructor='ResTLayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(_delete_=True, decay_rate=0.7, decay_type='layer_wise'))
