# The ResT papers' detection schedule (ResT Sec. 4.2, ResTv2 App. C.2): AdamW lr 1e-4, weight
# decay 0.05 (none on norms and position biases: rest_backbones.py), batch 16 (8 GPUs x 2
# images; `--auto-scale-lr` rescales the lr to another total batch), 12 epochs with 1000
# linear warm-up iterations and the lr divided by 10 after epochs 8 and 11.
_base_ = ['mmdet::_base_/schedules/schedule_1x.py', '../rest_backbones.py']

max_epochs = 12
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1000),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_epochs,
        by_epoch=True,
        milestones=[8, 11],
        gamma=0.1),
]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        _delete_=True, type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=_base_.rest_paramwise_cfg)
auto_scale_lr = dict(enable=False, base_batch_size=16)
