# ResTv2-L on ImageNet-1k, 224x224: the recipe of restv2_t_in1k.py, drop path 0.5.
_base_ = ['./restv2_t_in1k.py']

model = dict(
    backbone=dict(arch='large', drop_path_rate=0.5),
    head=dict(in_channels=1024),
)
