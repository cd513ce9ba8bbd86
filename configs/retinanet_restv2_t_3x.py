# RetinaNet + FPN with a ResTv2-Tiny backbone on COCO, 3x schedule. Not in the ResTv2 paper:
# ResT v1's RetinaNet recipe (multi-scale training 480-800, AdamW lr 1e-4, weight decay 0.05,
# batch 16) run for 36 epochs with the lr divided by 10 after epochs 27 and 33, the 3x steps
# of the ResTv2 Mask R-CNN configs; drop path 0.1 as for ResTv2-T there.
_base_ = ['./retinanet_rest_s_1x.py']

model = dict(
    data_preprocessor=_base_.imagenet_rgb_input,  # not ResT v1's detectron2 input
    backbone=dict(_delete_=True, out_indices=(1, 2, 3), **_base_.restv2_tiny),
    neck=dict(in_channels=[192, 384, 768]))

max_epochs = 36
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1000),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[27, 33],
         gamma=0.1),
]
