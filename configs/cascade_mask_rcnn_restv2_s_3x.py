# Cascade Mask R-CNN + FPN with a ResTv2-Small backbone on COCO, 3x schedule (recipe of the
# Tiny one), drop path 0.2.
_base_ = ['./cascade_mask_rcnn_restv2_t_3x.py']

model = dict(
    backbone=dict(
        arch='small', drop_path_rate=0.2,
        init_cfg=dict(checkpoint='checkpoints/restv2_small_224.pth')))
