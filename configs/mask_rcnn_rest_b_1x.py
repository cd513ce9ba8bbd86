# Mask R-CNN + FPN with a ResT-Base backbone on COCO, 1x schedule (recipe of the Small one).
# Paper: 49.8M parameters, 41.6 box AP / 38.7 mask AP.
_base_ = ['./mask_rcnn_rest_s_1x.py']

model = dict(
    backbone=dict(_delete_=True, **_base_.rest_base),
    neck=dict(in_channels=[96, 192, 384, 768]))
