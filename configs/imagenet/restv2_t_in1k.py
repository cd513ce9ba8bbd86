# ResTv2-T on ImageNet-1k, 224x224: the ResTv2 paper's recipe (Sec. 4.1) on mmpretrain's
# Swin-style data pipeline (RandAugment m9 mstd0.5, random erasing 0.25, bicubic resize).
# AdamW lr 1.5e-4 x batch/256 (batch 1024 = 8 GPUs x 128), wd 0.05, grad clip 1.0,
# 300 epochs with 50 warm-up epochs and cosine decay, Mixup 0.8, CutMix 1.0,
# label smoothing 0.1, EMA 0.9999, drop path 0.1.
# Evaluate the authors' weights: python tools/convert_official.py restv2_tiny_224.pth \
#   checkpoints/restv2_t_in1k.pth && python tools/test.py THIS_CONFIG checkpoints/restv2_t_in1k.pth
_base_ = ['../_base_/imagenet_swin_pipeline.py']

model = dict(
    type='ImageClassifier',
    # out_indices=(3,): norm3 is the classifier's final LayerNorm, applied before pooling.
    backbone=dict(type='ResTV2', arch='tiny', out_indices=(3, ), drop_path_rate=0.1),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=768,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        init_cfg=dict(type='TruncNormal', layer='Linear', std=0.02, bias=0.0)),
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)]),
)

train_dataloader = dict(batch_size=128)
val_dataloader = dict(batch_size=128)
test_dataloader = val_dataloader

optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1.5e-4 * 1024 / 256, weight_decay=0.05, eps=1e-8,
                   betas=(0.9, 0.999)),
    clip_grad=dict(max_norm=1.0),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0, flat_decay_mult=0.0),
)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=50,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True, begin=50, end=300),
]
train_cfg = dict(by_epoch=True, max_epochs=300, val_interval=1)
custom_hooks = [dict(type='EMAHook', momentum=1e-4, priority='ABOVE_NORMAL')]
auto_scale_lr = dict(base_batch_size=1024)
