# The backbones of mmrest's detection and segmentation configs as the papers fine-tune them
# (the authors' ImageNet weights, drop path 0.1 for ResTv2-T and ResT-S; presets for the larger
# variants below), and how their parameters are decayed.
# Configs take them as `_base_.restv2_tiny` etc.; the frozen_stages / norm_eval / with_cp
# defaults (-1 / False / False) are the papers' settings.
# Override a checkpoint with --cfg-options model.backbone.init_cfg.checkpoint=/path/to/file.pth
restv2_tiny = dict(
    type='ResTV2',
    arch='tiny',
    drop_path_rate=0.1,
    init_cfg=dict(type='Pretrained', checkpoint='checkpoints/restv2_tiny_224.pth'))
rest_small = dict(
    type='ResT',
    arch='small',
    # The paper gives no detection rate for v1; use its ImageNet one (0.1/0.2/0.3 for S/B/L),
    # as ResTv2 does for its detectors.
    drop_path_rate=0.1,
    # The authors' ResT (v1) detectors (detectron2) normalise each output stage in the trunk:
    # the next stage receives the normalised map.
    norm_in_trunk=True,
    init_cfg=dict(type='Pretrained', checkpoint='checkpoints/rest_small.pth'))

# The larger variants: their arch, drop path (ResTv2 paper App. C.2; ResT v1: its ImageNet
# rates) and the authors' ImageNet checkpoint; everything else as above.
restv2_small = dict(restv2_tiny, arch='small', drop_path_rate=0.2,
                    init_cfg=dict(type='Pretrained',
                                  checkpoint='checkpoints/restv2_small_224.pth'))
restv2_base = dict(restv2_tiny, arch='base', drop_path_rate=0.3,
                   init_cfg=dict(type='Pretrained', checkpoint='checkpoints/restv2_base_224.pth'))
rest_base = dict(rest_small, arch='base', drop_path_rate=0.2,
                 init_cfg=dict(type='Pretrained', checkpoint='checkpoints/rest_base.pth'))
rest_large = dict(rest_small, arch='large', drop_path_rate=0.3,
                  init_cfg=dict(type='Pretrained', checkpoint='checkpoints/rest_large.pth'))

# Input normalisation as the authors trained each family. Their ResT (v1) detectors keep
# detectron2's defaults: BGR images, Caffe means, std 1. ResTv2 models (and every
# classifier and segmentor): RGB with ImageNet mean / std, mmdet's default.
detectron2_bgr_input = dict(mean=[103.53, 116.28, 123.675], std=[1.0, 1.0, 1.0],
                            bgr_to_rgb=False)
imagenet_rgb_input = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                          bgr_to_rgb=True)

# No weight decay on normalisation layers (every LayerNorm/BatchNorm, found by type: the
# stem's BatchNorms are not named "norm") nor on the biases of the PA position convs, as
# Swin's configs spare its position parameters; nor on the identity-initialised convs of
# attn_style='cwin', which decay would pull away from the identity.
rest_paramwise_cfg = dict(
    norm_decay_mult=0.,
    custom_keys={
        'pos.pa_conv.bias': dict(decay_mult=0.),
        'backbone.cwin': dict(decay_mult=0.),
    })

# The Mask2Former recipe's optimizer settings for a ResTv2 backbone (as mmdet's and mmseg's Swin
# Mask2Former configs): the backbone at 0.1x the lr; no weight decay on norms, position biases,
# CWin convs and the head's query / level embeddings. A custom key that matches a parameter
# replaces norm_decay_mult and the longest matching key wins, so the backbone's norms have keys
# of their own, longer than 'backbone' (ResTv2's names, the same for every arch).
mask2former_paramwise_cfg = dict(
    norm_decay_mult=0.0,
    custom_keys={
        'backbone': dict(lr_mult=0.1, decay_mult=1.0),
        **{key: dict(lr_mult=0.1, decay_mult=0.0) for key in (
            'backbone.stem.proj.1.', 'backbone.stem.proj.4.', 'backbone.stem.norm.',
            'backbone.patch_2.norm.', 'backbone.patch_3.norm.', 'backbone.patch_4.norm.',
            'backbone.norm0.', 'backbone.norm1.', 'backbone.norm2.', 'backbone.norm3.',
            '.norm1.weight', '.norm1.bias', '.norm2.weight', '.norm2.bias', 'attn.sr_norm.',
            'attn.up_norm.', 'pos.pa_conv.bias', 'backbone.cwin')},
        **{key: dict(lr_mult=1.0, decay_mult=0.0)
           for key in ('query_embed', 'query_feat', 'level_embed')},
    })
