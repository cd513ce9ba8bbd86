# Cascade Mask R-CNN + FPN with a ResTv2-Base backbone on COCO, 3x schedule (recipe of the
# Tiny one), drop path 0.3.
_base_ = ['./cascade_mask_rcnn_restv2_t_3x.py']

model = dict(
    backbone=dict(
        arch='base', drop_path_rate=0.3,
        init_cfg=dict(checkpoint='checkpoints/restv2_base_224.pth')))
