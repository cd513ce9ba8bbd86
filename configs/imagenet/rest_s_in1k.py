# ResT-Small on ImageNet-1k, 224x224: the recipe of rest_lite_in1k.py, drop path 0.1.
_base_ = ['./rest_lite_in1k.py']

model = dict(
    backbone=dict(arch='small', drop_path_rate=0.1),
    head=dict(in_channels=512),
)
