# Cascade Mask R-CNN + FPN with a ResTv2-Small backbone on COCO, 3x schedule (recipe of the
# Tiny one), drop path 0.2.
_base_ = ['./cascade_mask_rcnn_restv2_t_3x.py']

model = dict(
    backbone=dict(_delete_=True, **_base_.restv2_small))
