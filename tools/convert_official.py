"""Convert an authors' ResT / ResTv2 ImageNet checkpoint into one that mmrest's ImageNet
classifier configs (configs/imagenet/*) load with ``load_from`` or ``tools/test.py``.

    python tools/convert_official.py restv2_tiny_224.pth checkpoints/restv2_t_in1k_mmpretrain.pth

Detection and segmentation configs need no conversion: they load the authors' file directly
through the backbone's ``init_cfg=dict(type='Pretrained', checkpoint=...)``.
"""
import argparse
import os
import os.path as osp
import sys
from typing import List, Optional

import torch

import mmrest  # noqa: F401  (weights_only-safe checkpoint loading)
from mmrest.models.checkpoint import convert_official_classifier
from mmrest.utils.checkpoint_io import load_from_local


def convert(src: str, dst: str) -> dict:
    """Convert ``src`` into ``dst``; returns the converted checkpoint."""
    converted = convert_official_classifier(load_from_local(src, map_location='cpu'),
                                            source=src)
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    torch.save(converted, dst)
    return converted


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help="the authors' checkpoint ({'model': state_dict})")
    parser.add_argument('dst', help='where to write the mmpretrain checkpoint')
    args = parser.parse_args(argv)
    converted = convert(args.src, args.dst)
    meta = converted['meta']
    print(f"{meta['backbone_type']} ({meta['arch']}): {len(converted['state_dict'])} tensors "
          f'written to {args.dst}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
