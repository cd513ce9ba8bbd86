"""ResT and ResTv2 in timm: ``import mmrest.timm`` registers ``rest_lite``, ``rest_small``,
``rest_base``, ``rest_large``, ``restv2_tiny``, ``restv2_small``, ``restv2_base`` and
``restv2_large`` in timm's registry, with pretrained configs for the authors' ImageNet files
(``.in1k``, and ``.in1k_384`` for ResTv2's 384 files). The models are the classifiers of
:mod:`mmrest.models.networks.classifier`, the ones plain PyTorch gets.

The weights are on no hub: download the authors' file by hand (docs/authors_checkpoints.md)
and point timm at it::

    import timm
    import mmrest.timm  # noqa: F401
    model = timm.create_model('restv2_tiny', pretrained=True,
                              pretrained_cfg_overlay=dict(file='restv2_tiny_224.pth'))

The file loads as it is: its names go through mmrest's translation (the one the OpenMMLab
backbones use) in the pretrained filter. ``features_only=True`` gives the per-stage LayerNorm
outputs (timm's ``FeatureGetterNet``, over ``forward_intermediates``). Needs timm >= 1.0.3.
"""
import functools
import logging
import os.path as osp
from typing import Any, Dict

from .checkpoint import CONVERTER, CheckpointMismatchError, StateDict, missing_checkpoint
from .models.networks.classifier import ResTClassifierBase, take_indices
from .models.networks.rest import NUM_STAGES
from .models.networks.zoo import MODELS
from .utils.packages import require

require('timm', 'mmrest.timm')

from timm.models import (  # noqa: E402
    build_model_with_cfg,
    generate_default_cfgs,
    register_model,
    resolve_pretrained_cfg,
)

logger = logging.getLogger('mmrest')

PAPERS = {'rest': ('ResT: An Efficient Transformer for Visual Recognition', 'arXiv:2105.13677'),
          'restv2': ('ResT V2: Simpler, Faster and Stronger', 'arXiv:2204.07366')}
ORIGIN = 'https://github.com/wofmanaf/ResT'


