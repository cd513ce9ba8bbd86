"""The authors' published files: which one a checkpoint is (family, version, size) and the layout
of the mmrest config it belongs to (``tools/convert_official.py``).

The authors publish ImageNet classifiers (``{'model': state_dict}``), UperNet segmentors trained
with mmsegmentation 0.x (``{'meta', 'state_dict', ...}``, the backbone under ``backbone.``), and
Mask R-CNN / RetinaNet detectors trained with detectron2 (``{'model', ...}`` or ``.pkl``, the
backbone under ``backbone.bottom_up.``).
"""
import os.path as osp
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Tuple

from ..checkpoint import (
    V1_RENAMES,
    VERSION_NAMES,
    VERSION_TYPES,
    WEIGHTS_KEYS,
    CheckpointMismatchError,
    StateDict,
    authors_backbone_renames,
    checkpoint_version,
    compact_keys,
    describe_arch,
    extract_state_dict,
    preset_of,
    rename_keys,
    split_prefix,
)
from ..models.backbones import ResT, ResTV2

# Preset -> the letters of mmrest's config names.
_CONFIG_ARCH = {'lite': 'lite', 'tiny': 't', 'small': 's', 'base': 'b', 'large': 'l'}
FAMILY_NAMES = {'imagenet': 'ImageNet classifier',
                'upernet': 'UperNet on ADE20K (mmsegmentation 0.x)',
                'mask_rcnn': 'Mask R-CNN on COCO (detectron2)',
                'retinanet': 'RetinaNet on COCO (detectron2)'}
DETECTRON2_FAMILIES = ('mask_rcnn', 'retinanet')
# Where each family keeps the backbone.
_BACKBONE_PREFIX = {'imagenet': '', 'upernet': 'backbone.', 'mask_rcnn': 'backbone.bottom_up.',
                    'retinanet': 'backbone.bottom_up.'}
# The authors' detectron2 backbones name their output norms otherwise: ResT (v1) norm1 .. norm3
# (1-based, only for output stages) and norm (stage 4, always); ResTv2 norm_{i}.0 (a
# LayerNorm in an nn.Sequential).
_DETECTRON2_BACKBONE_RENAMES: Mapping[str, Tuple[Tuple[str, Any], ...]] = {
    'v1': tuple(V1_RENAMES) + (
        (r'^norm([1-3])\.', lambda m: f'norm{int(m[1]) - 1}.'), (r'^norm\.', 'norm3.')),
    'v2': ((r'^norm_([1-4])\.0\.', lambda m: f'norm{int(m[1]) - 1}.'), ),
}
# detectron2's FPN, RPN, RoI heads and RetinaNet head -> mmdet's (the configs of
# mask_rcnn_rest*.py and retinanet_rest*.py: RetinaNet's FPN starts at stage 2, P6 / P7 are
# its extra convs 3 and 4).
_DETECTRON2_RENAMES: Mapping[str, Tuple[Tuple[str, Any], ...]] = {
    'mask_rcnn': (
        (r'^backbone\.fpn_lateral([2-5])\.', lambda m: f'neck.lateral_convs.{int(m[1]) - 2}.conv.'),
        (r'^backbone\.fpn_output([2-5])\.', lambda m: f'neck.fpn_convs.{int(m[1]) - 2}.conv.'),
        (r'^proposal_generator\.rpn_head\.conv\.', 'rpn_head.rpn_conv.'),
        (r'^proposal_generator\.rpn_head\.objectness_logits\.', 'rpn_head.rpn_cls.'),
        (r'^proposal_generator\.rpn_head\.anchor_deltas\.', 'rpn_head.rpn_reg.'),
        (r'^roi_heads\.box_head\.fc([12])\.',
         lambda m: f'roi_head.bbox_head.shared_fcs.{int(m[1]) - 1}.'),
        (r'^roi_heads\.box_predictor\.cls_score\.', 'roi_head.bbox_head.fc_cls.'),
        (r'^roi_heads\.box_predictor\.bbox_pred\.', 'roi_head.bbox_head.fc_reg.'),
        (r'^roi_heads\.mask_head\.mask_fcn([1-4])\.',
         lambda m: f'roi_head.mask_head.convs.{int(m[1]) - 1}.conv.'),
        (r'^roi_heads\.mask_head\.deconv\.', 'roi_head.mask_head.upsample.'),
        (r'^roi_heads\.mask_head\.predictor\.', 'roi_head.mask_head.conv_logits.'),
    ),
    'retinanet': (
        (r'^backbone\.fpn_lateral([3-5])\.', lambda m: f'neck.lateral_convs.{int(m[1]) - 3}.conv.'),
        (r'^backbone\.fpn_output([3-5])\.', lambda m: f'neck.fpn_convs.{int(m[1]) - 3}.conv.'),
        (r'^backbone\.top_block\.p6\.', 'neck.fpn_convs.3.conv.'),
        (r'^backbone\.top_block\.p7\.', 'neck.fpn_convs.4.conv.'),
        (r'^head\.cls_subnet\.([0246])\.', lambda m: f'bbox_head.cls_convs.{int(m[1]) // 2}.conv.'),
        (r'^head\.bbox_subnet\.([0246])\.',
         lambda m: f'bbox_head.reg_convs.{int(m[1]) // 2}.conv.'),
        (r'^head\.cls_score\.', 'bbox_head.retina_cls.'),
        (r'^head\.bbox_pred\.', 'bbox_head.retina_reg.'),
    ),
}
# Buffers of detectron2's models that mmdet computes itself (older detectron2 saved them).
_DETECTRON2_BUFFERS = (r'^pixel_(mean|std)$', r'anchor_generator\.cell_anchors\.')
# What a converted file keeps of the meta of an mmseg 0.x checkpoint: its class names and
# palette, as mmseg 1.x names them.
_MMSEG0_DATASET_META = {'CLASSES': 'classes', 'PALETTE': 'palette'}


