"""The authors' released checkpoints and mmrest's own: recognising, renaming and checking them.

The authors publish ImageNet classifiers (``{'model': state_dict}``) and UperNet segmentors
trained with mmsegmentation 0.x (``{'meta', 'state_dict', ...}``, the backbone under
``backbone.``). ResTv2 key names are mmrest's own; ResT v1 names are renamed (``stem.conv1`` ->
``stem.proj.0``, ``patch_embed_2.conv`` -> ``patch_2.proj``, ...). The output LayerNorms of the
authors' segmentation backbone, ``norm_1 .. norm_4``, are mmrest's ``norm0 .. norm3``. The final
``norm`` of the classifier becomes the LayerNorm on the last stage output (``norm3``); the
classifier ``head`` is not part of a backbone.

A file reaches a backbone in two ways, and both go through :func:`adapt_rest_state_dict`:
``init_cfg`` Pretrained (``load_pretrained``, which reports every tensor) and
``load_state_dict`` on a whole model (mmengine's ``load_from``, the test tools, the
inferencers), where the backbone's load hook puts its part of the state dict into its own
names and refuses a part that does not fit. :func:`convert_official` writes any of the
authors' files in the layout of the mmrest config it belongs to (``tools/convert_official.py``).
"""
import os.path as osp
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import torch

StateDict = Dict[str, torch.Tensor]

# Renames from the authors' ResT (v1) layout to mmrest's (shared with ResTv2).
_V1_OFFICIAL_RENAMES: Sequence[Tuple[str, str]] = (
    (r'^stem\.conv1\.', 'stem.proj.0.'),
    (r'^stem\.norm1\.', 'stem.proj.1.'),
    (r'^stem\.conv2\.', 'stem.proj.3.'),
    (r'^stem\.norm2\.', 'stem.proj.4.'),
    (r'^stem\.conv3\.', 'stem.proj.6.'),
    (r'^patch_embed_(\d)\.conv\.', r'patch_\1.proj.'),
    (r'^patch_embed_(\d)\.', r'patch_\1.'),
)
# The output norms of the authors' downstream backbones (mmseg 0.x: norm_{i}, 1-based).
_OUTPUT_NORM_RENAMES: Sequence[Tuple[str, Any]] = (
    (r'^norm_([1-4])\.', lambda m: f'norm{int(m[1]) - 1}.'),
)
# A checkpoint may lack these without being of another model (older torch, BN bookkeeping).
OPTIONAL_STATE = ('num_batches_tracked', )
# Where an error names the converter.
CONVERTER = 'python tools/convert_official.py SRC DST --config CONFIG'

# Keys that only one version has, in either the authors' or mmrest's layout.
_VERSION_MARKERS: Mapping[str, Sequence[str]] = {
    'v1': (r'^stem\.conv1\.', r'^patch_embed_\d\.', r'\.attn\.transform_conv\.',
           r'^patch_\d\.norm\.running_mean$'),
    'v2': (r'^stem\.norm\.', r'\.attn\.up\.0\.', r'\.attn\.up_norm\.'),
}
VERSION_NAMES = {'v1': 'ResT (v1)', 'v2': 'ResTv2'}
VERSION_TYPES = {'v1': 'ResT', 'v2': 'ResTV2'}


class CheckpointMismatchError(ValueError):
    """The checkpoint does not belong to this backbone (other version or other size)."""


@dataclass
class LoadReport:
    """What happened to every tensor of a checkpoint loaded into a backbone."""
    source: str
    loaded: List[str] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)
    # Layers an ImageNet classifier does not have (output norms of stages 1-3, CWin convs):
    # expected to start from their initial values, so reported quietly.
    new: List[str] = field(default_factory=list)
    # Keys deliberately left out, by reason (classifier head, other parts of a detector).
    skipped: Dict[str, List[str]] = field(default_factory=dict)
    # The authors' names put into mmrest's: (theirs, ours).
    renamed: List[Tuple[str, str]] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.missing and not self.unexpected

    def summary(self) -> str:
        lines = [f'loaded {len(self.loaded)} tensors from {self.source}']
        if self.renamed:
            shown = ', '.join(f'{a} -> {b}' for a, b in self.renamed[:4])
            more = f', ... ({len(self.renamed) - 4} more)' if len(self.renamed) > 4 else ''
            lines.append(f"renamed {len(self.renamed)} tensors from the authors' names: "
                         f'{shown}{more}')
        for reason, keys in self.skipped.items():
            lines.append(f'skipped {len(keys)} tensors ({reason}): {compact_keys(keys)}')
        if self.new:
            lines.append(f'initialised {len(self.new)} tensors that an ImageNet classifier does '
                         f'not have: {compact_keys(self.new)}')
        if self.missing:
            lines.append(f'MISSING in the checkpoint, left at their initial values '
                         f'({len(self.missing)}): {compact_keys(self.missing)}')
        if self.unexpected:
            lines.append(f'UNEXPECTED in the checkpoint, not loaded ({len(self.unexpected)}): '
                         f'{compact_keys(self.unexpected)}')
        return '\n  '.join(lines)


