# RetinaNet + FPN with a ResT-Base backbone on COCO, 1x schedule (recipe of the Small one).
# Paper: 40.5M parameters, 42.0 box AP.
_base_ = ['./retinanet_rest_s_1x.py']

model = dict(
    backbone=dict(_delete_=True, out_indices=(1, 2, 3), **_base_.rest_base),
    neck=dict(in_channels=[192, 384, 768]))
