# Mask R-CNN + FPN with a ResTv2-Small backbone on COCO, 3x ms-crop schedule (recipe of the
# Tiny one). Paper: 60.7M parameters, 290G FLOPs, 48.1 box AP / 43.3 mask AP.
_base_ = ['./mask_rcnn_restv2_t_3x.py']

pretrained = 'checkpoints/restv2_small_224.pth'

model = dict(
    backbone=dict(
        arch='small', drop_path_rate=0.2, init_cfg=dict(checkpoint=pretrained)))
