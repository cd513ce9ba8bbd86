# UperNet with a ResTv2-Base backbone on ADE20K, 512x512, 160k iterations (recipe of the
# Tiny one). Paper: 87.6M parameters, 49.6 mIoU (multi-scale testing).
_base_ = ['./upernet_restv2_t_160k_ade20k.py']

pretrained = 'checkpoints/restv2_base_224.pth'

model = dict(
    backbone=dict(
        arch='base', drop_path_rate=0.3, init_cfg=dict(checkpoint=pretrained)))
