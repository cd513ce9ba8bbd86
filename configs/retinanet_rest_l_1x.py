# RetinaNet + FPN with a ResT-Large backbone on COCO, 1x schedule (recipe of the Small one).
# Paper: 61.8M parameters, 44.8 box AP.
_base_ = ['./retinanet_rest_s_1x.py']

pretrained = 'checkpoints/rest_large.pth'

model = dict(
    backbone=dict(
        arch='large', drop_path_rate=0.3, init_cfg=dict(checkpoint=pretrained)),
    neck=dict(in_channels=[192, 384, 768]))
