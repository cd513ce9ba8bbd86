"""Checkpoints as files and state dicts, knowing nothing of the models that load them (the
backbones and :mod:`mmrest.converters` build on it):

- :mod:`.files`: reading files (safe ``weights_only`` loading, detectron2 ``.pkl``, URLs, local
  paths and what a missing, empty or cut-short file says), installed into mmengine's
  ``CheckpointLoader``;
- :mod:`.key_names`: the authors' key names and mmrest's, the ResT version and size a state dict's
  keys and shapes say;
- :mod:`.state_dict`: the tensors a checkpoint holds, a backbone's part of them, the authors'
  names in mmrest's, and the one comparison with a model's state dict;
- :mod:`.report`: what happened to every tensor of a loaded checkpoint.
"""
from .files import (
    TRUST_ENV,
    CheckpointFileError,
    check_pretrained_exists,
    install_checkpoint_loader,
    is_local_path,
    load_from_local,
    missing_checkpoint,
    read_checkpoint,
)
from .key_names import (
    V1_RENAMES,
    VERSION_NAMES,
    VERSION_TYPES,
    StateDict,
    authors_backbone_renames,
    checkpoint_version,
    describe_arch,
    preset_of,
    rename_keys,
    rename_v1_official,
)
from .report import LoadReport, compact_keys
from .state_dict import (
    CONVERTER,
    OPTIONAL_STATE,
    WEIGHTS_KEYS,
    CheckpointMismatchError,
    adapt_rest_state_dict,
    compare_state_dicts,
    extract_state_dict,
    required_missing,
    split_prefix,
)

__all__ = [
    'TRUST_ENV', 'CheckpointFileError', 'check_pretrained_exists', 'install_checkpoint_loader',
    'is_local_path', 'load_from_local', 'missing_checkpoint', 'read_checkpoint', 'V1_RENAMES',
    'VERSION_NAMES', 'VERSION_TYPES', 'StateDict', 'authors_backbone_renames',
    'checkpoint_version', 'describe_arch', 'preset_of', 'rename_keys', 'rename_v1_official',
    'LoadReport', 'compact_keys', 'CONVERTER', 'OPTIONAL_STATE', 'WEIGHTS_KEYS',
    'CheckpointMismatchError', 'adapt_rest_state_dict', 'compare_state_dicts',
    'extract_state_dict', 'required_missing', 'split_prefix',
]
