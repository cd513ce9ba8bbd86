# UperNet with a ResTv2-Small backbone on ADE20K, 512x512, 160k iterations (recipe of the
# Tiny one). Paper: 72.9M parameters, 49.2 mIoU (multi-scale testing).
_base_ = ['./upernet_restv2_t_160k_ade20k.py']

pretrained = 'checkpoints/restv2_small_224.pth'

model = dict(
    backbone=dict(
        arch='small', drop_path_rate=0.2, init_cfg=dict(checkpoint=pretrained)))
