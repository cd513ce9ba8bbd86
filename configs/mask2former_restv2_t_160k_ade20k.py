# Mask2Former semantic segmentation with a ResTv2-Tiny backbone on ADE20K, 512x512 crops, 160k
# iterations: mmseg's recipe, which this inherits (100 queries, AdamW lr 1e-4, weight decay
# 0.05, batch 16 = 8 GPUs x 2 images, poly decay), with its Swin configs' optimizer settings
# (the backbone at 0.1x the lr, no decay on norms and embeddings; rest_backbones.py) and drop
# path 0.1/0.2/0.3 for T/S/B as mmrest's other ResTv2 configs. Not in the ResTv2 paper.
_base_ = [
    'mmseg::mask2former/mask2former_r50_8xb2-160k_ade20k-512x512.py',
    './_base_/rest_backbones.py',
]
custom_imports = dict(imports=['mmrest'], allow_failed_imports=False)

model = dict(
    backbone=dict(_delete_=True, **_base_.restv2_tiny),
    decode_head=dict(in_channels=[96, 192, 384, 768]))

optim_wrapper = dict(paramwise_cfg=dict(_delete_=True, **_base_.mask2former_paramwise_cfg))
