# CeiT-S on ImageNet-1k, 224x224: the recipe of ceit_t_in1k.py.
_base_ = ['./ceit_t_in1k.py']

model = dict(
    backbone=dict(arch='small'),
    head=dict(in_channels=384),
)
