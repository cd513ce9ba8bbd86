"""Checkpoints, the authors' and mmrest's: reading files, recognising the authors' published
files, their key names, and what fits a model (the one module for each of these; the backbones,
the tools and the converter call it).

- :mod:`.reading`: files (safe ``weights_only`` loading, detectron2 ``.pkl``, URLs, local paths
  and what a missing file says), installed into mmengine's ``CheckpointLoader``;
- :mod:`.names`: the authors' names and mmrest's, the ResT version and size of a state dict;
- :mod:`.loading`: what a checkpoint holds, loading reports, what fits a backbone or a model;
- :mod:`.official`: which published file a checkpoint is, and its conversion.
"""
from .loading import (
    CONVERTER,
    OPTIONAL_STATE,
    CheckpointMismatchError,
    LoadReport,
    adapt_rest_state_dict,
    check_checkpoint_fits,
    check_checkpoint_path,
    compact_keys,
    extract_state_dict,
    split_prefix,
)
from .names import (
    VERSION_NAMES,
    VERSION_TYPES,
    StateDict,
    arch_of,
    authors_backbone_renames,
    checkpoint_version,
    describe_arch,
    preset_of,
    rename_keys,
    rename_v1_official,
)
from .official import Conversion, OfficialFile, convert_official, recognise_official
from .reading import (
    TRUST_ENV,
    CheckpointFileError,
    install_checkpoint_loader,
    is_local_path,
    load_from_local,
    load_numpy_pickle,
    missing_checkpoint,
    read_checkpoint,
    torch_load,
)

__all__ = [
    'CONVERTER', 'OPTIONAL_STATE', 'CheckpointMismatchError', 'LoadReport',
    'adapt_rest_state_dict', 'check_checkpoint_fits', 'check_checkpoint_path', 'compact_keys',
    'extract_state_dict', 'split_prefix', 'VERSION_NAMES', 'VERSION_TYPES', 'StateDict',
    'arch_of', 'authors_backbone_renames', 'checkpoint_version', 'describe_arch', 'preset_of',
    'rename_keys', 'rename_v1_official', 'Conversion', 'OfficialFile', 'convert_official',
    'recognise_official', 'TRUST_ENV', 'CheckpointFileError', 'install_checkpoint_loader',
    'is_local_path', 'load_from_local', 'load_numpy_pickle', 'missing_checkpoint',
    'read_checkpoint', 'torch_load',
]
