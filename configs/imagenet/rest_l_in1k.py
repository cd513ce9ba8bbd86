# ResT-Large on ImageNet-1k, 224x224: the recipe of rest_lite_in1k.py, drop path 0.3.
_base_ = ['./rest_lite_in1k.py']

model = dict(
    backbone=dict(arch='large', drop_path_rate=0.3),
    head=dict(in_channels=768),
)
