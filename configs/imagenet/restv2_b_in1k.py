# ResTv2-B on ImageNet-1k, 224x224: the recipe of restv2_t_in1k.py, drop path 0.3.
_base_ = ['./restv2_t_in1k.py']

model = dict(
    backbone=dict(arch='base', drop_path_rate=0.3),
    head=dict(in_channels=768),
)
