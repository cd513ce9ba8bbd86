# UperNet with a ResTv2-Tiny backbone on ADE20K, 512x512 crops, 160k iterations.
# ResTv2 paper, Sec. 5.2 / App. C.2: AdamW lr 1.5e-4, weight decay 0.05, stage-wise lr decay
# 0.9, 1500 linear warm-up iterations then poly decay, batch 16 (8 GPUs x 2 images), drop path
# 0.1/0.2/0.3 for T/S/B; other settings follow Swin (mmseg's Swin UperNet configs).
# Paper: 62.1M parameters, 47.3 mIoU (multi-scale testing: tools/test.py --tta).
_base_ = [
    'mmseg::_base_/models/upernet_swin.py',
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_160k.py',
    './_base_/rest_backbones.py',
]
custom_imports = dict(imports=['mmrest'], allow_failed_imports=False)

crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(_delete_=True, **_base_.restv2_tiny),
    decode_head=dict(
        in_channels=[96, 192, 384, 768], in_index=[0, 1, 2, 3], num_classes=150),
    # The auxiliary FCN head reads stage 3 (stride 16).
    auxiliary_head=dict(in_channels=384, in_index=2, num_classes=150))

# Stage-wise lr decay (ConvNeXt style): the stem gets 0.9^6 of the lr, stage i 0.9^(6-i),
# the decode heads the full lr; no weight decay for 1-D parameters (norms, biases).
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1.5e-4, betas=(0.9, 0.999), weight_decay=0.05),
    constructor='ResTLayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(decay_rate=0.9, decay_type='stage_wise', num_layers=6))

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(
        type='PolyLR',
        eta_min=0.0,
        power=1.0,
        begin=1500,
        end=160000,
        by_epoch=False),
]

# 8 GPUs x 2 images = the paper's batch of 16.
train_dataloader = dict(batch_size=2)
val_dataloader = dict(batch_size=1)
test_dataloader = val_dataloader
