# Mask R-CNN + FPN with a ResTv2-Base backbone on COCO, 3x ms-crop schedule (recipe of the
# Tiny one). Paper: 75.5M parameters, 328G FLOPs, 48.7 box AP / 43.9 mask AP.
_base_ = ['./mask_rcnn_restv2_t_3x.py']

model = dict(
    backbone=dict(_delete_=True, **_base_.restv2_base))
