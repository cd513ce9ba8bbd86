# CeiT-T on ImageNet-1k, 224x224: the CeiT paper's recipe (Sec. 4.1, which is DeiT's) on
# mmpretrain's DeiT/Swin data pipeline (RandAugment m9 mstd0.5, random erasing 0.25, bicubic
# resize) with repeated augmentation (3 repeats). AdamW lr 1e-3 for batch 1024 (8 GPUs x 128),
# wd 0.05, 300 epochs with 5 warm-up epochs and cosine decay, Mixup 0.8, CutMix 1.0, label
# smoothing 0.1, drop path 0.1. The head reads the LCA class token (after the final norm).
# Fine-tuning at 384 (paper: 30 epochs, lr 5e-6, wd 1e-8): set backbone img_size=384 and load
# the 224 checkpoint; the positional embedding is resized on load.
_base_ = ['../_base_/imagenet_swin_pipeline.py']

model = dict(
    type='ImageClassifier',
    backbone=dict(type='CeiT', arch='tiny', img_size=224, out_type='cls_token',
                  drop_path_rate=0.1),
    neck=None,
    head=dict(
        type='VisionTransformerClsHead',
        num_classes=1000,
        in_channels=192,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        init_cfg=dict(type='TruncNormal', layer='Linear', std=0.02, bias=0.0)),
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)]),
)

train_dataloader = dict(
    batch_size=128,
    # Repeated augmentation (DeiT's RASampler): each image appears 3 times per epoch, on
    # different GPUs, with different augmentations; an epoch keeps its usual length.
    sampler=dict(type='RepeatAugSampler', shuffle=True, num_repeats=3),
)
val_dataloader = dict(batch_size=128)
test_dataloader = val_dataloader

optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=5e-4 * 1024 / 512, weight_decay=0.05, eps=1e-8,
                   betas=(0.9, 0.999)),
    # No weight decay on norms (LayerNorm and BatchNorm), biases, class token and positional
    # embedding, as DeiT.
    paramwise_cfg=dict(
        _delete_=True,  # drop the Swin schedule's custom keys
        norm_decay_mult=0.0, bias_decay_mult=0.0, flat_decay_mult=0.0,
        custom_keys={'.cls_token': dict(decay_mult=0.0), '.pos_embed': dict(decay_mult=0.0)}),
)
param_scheduler = [
    # DeiT's warm-up from 1e-6.
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=5, end=300),
]
train_cfg = dict(by_epoch=True, max_epochs=300, val_interval=1)
auto_scale_lr = dict(base_batch_size=1024)
