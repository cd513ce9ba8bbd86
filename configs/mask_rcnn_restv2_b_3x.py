# Mask R-CNN + FPN with a ResTv2-Base backbone on COCO, 3x ms-crop schedule (recipe of the
# Tiny one). Paper: 75.5M parameters, 328G FLOPs, 48.7 box AP / 43.9 mask AP.
_base_ = ['./mask_rcnn_restv2_t_3x.py']

pretrained = 'checkpoints/restv2_base_224.pth'

model = dict(
    backbone=dict(
        arch='base', drop_path_rate=0.3, init_cfg=dict(checkpoint=pretrained)))