@dataclass
class OfficialFile:
    """Which of the authors' published files a checkpoint is."""
    family: str  # a key of FAMILY_NAMES
    version: str  # 'v1' or 'v2'
    arch: str  # the preset
    config: str  # the mmrest config it belongs to, relative to configs/

    def __str__(self) -> str:
        return (f"the authors' {VERSION_NAMES[self.version]} {self.arch} "
                f'{FAMILY_NAMES[self.family]}')


@dataclass
class Conversion:
    """One of the authors' files in mmrest's layout, and what was done to get there."""
    official: OfficialFile
    checkpoint: Dict[str, Any]  # what to save: {'state_dict', 'meta'}
    renamed: List[Tuple[str, str]] = field(default_factory=list)
    prefixed: Dict[str, int] = field(default_factory=dict)  # prefix -> tensors given it
    kept: int = 0  # tensors whose name stays
    # What the converted file leaves out, by reason.
    dropped: Dict[str, List[str]] = field(default_factory=dict)


def _published_config(family: str, version: str, arch: str, source: str) -> str:
    letters, name = _CONFIG_ARCH[arch], 'rest' if version == 'v1' else 'restv2'
    if family == 'imagenet':
        # The 384 fine-tuned files have the same tensors: the authors' file names tell them.
        size = '_384' if '384' in osp.basename(source) and version == 'v2' else ''
        return f'imagenet/{name}_{letters}_in1k{size}.py'
    if family == 'upernet':
        return f'upernet_{name}_{letters}_160k_ade20k.py'
    # The authors' ResT (v1) detectors are 1x, their ResTv2 ones 3x.
    return f'{family}_{name}_{letters}_{"1x" if version == "v1" else "3x"}.py'


def _backbone_renames(family: str, version: str) -> Tuple[Tuple[str, Any], ...]:
    if family in DETECTRON2_FAMILIES:
        return _DETECTRON2_BACKBONE_RENAMES[version]
    return authors_backbone_renames(version)


def recognise_official(checkpoint: object, source: str = 'checkpoint') -> OfficialFile:
    """Family, version and size of one of the authors' files, from its keys and shapes.

    Raises:
        CheckpointMismatchError: not one of the authors' files, or one in mmrest's layout
            already; the message says which.
    """
    state = extract_state_dict(checkpoint, source)
    if any(k.startswith('backbone.bottom_up.') for k in state):
        if any(k.startswith('roi_heads.') for k in state):
            family = 'mask_rcnn'
        elif any(k.startswith('head.cls_subnet.') for k in state):
            family = 'retinanet'
        else:
            raise CheckpointMismatchError(
                f'{source} is a detectron2 checkpoint but neither a Mask R-CNN (roi_heads.*) '
                'nor a RetinaNet (head.cls_subnet.*): not one the authors publish')
    elif any(k.startswith('backbone.') for k in state):
        backbone = split_prefix(state, 'backbone.')[0]
        if not any(re.match(r'^norm_\d\.', k) for k in backbone):
            raise CheckpointMismatchError(
                f"{source} is already in mmrest's layout (a backbone without the authors' "
                'output norms norm_1 .. norm_4): load it as it is, e.g. python tools/test.py '
                f'CONFIG {source}')
        if not any(k.startswith('decode_head.') for k in state):
            raise CheckpointMismatchError(
                f'{source} has a backbone but no decode head: not one of the files the '
                'authors publish (ImageNet classifiers, UperNet and detectron2 models)')
        family = 'upernet'
    else:
        family = 'imagenet'
    backbone = split_prefix(state, _BACKBONE_PREFIX[family])[0]
    version = checkpoint_version(backbone)
    if version is None:
        raise CheckpointMismatchError(
            f'{source} does not look like a ResT or ResTv2 checkpoint (none of the keys that '
            'identify a version, e.g. stem.conv1 / patch_embed_2 or stem.norm / attn.up)')
    cls = ResT if version == 'v1' else ResTV2
    renamed = rename_keys(backbone, _backbone_renames(family, version))[0]
    arch = preset_of(renamed, cls.arch_zoo)
    if arch is None:
        raise CheckpointMismatchError(
            f'{source} is a {VERSION_NAMES[version]} checkpoint of a size the authors do not '
            f'publish ({describe_arch(renamed)}; presets: {", ".join(cls.arch_zoo)})')
    return OfficialFile(family, version, arch, _published_config(family, version, arch, source))


