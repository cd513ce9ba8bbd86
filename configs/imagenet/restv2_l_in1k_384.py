# ResTv2-L fine-tuned on ImageNet-1k at 384x384 from the 224 model: the ResTv2 paper's recipe
# (Sec. 4.1): AdamW for 30 epochs, lr 1.5e-5 x batch/256 (batch 512 = 8 GPUs x 64), cosine
# decay without warm-up, weight decay 1e-8, 384x384 input. Everything else (augmentation,
# Mixup/CutMix, label smoothing, EMA, grad clip, drop path) as in the 224 recipe.
# Evaluation resizes to 384x384 without a center crop, as the authors' (ConvNeXt) code does.
_base_ = ['./restv2_l_in1k.py']

# The 224 classifier to fine-tune: a checkpoint of restv2_l_in1k.py or the authors' file
# converted with tools/convert_official.py; override with --cfg-options load_from=PATH.
load_from = 'checkpoints/restv2_l_in1k.pth'

img_size = 384
# data_preprocessor's RGB mean/std in the BGR order of the loaded images (for padding/erasing)
bgr_mean = [103.53, 116.28, 123.675]
bgr_std = [57.375, 57.12, 58.395]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=img_size, backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='RandAugment',
        policies='timm_increasing',
        num_policies=2,
        total_level=10,
        magnitude_level=9,
        magnitude_std=0.5,
        hparams=dict(pad_val=[round(x) for x in bgr_mean], interpolation='bicubic')),
    dict(
        type='RandomErasing',
        erase_prob=0.25,
        mode='rand',
        min_area_ratio=0.02,
        max_area_ratio=1 / 3,
        fill_color=bgr_mean,
        fill_std=bgr_std),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_size, backend='pillow', interpolation='bicubic'),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=64, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=64, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(lr=1.5e-5 * 512 / 256, weight_decay=1e-8))
param_scheduler = [
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True, begin=0, end=30,
         convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=30, val_interval=1)
auto_scale_lr = dict(base_batch_size=512)
