# The built-in demo (`python tools/demo.py`): Mask R-CNN + FPN with a small ResTv2, trained
# from scratch on the synthetic shapes set of `mmrest.datasets.make_synthetic_coco`, on a CPU,
# in a few minutes. Only what the demo needs differs from the paper's ResTv2-T 1x config:
# the data, a 128-pixel input, a narrow ResTv2 and narrow heads, and a short iteration-based
# schedule with a learning rate for training from scratch.
#
# tools/demo.py generates the data (`synthetic_data` below) and runs everything; by hand:
#   python -m mmrest.datasets.synthetic coco data/synthetic_coco --num-train 600 --num-val 60 \
#       --size 256
#   python tools/train.py configs/demo/mask_rcnn_restv2_synthetic.py
_base_ = ['../mask_rcnn_restv2_t_1x.py']

data_root = 'data/synthetic_coco/'
classes = ('circle', 'square', 'triangle')
# Read by mmrest.apis.demo: the arguments of make_synthetic_coco for `data_root`. Images are
# drawn at 256 pixels (readable prediction drawings, evaluation at that size) and trained at
# 128, where the shapes are 15-58 pixels wide.
synthetic_data = dict(num_train=600, num_val=60, image_size=(256, 256), seed=0, classes=classes)
metainfo = dict(classes=classes, palette=[(220, 20, 60), (0, 130, 200), (60, 180, 75)])
image_scale = (128, 128)

# ResTv2 with a third of ResTv2-T's width and half its depth (1.7M parameters instead of
# 29.7M): what two CPU cores train in minutes. The heads shrink to match: 64-channel FPN and
# RoI features (2.9M parameters in all).
embed_dims = [32, 64, 128, 256]
fpn_channels = 64
num_classes = len(classes)
model = dict(
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=embed_dims, depths=[1, 1, 2, 1],
                  num_heads=[1, 2, 4, 8]),
        drop_path_rate=0.0,  # too short a schedule to need regularisation
        init_cfg=None),  # from scratch: no download, no checkpoint
    neck=dict(in_channels=embed_dims, out_channels=fpn_channels),
    rpn_head=dict(
        in_channels=fpn_channels,
        feat_channels=fpn_channels,
        # Anchors of 16-256 pixels (instead of 32-512) for 15-58 pixel shapes.
        anchor_generator=dict(scales=[4])),
    roi_head=dict(
        # One bilinear sample per RoI bin: the shapes are smooth, and mmcv's CPU RoIAlign
        # (backward above all) is a large part of an iteration.
        bbox_roi_extractor=dict(out_channels=fpn_channels, roi_layer=dict(sampling_ratio=1)),
        bbox_head=dict(in_channels=fpn_channels, fc_out_channels=256, num_classes=num_classes),
        mask_roi_extractor=dict(out_channels=fpn_channels, roi_layer=dict(sampling_ratio=1)),
        mask_head=dict(num_convs=2, in_channels=fpn_channels, conv_out_channels=fpn_channels,
                       num_classes=num_classes)),
    train_cfg=dict(
        # 1-4 objects per image: far fewer proposals and sampled RoIs than for COCO suffice.
        rpn_proposal=dict(nms_pre=1000, max_per_img=300),
        rcnn=dict(sampler=dict(num=32))),
    test_cfg=dict(rpn=dict(nms_pre=500, max_per_img=100)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=image_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=image_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
# The layout make_synthetic_coco writes: <split>/ images, annotations/instances_<split>.json.
dataset = dict(data_root=data_root, metainfo=metainfo)
train_dataloader = dict(
    batch_size=8,
    num_workers=1,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(dataset, ann_file='annotations/instances_train.json',
                 data_prefix=dict(img='train/'), pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4,
    num_workers=1,
    dataset=dict(dataset, ann_file='annotations/instances_val.json',
                 data_prefix=dict(img='val/'), pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator

# Iterations instead of epochs (minutes, not hours), validation and a checkpoint at the end.
max_iters = 700
train_cfg = dict(
    _delete_=True, type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=0, end=max_iters, eta_min=1e-5),
]
# From scratch, the small detector takes 20x the fine-tuning learning rate (4e-3 was worse);
# clipping keeps the first iterations stable.
optim_wrapper = dict(optimizer=dict(lr=2e-3), clip_grad=dict(max_norm=10.0))
auto_scale_lr = dict(base_batch_size=8)

default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(by_epoch=False, interval=max_iters),
    # Predictions drawn by `tools/test.py --show-dir` (the demo's predictions/ folder).
    visualization=dict(score_thr=0.5))
log_processor = dict(by_epoch=False, window_size=10)
randomness = dict(seed=0)
