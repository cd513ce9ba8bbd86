"""The models for plain PyTorch, by name, with torch alone: ``restv2_tiny(checkpoint=PATH)``
builds ResTv2-T's ImageNet classifier (:mod:`.classifier`) and loads the authors' file as it
is (``restv2_tiny_224.pth``), their names translated, with a report of every tensor.

``out_indices=(0, 1, 2, 3)`` also builds the output norms of stages 1-3, for the per-stage
LayerNorm outputs (:meth:`~.classifier.ResTClassifierBase.forward_intermediates`); an
ImageNet file leaves them at their initial values (identity), as the OpenMMLab backbones do.
"""
import logging
from typing import Any, Dict, Mapping, Optional, Tuple, Type, Union

from ...checkpoint import LoadReport, extract_state_dict, read_checkpoint
from ...utils.aliases import PathLike
from .classifier import ResTClassifier, ResTClassifierBase, ResTV2Classifier

logger = logging.getLogger('mmrest')

# name -> (class, preset); timm's names (mmrest.timm registers the same).
MODELS: Dict[str, Tuple[Type[ResTClassifierBase], str]] = {
    **{f'rest_{arch}': (ResTClassifier, arch) for arch in ResTClassifier.arch_zoo},
    **{f'restv2_{arch}': (ResTV2Classifier, arch) for arch in ResTV2Classifier.arch_zoo},
}


def create_model(name: str, checkpoint: Union[PathLike, Mapping, None] = None,
                 **kwargs: Any) -> ResTClassifierBase:
    """The classifier ``name`` (one of :data:`MODELS`), with ``checkpoint`` loaded if given;
    ``kwargs`` go to the class (``num_classes``, ``in_chans``, ``drop_path_rate``,
    ``out_indices``, ...).

    Raises:
        KeyError: an unknown name (the message lists the known ones).
    """
    if name not in MODELS:
        raise KeyError(f'unknown model {name!r}; mmrest has {", ".join(MODELS)}')
    cls, arch = MODELS[name]
    model = cls(arch=arch, **kwargs)
    if checkpoint is not None:
        load_checkpoint(model, checkpoint)
    return model


def load_checkpoint(model: ResTClassifierBase, checkpoint: Union[PathLike, Mapping],
                    source: Optional[str] = None) -> LoadReport:
    """Load a classifier's checkpoint (a path or a loaded one) into ``model``: the authors'
    ImageNet files as they are, or mmrest's (see
    :meth:`~.classifier.ResTClassifierBase.classifier_state`). Never a partial load.
    Returns the report, also logged to the ``mmrest`` logger."""
    if isinstance(checkpoint, Mapping):
        source = source or 'the given checkpoint'
    else:
        source = source or str(checkpoint)
        checkpoint = read_checkpoint(str(checkpoint))
    state, report = model.classifier_state(extract_state_dict(checkpoint, source), source)
    model.load_state_dict(state)
    logger.info('%s: %s', type(model).__name__, report.summary())
    return report


def rest_lite(checkpoint: Union[PathLike, Mapping, None] = None, **kwargs: Any) -> ResTClassifier:
    """ResT-Lite (10.51M parameters); the authors' file: ``rest_lite.pth``."""
    return create_model('rest_lite', checkpoint, **kwargs)


def rest_small(checkpoint: Union[PathLike, Mapping, None] = None,
               **kwargs: Any) -> ResTClassifier:
    """ResT-Small (13.68M); the authors' file: ``rest_small.pth``."""
    return create_model('rest_small', checkpoint, **kwargs)


def rest_base(checkpoint: Union[PathLike, Mapping, None] = None, **kwargs: Any) -> ResTClassifier:
    """ResT-Base (30.33M); the authors' file: ``rest_base.pth``."""
    return create_model('rest_base', checkpoint, **kwargs)


def rest_large(checkpoint: Union[PathLike, Mapping, None] = None,
               **kwargs: Any) -> ResTClassifier:
    """ResT-Large (51.68M); the authors' file: ``rest_large.pth``."""
    return create_model('rest_large', checkpoint, **kwargs)


def restv2_tiny(checkpoint: Union[PathLike, Mapping, None] = None,
                **kwargs: Any) -> ResTV2Classifier:
    """ResTv2-T (30.43M); the authors' files: ``restv2_tiny_224.pth``, ``restv2_tiny_384.pth``."""
    return create_model('restv2_tiny', checkpoint, **kwargs)


def restv2_small(checkpoint: Union[PathLike, Mapping, None] = None,
                 **kwargs: Any) -> ResTV2Classifier:
    """ResTv2-S (41.21M); the authors' files: ``restv2_small_{224,384}.pth``."""
    return create_model('restv2_small', checkpoint, **kwargs)


def restv2_base(checkpoint: Union[PathLike, Mapping, None] = None,
                **kwargs: Any) -> ResTV2Classifier:
    """ResTv2-B (55.97M); the authors' files: ``restv2_base_{224,384}.pth``."""
    return create_model('restv2_base', checkpoint, **kwargs)


def restv2_large(checkpoint: Union[PathLike, Mapping, None] = None,
                 **kwargs: Any) -> ResTV2Classifier:
    """ResTv2-L (86.53M); the authors' files: ``restv2_large_{224,384}.pth``."""
    return create_model('restv2_large', checkpoint, **kwargs)
