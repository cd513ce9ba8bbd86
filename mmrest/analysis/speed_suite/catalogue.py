"""What the speed suite compares: the configs of each part (ResTv2 and mmrest's own first, then
the peers the papers compare with), and the papers' figures set beside the measurements."""
from typing import Dict

from .. import paper

# name -> config; ResTv2 and mmrest's own configs first, then the peers the papers compare with.
MASK_RCNN_MODELS: Dict[str, str] = {
    'ResTv2-T': 'mmrest::mask_rcnn_restv2_t_3x.py',
    'ResTv2-S': 'mmrest::mask_rcnn_restv2_s_3x.py',
    'ResTv2-B': 'mmrest::mask_rcnn_restv2_b_3x.py',
    'Swin-T': 'mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_ms-crop-3x_coco.py',
    'ConvNeXt-T': 'mmdet::convnext/mask-rcnn_convnext-t-p4-w7_fpn_amp-ms-crop-3x_coco.py',
    'ResNet-50': 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py',
}
UPERNET_MODELS: Dict[str, str] = {
    'ResTv2-T': 'mmrest::upernet_restv2_t_160k_ade20k.py',
    'ResTv2-S': 'mmrest::upernet_restv2_s_160k_ade20k.py',
    'ResTv2-B': 'mmrest::upernet_restv2_b_160k_ade20k.py',
    'Swin-T': 'mmseg::swin/swin-tiny-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-512x512.py',
    'ConvNeXt-T': 'mmseg::convnext/convnext-tiny_upernet_8xb2-amp-160k_ade20k-512x512.py',
}
IMAGENET_MODELS: Dict[str, str] = {
    'ResTv2-T': 'mmrest::imagenet/restv2_t_in1k.py',
    'ResTv2-S': 'mmrest::imagenet/restv2_s_in1k.py',
    'ResTv2-B': 'mmrest::imagenet/restv2_b_in1k.py',
    'ResTv2-L': 'mmrest::imagenet/restv2_l_in1k.py',
    'ResT-Lite': 'mmrest::imagenet/rest_lite_in1k.py',
    'ResT-S': 'mmrest::imagenet/rest_s_in1k.py',
    'ResT-B': 'mmrest::imagenet/rest_b_in1k.py',
    'ResT-L': 'mmrest::imagenet/rest_l_in1k.py',
    'Swin-T': 'mmpretrain::swin_transformer/swin-tiny_16xb64_in1k.py',
    'ConvNeXt-T': 'mmpretrain::convnext/convnext-tiny_32xb128_in1k.py',
}
# Not in the papers: the recipes researchers compare backbones with today (mmdet / mmseg).
CASCADE_MODELS: Dict[str, str] = {
    'ResTv2-T': 'mmrest::cascade_mask_rcnn_restv2_t_3x.py',
    'ResTv2-S': 'mmrest::cascade_mask_rcnn_restv2_s_3x.py',
    'ResTv2-B': 'mmrest::cascade_mask_rcnn_restv2_b_3x.py',
    'ConvNeXt-T': 'mmdet::convnext/cascade-mask-rcnn_convnext-t-p4-w7_fpn_4conv1fc-giou_amp-'
                  'ms-crop-3x_coco.py',
    'ResNet-50': 'mmdet::cascade_rcnn/cascade-mask-rcnn_r50_fpn_1x_coco.py',
}
MASK2FORMER_COCO_MODELS: Dict[str, str] = {
    'ResTv2-T': 'mmrest::mask2former_restv2_t_lsj_50e_coco.py',
    'ResTv2-S': 'mmrest::mask2former_restv2_s_lsj_50e_coco.py',
    'ResTv2-B': 'mmrest::mask2former_restv2_b_lsj_50e_coco.py',
    'Swin-T': 'mmdet::mask2former/mask2former_swin-t-p4-w7-224_8xb2-lsj-50e_coco.py',
    'ResNet-50': 'mmdet::mask2former/mask2former_r50_8xb2-lsj-50e_coco.py',
}
MASK2FORMER_ADE_MODELS: Dict[str, str] = {
    'ResTv2-T': 'mmrest::mask2former_restv2_t_160k_ade20k.py',
    'ResTv2-S': 'mmrest::mask2former_restv2_s_160k_ade20k.py',
    'ResTv2-B': 'mmrest::mask2former_restv2_b_160k_ade20k.py',
    'Swin-T': 'mmseg::mask2former/mask2former_swin-t_8xb2-160k_ade20k-512x512.py',
    'ResNet-50': 'mmseg::mask2former/mask2former_r50_8xb2-160k_ade20k-512x512.py',
}
ATTN_STYLE_CONFIG = 'mmrest::mask_rcnn_restv2_t_1x.py'
TRAINING_CONFIG = 'mmrest::mask_rcnn_restv2_t_3x.py'
PEERS = ('Swin-T', 'ConvNeXt-T')  # the ratio columns

# part -> (the papers' speed figures, their unit)
PAPER_FIGURES = {
    'maskrcnn': (paper.MASK_RCNN_FPS, 'FPS'),
    'upernet': (paper.UPERNET_FPS, 'FPS'),
    'imagenet': (paper.IMAGENET_THROUGHPUT, 'images/s'),
}

# part -> (the papers' accuracy, its name) for the speed-accuracy picture
ACCURACY = {'maskrcnn': (paper.MASK_RCNN_BOX_AP, 'box AP (Mask R-CNN 3x, paper)'),
            'upernet': (paper.UPERNET_MIOU, 'mIoU (UperNet, ms, paper)'),
            'imagenet': (paper.IMAGENET_TOP1, 'top-1 % (ImageNet, paper)')}
PARTS_TITLES = {'maskrcnn': 'Mask R-CNN FPS', 'upernet': 'UperNet FPS',
                'imagenet': 'ImageNet throughput'}
