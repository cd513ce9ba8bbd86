# Mask2Former semantic segmentation with a ResTv2-Small backbone on ADE20K, 512x512, 160k
# iterations (recipe of the Tiny one), drop path 0.2.
_base_ = ['./mask2former_restv2_t_160k_ade20k.py']

model = dict(
    backbone=dict(_delete_=True, **_base_.restv2_small))
