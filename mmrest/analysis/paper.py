"""Speed figures of the ResT and ResTv2 papers, the reference the speed suite sets its
measured ratios against. All were measured by the authors on a V100 GPU (fp32, random input
size as stated); only the ratios between models are comparable with other hardware.
"""
from typing import Dict

# ResTv2 paper, Table 4: Mask R-CNN, COCO, 1280x800 input, frames per second.
MASK_RCNN_FPS: Dict[str, float] = {
    'ResTv2-T': 25.0, 'ResTv2-S': 21.3, 'ResTv2-B': 18.3,
    'Swin-T': 21.8, 'Swin-S': 17.4, 'ConvNeXt-T': 23.4, 'ResNet-50': 24.1, 'ResNet-101': 13.5,
}

# ResTv2 paper, Table 5: UperNet, ADE20K (512x512 crops), frames per second.
UPERNET_FPS: Dict[str, float] = {
    'ResTv2-T': 22.4, 'ResTv2-S': 20.0, 'ResTv2-B': 19.2,
    'Swin-T': 21.1, 'Swin-S': 14.7, 'ConvNeXt-T': 19.9, 'ConvNeXt-S': 15.3, 'ResNet-50': 23.4,
    'ResNet-101': 20.3,
}

# ImageNet classification at 224x224, images per second: ResTv2 paper Table 1 (ResTv2, Swin,
# ConvNeXt, ResT-B/L) and ResT paper Table 2 (ResT-Lite/S).
IMAGENET_THROUGHPUT: Dict[str, float] = {
    'ResTv2-T': 826, 'ResTv2-S': 687, 'ResTv2-B': 582, 'ResTv2-L': 415,
    'ResT-Lite': 1246, 'ResT-S': 1043, 'ResT-B': 673, 'ResT-L': 429,
    'Swin-T': 755, 'Swin-S': 437, 'ConvNeXt-T': 775, 'ConvNeXt-S': 447,
}

# ResTv2 paper, Table 4(a, b): Mask R-CNN + ResTv2-T, 1x schedule, fine-tuned with each
# attention style: time per iteration (ms) and FLOPs (G) by operator class.
ATTN_STYLE_MS: Dict[str, float] = {'global': 79.9, 'win': 149.6, 'cwin': 150.7, 'hwin': 135.9}
ATTN_STYLE_FLOPS_G: Dict[str, Dict[str, float]] = {
    'global': dict(conv=116.95, linear=75.70, matmul=36.66, others=0.42),
    'win': dict(conv=119.09, linear=82.00, matmul=3.69, others=0.47),
    'cwin': dict(conv=126.29, linear=82.00, matmul=3.69, others=0.47),
    'hwin': dict(conv=118.57, linear=79.71, matmul=20.17, others=0.45),
}

# The accuracy the papers report beside those speeds, for the speed-accuracy picture:
# ResTv2 paper Table 4 (Mask R-CNN 3x, box AP), Table 5 (UperNet, multi-scale mIoU), Table 1
# (ImageNet top-1 at 224; ResT-Lite/S from the ResT paper).
MASK_RCNN_BOX_AP: Dict[str, float] = {
    'ResTv2-T': 47.6, 'ResTv2-S': 48.1, 'ResTv2-B': 48.7,
    'Swin-T': 46.0, 'ConvNeXt-T': 46.2, 'ResNet-50': 41.0,
}
UPERNET_MIOU: Dict[str, float] = {
    'ResTv2-T': 47.3, 'ResTv2-S': 49.2, 'ResTv2-B': 49.6,
    'Swin-T': 45.8, 'ConvNeXt-T': 46.7, 'ResNet-50': 42.8,
}
IMAGENET_TOP1: Dict[str, float] = {
    'ResTv2-T': 82.3, 'ResTv2-S': 83.2, 'ResTv2-B': 83.7, 'ResTv2-L': 84.2,
    'ResT-Lite': 77.2, 'ResT-S': 79.6, 'ResT-B': 81.6, 'ResT-L': 83.6,
    'Swin-T': 81.3, 'ConvNeXt-T': 82.1,
}

# The ratios ResTv2-T should reach against its peers: the papers' own speed ratios.
TARGETS = [
    ('maskrcnn', 'Swin-T'), ('maskrcnn', 'ConvNeXt-T'), ('imagenet', 'Swin-T'),
    ('upernet', 'Swin-T'), ('upernet', 'ConvNeXt-T'),
]
