# CeiT-B on ImageNet-1k, 224x224: the recipe of ceit_t_in1k.py.
_base_ = ['./ceit_t_in1k.py']

model = dict(
    backbone=dict(arch='base'),
    head=dict(in_channels=768),
)
