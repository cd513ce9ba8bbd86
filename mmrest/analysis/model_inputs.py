"""Synthetic batches for any mmdet / mmseg / mmpretrain model, for FLOP counting and timing
without a dataset."""
from typing import List, Tuple

import torch


def make_data_samples(scope: str, batch_size: int, size: Tuple[int, int],
                      with_targets: bool = False, num_classes: int = 80) -> List:
    """Data samples with the meta information the models need at ``size`` (H, W); with
    ``with_targets`` also random ground truth, so that ``mode='loss'`` works."""
    h, w = size
    meta = dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w),
                batch_input_shape=(h, w), scale_factor=(1.0, 1.0))
    gen = torch.Generator().manual_seed(0)
    samples = []
    for _ in range(batch_size):
        if scope == 'mmdet':
            from mmdet.structures import DetDataSample
            from mmdet.structures.mask import BitmapMasks
            from mmengine.structures import InstanceData
            sample = DetDataSample(metainfo=meta)
            if with_targets:
                n = 4
                xy = torch.rand(n, 2, generator=gen) * torch.tensor([w * 0.6, h * 0.6])
                wh = (torch.rand(n, 2, generator=gen) * 0.3 + 0.1) * torch.tensor([w, h])
                boxes = torch.cat([xy, xy + wh], dim=1)
                masks = torch.zeros(n, h, w, dtype=torch.uint8)
                for i, (x1, y1, x2, y2) in enumerate(boxes.long().tolist()):
                    masks[i, y1:y2, x1:x2] = 1
                sample.gt_instances = InstanceData(
                    bboxes=boxes, labels=torch.randint(0, num_classes, (n, ), generator=gen),
                    masks=BitmapMasks(masks.numpy(), h, w))
        elif scope == 'mmseg':
            from mmengine.structures import PixelData
            from mmseg.structures import SegDataSample
            sample = SegDataSample(metainfo=meta)
            if with_targets:
                sample.gt_sem_seg = PixelData(
                    data=torch.randint(0, num_classes, (1, h, w), generator=gen))
        elif scope == 'mmpretrain':
            from mmpretrain.structures import DataSample
            sample = DataSample(metainfo=meta)
            if with_targets:
                sample.set_gt_label(int(torch.randint(0, num_classes, (1, ), generator=gen)))
        else:
            raise ValueError(f'unsupported scope {scope!r} (mmdet, mmseg or mmpretrain)')
        samples.append(sample)
    return samples


def num_classes_of(model: torch.nn.Module) -> int:
    """Number of classes of a detector / segmentor / classifier head (80 if unknown)."""
    for attr in ('roi_head.bbox_head.num_classes', 'bbox_head.num_classes',
                 'decode_head.num_classes', 'head.num_classes'):
        node = model
        for part in attr.split('.'):
            node = getattr(node, part, None)
        if isinstance(node, int):
            return node
    return 80
