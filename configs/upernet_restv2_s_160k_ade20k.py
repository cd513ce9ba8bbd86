# UperNet with a ResTv2-Small backbone on ADE20K, 512x512, 160k iterations (recipe of the
# Tiny one). Paper: 72.9M parameters, 49.2 mIoU (multi-scale testing).
_base_ = ['./upernet_restv2_t_160k_ade20k.py']

model = dict(
    backbone=dict(_delete_=True, **_base_.restv2_small))
