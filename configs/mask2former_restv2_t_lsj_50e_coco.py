# Mask2Former instance segmentation with a ResTv2-Tiny backbone on COCO: mmdet's recipe, which
# this inherits (large-scale jitter to 1024x1024 crops, 100 queries, AdamW lr 1e-4, weight decay
# 0.05, batch 16 = 8 GPUs x 2 images, 50 epochs as iterations), with its Swin configs' optimizer
# settings (the backbone at 0.1x the lr, no decay on norms and embeddings; rest_backbones.py)
# and drop path 0.1/0.2/0.3 for T/S/B as mmrest's other ResTv2 configs. Not in the ResTv2 paper.
_base_ = [
    'mmdet::mask2former/mask2former_r50_8xb2-lsj-50e_coco.py',
    './_base_/rest_backbones.py',
]
custom_imports = dict(imports=['mmrest'], allow_failed_imports=False)

model = dict(
    backbone=dict(_delete_=True, **_base_.restv2_tiny),
    panoptic_head=dict(in_channels=[96, 192, 384, 768]),
    init_cfg=None)

optim_wrapper = dict(paramwise_cfg=dict(_delete_=True, **_base_.mask2former_paramwise_cfg))

# mmdet's instance config keeps its panoptic base's data_prefix.seg (panoptic PNGs), which
# instance segmentation never reads: only the images are needed.
train_dataloader = dict(dataset=dict(data_prefix=dict(_delete_=True, img='train2017/')))
val_dataloader = dict(dataset=dict(data_prefix=dict(_delete_=True, img='val2017/')))
test_dataloader = val_dataloader