def compact_keys(keys: Sequence[str], limit: int = 12) -> str:
    """Group keys by module (``stage3.*.attn.up_norm.weight``) so long lists stay readable."""
    grouped: Dict[str, List[str]] = {}
    for key in keys:
        grouped.setdefault(re.sub(r'\.\d+\.', '.*.', key), []).append(key)
    items = [f'{pattern} (x{len(members)})' if len(members) > 1 else members[0]
             for pattern, members in grouped.items()]
    more = f', ... and {len(items) - limit} more' if len(items) > limit else ''
    return ', '.join(items[:limit]) + more


# Where checkpoints keep their tensors (mmengine, the authors' and detectron2's, DDP's).
_WEIGHTS_KEYS = ('state_dict', 'model', 'module')


def extract_state_dict(checkpoint: object, source: str = 'checkpoint') -> StateDict:
    """The tensors of a checkpoint, whatever wraps them (authors' ``model``, mmengine
    ``state_dict``, DDP ``module.`` prefix)."""
    state = checkpoint
    if isinstance(state, Mapping):
        for wrapper in _WEIGHTS_KEYS:
            if wrapper in state and isinstance(state[wrapper], Mapping):
                state = state[wrapper]
                break
    if not isinstance(state, Mapping) or not state or not all(
            isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointMismatchError(
            f'{source} holds no state dict (expected a dict of tensors, or one under the key '
            "'model' or 'state_dict')")
    return {re.sub(r'^module\.', '', k): v for k, v in state.items()}


def split_prefix(state: StateDict, prefix: str = 'backbone.', required: bool = False,
                 source: str = 'checkpoint') -> Tuple[StateDict, List[str]]:
    """The tensors under ``prefix`` (prefix removed) and the keys left aside. Without any key
    under it, the whole state (a bare backbone's checkpoint) unless ``required``."""
    if not any(k.startswith(prefix) for k in state):
        if required:
            raise CheckpointMismatchError(f'{source} has no tensor under the prefix {prefix!r}')
        return dict(state), []
    inside = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    return inside, [k for k in state if not k.startswith(prefix)]


def checkpoint_version(state: Mapping[str, object]) -> Optional[str]:
    """'v1', 'v2' or None, from keys that only one ResT version has."""
    found = {
        version
        for version, patterns in _VERSION_MARKERS.items()
        if any(re.search(p, k) for p in patterns for k in state)
    }
    return found.pop() if len(found) == 1 else None


def rename_keys(state: StateDict, rules: Sequence[Tuple[str, Any]]
                ) -> Tuple[StateDict, List[Tuple[str, str]]]:
    """``state`` with the first matching ``(pattern, replacement)`` rule applied to each key,
    and the ``(old, new)`` pairs it changed."""
    renamed, changes = {}, []
    for key, value in state.items():
        new_key = key
        for pattern, repl in rules:
            new_key, count = re.subn(pattern, repl, key)
            if count:
                break
        if new_key != key:
            changes.append((key, new_key))
        renamed[new_key] = value
    return renamed, changes


def rename_v1_official(state: StateDict) -> StateDict:
    """Authors' ResT (v1) key names -> mmrest's."""
    return rename_keys(state, _V1_OFFICIAL_RENAMES)[0]


def authors_backbone_renames(version: str) -> Tuple[Tuple[str, Any], ...]:
    """Rules from the names of the authors' ResT (v1) or ResTv2 backbones (classifier or
    downstream) to mmrest's."""
    return tuple(_V1_OFFICIAL_RENAMES if version == 'v1' else ()) + tuple(_OUTPUT_NORM_RENAMES)


def arch_of(state: Mapping[str, torch.Tensor]) -> Tuple[List[Any], List[int]]:
    """embed_dims (``'?'`` where unknown) and depths read off a ResT state dict."""
    dims: List[Any] = []
    depths = []
    for stage in range(1, 5):
        blocks = {
            int(m.group(1))
            for k in state for m in [re.match(rf'^stage{stage}\.(\d+)\.', k)] if m
        }
        weight = state.get(f'stage{stage}.0.norm1.weight')
        dims.append(int(weight.shape[0]) if weight is not None else '?')
        depths.append(max(blocks) + 1 if blocks else 0)
    return dims, depths


def preset_of(state: Mapping[str, torch.Tensor],
              arch_zoo: Mapping[str, Mapping[str, Sequence[int]]]) -> Optional[str]:
    """The name of the preset whose embed_dims and depths ``state`` has, if any."""
    return _preset(*arch_of(state), arch_zoo)


def _preset(dims: List[Any], depths: List[int],
            arch_zoo: Mapping[str, Mapping[str, Sequence[int]]]) -> Optional[str]:
    for name, settings in arch_zoo.items():
        if list(settings['embed_dims']) == dims and list(settings['depths']) == depths:
            return name
    return None


def describe_arch(state: Mapping[str, torch.Tensor],
                  arch_zoo: Optional[Mapping[str, Mapping[str, Sequence[int]]]] = None) -> str:
    """embed_dims and depths read off a ResT state dict, and the preset they are (for error
    messages)."""
    dims, depths = arch_of(state)
    preset = _preset(dims, depths, arch_zoo) if arch_zoo else None
    return f'embed_dims={dims}, depths={depths}' + (f" (arch '{preset}')" if preset else '')


def adapt_rest_state_dict(state: StateDict, model_state: Mapping[str, torch.Tensor],
                          version: str, report: LoadReport) -> Tuple[StateDict, List[str]]:
    """A ResT / ResTv2 checkpoint (the authors' classifier or downstream backbone, or mmrest's)
    in the names of a backbone of ``version``, and the patterns of the tensors such a
    checkpoint does not have by design. Renames go to ``report.renamed``, tensors left out
    to ``report.skipped``.

    Raises:
        CheckpointMismatchError: the checkpoint is of the other ResT version.
    """
    found = checkpoint_version(state)
    if found is not None and found != version:
        raise CheckpointMismatchError(
            f'{report.source} is a {VERSION_NAMES[found]} checkpoint but the model is '
            f"{VERSION_NAMES[version]}: use type='{VERSION_TYPES[found]}' for it, or the "
            f'{VERSION_NAMES[version]} checkpoint.')
    head = [k for k in state if k.startswith('head.')]
    if head:
        report.skipped['ImageNet classifier head'] = head
        state = {k: v for k, v in state.items() if not k.startswith('head.')}
    # The classifier's final LayerNorm acts on the last stage output, like norm3 here.
    from_classifier = bool(head) or 'norm.weight' in state
    state, renamed = rename_keys(state,
                                 authors_backbone_renames(version) + ((r'^norm\.', 'norm3.'), ))
    report.renamed.extend(renamed)
    theirs = {new: old for old, new in renamed}
    unused_norms = [k for k in state
                    if re.match(r'^norm\d\.', k) and k.split('.')[0] + '.weight' not in model_state]
    if unused_norms:
        report.skipped['output norm of a stage that is not in out_indices'] = [
            theirs.get(k, k) for k in unused_norms]
        state = {k: v for k, v in state.items() if k not in unused_norms}
    # An ImageNet classifier has no output norms of stages 1-3; the CWin convs of
    # attn_style='cwin' are fine-tuning additions.
    new = [r'^cwin\d\.'] + ([r'^norm[0-2]\.'] if from_classifier else [])
    return state, new


def check_checkpoint_path(path: str, model_name: str) -> None:
    """Fail early, and helpfully, when a local checkpoint file does not exist."""
    if '://' in path or path.startswith(('open-mmlab:', 'mmcls:', 'torchvision:')):
        return
    if not osp.isfile(osp.expanduser(path)):
        raise FileNotFoundError(
            f'Pretrained checkpoint for {model_name} not found: {path!r}. Download the '
            "authors' ImageNet checkpoint and point init_cfg.checkpoint at it, e.g. "
            '--cfg-options model.backbone.init_cfg.checkpoint=/path/to/file.pth, or set '
            'init_cfg=None to train from scratch.')



# ----------------------------------------------------------------- the authors' published files
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
    'v1': tuple(_V1_OFFICIAL_RENAMES) + (
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
    from .backbones import ResT, ResTV2  # the presets (the backbones import this module)
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
                                    authors_backbone_renames(official.version) +
                                    ((r'^norm\.', 'norm3.'), ))
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
    if isinstance(checkpoint, Mapping) and any(k in checkpoint for k in _WEIGHTS_KEYS):
        read = _WEIGHTS_KEYS + (('meta', ) if official.family == 'upernet' else ())
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
