# Mask R-CNN + FPN with a ResTv2-Tiny backbone on COCO, 1x schedule: the ablation setting of
# the ResTv2 paper (Sec. 5.1, Table 4; App. C.2), which follows ResT v1's recipe
# (multi-scale training 480-800, AdamW lr 1e-4, weight decay 0.05, batch 16, 12 epochs).
# Paper: 49.94M parameters, 46.13 box AP / 42.03 mask AP (global attention).
_base_ = ['./mask_rcnn_rest_s_1x.py']

model = dict(
    data_preprocessor=_base_.imagenet_rgb_input,  # not ResT v1's detectron2 input
    backbone=dict(_delete_=True, **_base_.restv2_tiny),
    neck=dict(in_channels=[96, 192, 384, 768]))
