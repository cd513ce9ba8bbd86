# ResT-Lite on ImageNet-1k, 224x224: the ResT paper's recipe (Sec. 4.1) on mmpretrain's
# Swin-style data pipeline: AdamW lr 5e-4 for batch 2048 (8 GPUs x 256), wd 0.05, grad clip 5,
# 300 epochs with 5 warm-up epochs and cosine decay, RandAugment, Mixup 0.8, CutMix 1.0,
# random erasing, label smoothing 0.1, drop path 0.1 (Lite/Small), 0.2 (Base), 0.3 (Large).
_base_ = ['./restv2_t_in1k.py']

model = dict(
    backbone=dict(_delete_=True, type='ResT', arch='lite', out_indices=(3, ),
                  drop_path_rate=0.1),
    head=dict(in_channels=512),
)
train_dataloader = dict(batch_size=256)
optim_wrapper = dict(optimizer=dict(lr=5e-4), clip_grad=dict(max_norm=5.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=5, end=300),
]
custom_hooks = []  # the ResT paper uses no EMA
auto_scale_lr = dict(base_batch_size=2048)
