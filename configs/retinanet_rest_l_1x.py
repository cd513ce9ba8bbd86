# RetinaNet + FPN with a ResT-Large backbone on COCO, 1x schedule (recipe of the Small one).
# Paper: 61.8M parameters, 44.8 box AP.
_base_ = ['./retinanet_rest_s_1x.py']

model = dict(
    backbone=dict(_delete_=True, out_indices=(1, 2, 3), **_base_.rest_large),
    neck=dict(in_channels=[192, 384, 768]))