def _cfg(name: str, file: str, size: int = 224) -> Dict[str, Any]:
    """The pretrained config of the authors' ImageNet file ``file``: 224 files evaluated
    with resize 256 and a centre crop, 384 ones resized to 384 x 384 (the authors' and mmrest's
    ``configs/imagenet`` pipelines), ImageNet mean and std, bicubic."""
    family = name.split('_')[0]
    crop = dict(crop_pct=0.875) if size == 224 else dict(crop_pct=1.0, crop_mode='squash')
    return dict(
        num_classes=1000, input_size=(3, size, size), pool_size=(size // 32, ) * 2,
        interpolation='bicubic', mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
        first_conv='stem.proj.0', classifier='head', origin_url=ORIGIN,
        paper_name=PAPERS[family][0], paper_ids=PAPERS[family][1],
        notes=(f"the authors' file {file}, on no hub: download it by hand and load it with "
               'pretrained_cfg_overlay=dict(file=PATH)', ), **crop)


# model.tag -> the authors' file
AUTHORS_FILES = {
    **{f'rest_{arch}.in1k': f'rest_{arch}.pth' for arch in ('lite', 'small', 'base', 'large')},
    **{f'restv2_{arch}.in1k{tail}': f'restv2_{arch}_{size}.pth'
       for arch in ('tiny', 'small', 'base', 'large')
       for tail, size in (('', 224), ('_384', 384))},
}
default_cfgs = generate_default_cfgs({
    tag: _cfg(tag.split('.')[0], file, 384 if tag.endswith('_384') else 224)
    for tag, file in AUTHORS_FILES.items()})


def _check_pretrained_source(variant: str, kwargs: Dict[str, Any]) -> None:
    """Before anything is built: one clear error for what timm would say less clearly (no
    file, a missing file, a detectron2 ``.pkl``)."""
    cfg = resolve_pretrained_cfg(variant, pretrained_cfg=kwargs.get('pretrained_cfg'),
                                 pretrained_cfg_overlay=dict(
                                     kwargs.get('pretrained_cfg_overlay') or {}))
    if cfg.state_dict is not None:
        return
    if not cfg.file:
        tag = f'{variant}.{cfg.tag}' if cfg.tag else variant
        raise RuntimeError(
            f"{tag}: mmrest's weights are on no hub, so pretrained=True needs the authors' "
            f"file: download {AUTHORS_FILES.get(tag, 'it')} by hand (mmrest's "
            'docs/authors_checkpoints.md) and pass '
            "pretrained_cfg_overlay=dict(file='/path/to/file.pth')")
    if not osp.isfile(cfg.file):
        raise FileNotFoundError(missing_checkpoint(cfg.file, f'pretrained file of {variant}'))
    if cfg.file.endswith('.pkl'):
        raise CheckpointMismatchError(
            f'{cfg.file} is a detectron2 checkpoint (.pkl), not an ImageNet classifier: the '
            f"timm models take the authors' ImageNet files; convert a detector with "
            f'`{CONVERTER}` and use it through the OpenMMLab configs')


def _filter_state(state_dict: StateDict, model: ResTClassifierBase) -> StateDict:
    """timm's ``pretrained_filter_fn``: the file's tensors in the model's names, through
    mmrest's translation (never a partial load)."""
    source = (getattr(model, 'pretrained_cfg', None) or {}).get('file') or 'the pretrained file'
    try:
        state, report = model.classifier_state(dict(state_dict), source,
                                               adapt_first_conv=False)
    except TypeError as error:  # timm would retry with one argument and hide it
        raise RuntimeError(f'translating {source} failed: {error}') from error
    logger.info('%s: %s', type(model).__name__, report.summary())
    return state


def _create(variant: str, pretrained: bool = False, **kwargs: Any) -> ResTClassifierBase:
    cls, arch = MODELS[variant]
    if pretrained:
        _check_pretrained_source(variant, kwargs)
    builder = functools.partial(cls, arch=arch)
    if kwargs.get('features_only'):
        # The output norm of every stage asked for (timm hands out_indices to the wrapper,
        # whose pruning drops the head and what else the outputs do not need).
        norms = set(take_indices(kwargs.get('out_indices', tuple(range(NUM_STAGES)))))
        builder = functools.partial(cls, arch=arch, out_indices=sorted(norms | {NUM_STAGES - 1}))
    return build_model_with_cfg(
        builder, variant, pretrained, pretrained_filter_fn=_filter_state,
        feature_cfg=dict(feature_cls='getter', out_indices=tuple(range(NUM_STAGES))),
        **kwargs)


@register_model
def rest_lite(pretrained: bool = False, **kwargs: Any) -> ResTClassifierBase:
    """ResT-Lite, 10.51M parameters (the authors' file: rest_lite.pth)."""
    return _create('rest_lite', pretrained, **kwargs)


@register_model
def rest_small(pretrained: bool = False, **kwargs: Any) -> ResTClassifierBase:
    """ResT-Small, 13.68M parameters (rest_small.pth)."""
    return _create('rest_small', pretrained, **kwargs)


@register_model
def rest_base(pretrained: bool = False, **kwargs: Any) -> ResTClassifierBase:
    """ResT-Base, 30.33M parameters (rest_base.pth)."""
    return _create('rest_base', pretrained, **kwargs)


@register_model
def rest_large(pretrained: bool = False, **kwargs: Any) -> ResTClassifierBase:
    """ResT-Large, 51.68M parameters (rest_large.pth)."""
    return _create('rest_large', pretrained, **kwargs)


@register_model
def restv2_tiny(pretrained: bool = False, **kwargs: Any) -> ResTClassifierBase:
    """ResTv2-T, 30.43M parameters (restv2_tiny_224.pth; .in1k_384: restv2_tiny_384.pth)."""
    return _create('restv2_tiny', pretrained, **kwargs)


@register_model
def restv2_small(pretrained: bool = False, **kwargs: Any) -> ResTClassifierBase:
    """ResTv2-S, 41.21M parameters (restv2_small_224.pth, restv2_small_384.pth)."""
    return _create('restv2_small', pretrained, **kwargs)


@register_model
def restv2_base(pretrained: bool = False, **kwargs: Any) -> ResTClassifierBase:
    """ResTv2-B, 55.97M parameters (restv2_base_224.pth, restv2_base_384.pth)."""
    return _create('restv2_base', pretrained, **kwargs)


@register_model
def restv2_large(pretrained: bool = False, **kwargs: Any) -> ResTClassifierBase:
    """ResTv2-L, 86.53M parameters (restv2_large_224.pth, restv2_large_384.pth)."""
    return _create('restv2_large', pretrained, **kwargs)
