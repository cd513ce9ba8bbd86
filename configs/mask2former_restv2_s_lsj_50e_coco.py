# Mask2Former instance segmentation with a ResTv2-Small backbone on COCO (recipe of the Tiny
# one), drop path 0.2.
_base_ = ['./mask2former_restv2_t_lsj_50e_coco.py']

model = dict(
    backbone=dict(_delete_=True, **_base_.restv2_small))
