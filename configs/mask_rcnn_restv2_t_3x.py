# Mask R-CNN + FPN with a ResTv2-Tiny backbone on COCO, 3x schedule with multi-scale crop
# augmentation (mmdet's Swin ms-crop-3x recipe, which this inherits: AdamW lr 1e-4, weight
# decay 0.05, 1000 warm-up iterations, 36 epochs, lr x0.1 after epochs 27 and 33).
# ResTv2 paper, Table 3 / App. C.2: batch 16 (8 GPUs x 2 images), drop path 0.1, mixed
# precision (add `--amp` to tools/train.py). Paper: 49.9M parameters, 253G FLOPs,
# 47.6 box AP / 43.2 mask AP.
_base_ = ['mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_ms-crop-3x_coco.py']
custom_imports = dict(imports=['mmrest'], allow_failed_imports=False)

# The authors' ImageNet weights; override with
# --cfg-options model.backbone.init_cfg.checkpoint=/path/to/restv2_tiny_224.pth
pretrained = 'checkpoints/restv2_tiny_224.pth'

model = dict(
    backbone=dict(
        _delete_=True,
        type='ResTV2',
        arch='tiny',
        out_indices=(0, 1, 2, 3),
        frozen_stages=-1,
        norm_eval=False,
        with_cp=False,
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[96, 192, 384, 768]))

train_dataloader = dict(batch_size=2)

# No weight decay on normalisation layers (every LayerNorm/BatchNorm, found by type: the
# stem's BatchNorms are not named "norm") nor on the biases of the PA position convs, in
# place of Swin's position-table keys; nor on the identity-initialised convs of
# attn_style='cwin', which decay would pull away from the identity.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(lr=1e-4, weight_decay=0.05),
    paramwise_cfg=dict(
        _delete_=True,
        norm_decay_mult=0.,
        custom_keys={
            'pos.pa_conv.bias': dict(decay_mult=0.),
            'backbone.cwin': dict(decay_mult=0.),
        }))

# lr 1e-4 is for a total batch of 16 (8 GPUs x 2 images); `--auto-scale-lr` rescales it.
auto_scale_lr = dict(enable=False, base_batch_size=16)