def convert_official(checkpoint: object, source: str = 'checkpoint') -> Conversion:
    """One of the authors' files -> the layout its mmrest config (``OfficialFile.config``)
    loads with ``strict=True``.

    - ImageNet classifier -> mmpretrain ``ImageClassifier`` (``configs/imagenet/*``: backbone
      with ``out_indices=(3,)``, ``LinearClsHead``): the backbone under ``backbone.``, its final
      norm as ``backbone.norm3``, the classifier as ``head.fc``.
    - mmseg 0.x UperNet -> mmseg 1.x: the backbone's output norms ``norm_{i}`` become
      ``norm{i-1}``; the heads keep their names; the optimizer state is dropped; of the meta,
      the class names and palette are kept as ``dataset_meta``.
    """
    official = recognise_official(checkpoint, source)
    state = extract_state_dict(checkpoint, source)
    meta: Dict[str, Any] = {'converted_from': source, 'official': str(official),
                            'config': official.config,
                            'backbone_type': VERSION_TYPES[official.version],
                            'arch': official.arch}
    conversion = Conversion(official, {'state_dict': {}, 'meta': meta})
    converted = conversion.checkpoint['state_dict']
    if official.family == 'imagenet':
        head = [k for k in state if k.startswith('head.')]
        body, renamed = rename_keys({k: v for k, v in state.items() if k not in head},
                                    authors_backbone_renames(official.version))
        converted.update({'backbone.' + k: v for k, v in body.items()})
        converted.update({'head.fc.' + k[len('head.'):]: state[k] for k in head})
        conversion.renamed = [(a, 'backbone.' + b) for a, b in renamed] + [
            (k, 'head.fc.' + k[len('head.'):]) for k in head]
        conversion.prefixed['backbone.'] = len(body) - len(renamed)
    elif official.family in DETECTRON2_FAMILIES:
        _convert_detectron2(state, official, conversion, source)
    else:
        backbone, outside = split_prefix(state, 'backbone.')
        backbone, renamed = rename_keys(backbone, authors_backbone_renames(official.version))
        converted.update({'backbone.' + k: v for k, v in backbone.items()})
        converted.update({k: state[k] for k in outside})
        conversion.renamed = [('backbone.' + a, 'backbone.' + b) for a, b in renamed]
        conversion.kept = len(converted) - len(renamed)
        if isinstance(checkpoint, Mapping):
            theirs = checkpoint.get('meta')
            if isinstance(theirs, Mapping):
                dataset_meta = {ours: theirs[key] for key, ours in _MMSEG0_DATASET_META.items()
                                if key in theirs}
                if dataset_meta:
                    meta['dataset_meta'] = dataset_meta
                rest = [k for k in theirs if k not in _MMSEG0_DATASET_META]
                if rest:
                    conversion.dropped["meta of mmseg 0.x's run (kept: CLASSES and PALETTE "
                                       "as dataset_meta)"] = rest
    if isinstance(checkpoint, Mapping) and any(k in checkpoint for k in WEIGHTS_KEYS):
        read = WEIGHTS_KEYS + (('meta', ) if official.family == 'upernet' else ())
        extra = [k for k in checkpoint if k not in read]
        if extra:
            conversion.dropped['training state and metadata, not needed to evaluate or '
                               'fine-tune'] = extra
    return conversion


def _convert_detectron2(state: StateDict, official: OfficialFile, conversion: Conversion,
                        source: str) -> None:
    """detectron2 names -> mmdet's, into ``conversion``; a tensor without a counterpart
    raises (nothing is dropped silently)."""
    prefix = _BACKBONE_PREFIX[official.family]
    backbone, outside = split_prefix(state, prefix, required=True, source=source)
    backbone, renamed = rename_keys(backbone, _backbone_renames(official.family, official.version))
    others, renamed_others = rename_keys({k: state[k] for k in outside},
                                         _DETECTRON2_RENAMES[official.family])
    unmatched = set(outside) - {old for old, _ in renamed_others}
    buffers = [k for k in unmatched if any(re.search(p, k) for p in _DETECTRON2_BUFFERS)]
    unknown = sorted(unmatched - set(buffers))
    if unknown:
        raise CheckpointMismatchError(
            f'{source}: {len(unknown)} tensors of this detectron2 {official.family} have no '
            f'counterpart in mmdet\'s model: {compact_keys(unknown)}')
    if buffers:
        conversion.dropped["detectron2's buffers, which mmdet computes (pixel mean / std, "
                           'anchors)'] = sorted(buffers)
    converted = conversion.checkpoint['state_dict']
    converted.update({'backbone.' + k: v for k, v in backbone.items()})
    converted.update({k: v for k, v in others.items() if k not in buffers})
    theirs = {new: old for old, new in renamed}
    conversion.renamed = [(prefix + theirs.get(k, k), 'backbone.' + k) for k in backbone]
    conversion.renamed += renamed_others
