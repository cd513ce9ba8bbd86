# RetinaNet + FPN with a ResT-Base backbone on COCO, 1x schedule (recipe of the Small one).
# Paper: 40.5M parameters, 42.0 box AP.
_base_ = ['./retinanet_rest_s_1x.py']

pretrained = 'checkpoints/rest_base.pth'

model = dict(
    backbone=dict(
        arch='base', drop_path_rate=0.2, init_cfg=dict(checkpoint=pretrained)),
    neck=dict(in_channels=[192, 384, 768]))
