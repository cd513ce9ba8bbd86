# ResTv2-S on ImageNet-1k, 224x224: the recipe of restv2_t_in1k.py, drop path 0.2.
_base_ = ['./restv2_t_in1k.py']

model = dict(
    backbone=dict(arch='small', drop_path_rate=0.2),
    head=dict(in_channels=768),
)
