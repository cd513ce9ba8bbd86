# ImageNet-1k classification with mmpretrain's Swin-style data pipeline (RandAugment m9
# mstd0.5, random erasing 0.25, bicubic resize, batch 64 per GPU) and AdamW schedule, with
# mmrest's backbones available; the recipes of configs/imagenet/ change what the papers change.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmrest'], allow_failed_imports=False)
