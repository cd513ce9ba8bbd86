# Mask R-CNN + FPN with a ResTv2-Small backbone on COCO, 3x ms-crop schedule (recipe of the
# Tiny one). Paper: 60.7M parameters, 290G FLOPs, 48.1 box AP / 43.3 mask AP.
_base_ = ['./mask_rcnn_restv2_t_3x.py']

model = dict(
    backbone=dict(_delete_=True, **_base_.restv2_small))
