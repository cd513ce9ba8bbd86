# ResT-Base on ImageNet-1k, 224x224: the recipe of rest_lite_in1k.py, drop path 0.2.
_base_ = ['./rest_lite_in1k.py']

model = dict(
    backbone=dict(arch='base', drop_path_rate=0.2),
    head=dict(in_channels=768),
)
