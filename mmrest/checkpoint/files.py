"""Reading checkpoint files: safely with torch >= 2.6 (where ``torch.load`` defaults to
``weights_only=True``), detectron2's ``.pkl`` with numpy arrays only, URLs with an error that
says what to do, and the one rule for what is a local path and what a missing file says.

mmengine 0.10.7 calls plain ``torch.load``. The authors' ImageNet files hold only tensors and
load as they are, but checkpoints that mmengine training writes also carry its message hub
(``HistoryBuffer``), numpy values and other plain objects, which the weights-only unpickler
refuses: resuming or testing would fail. mmrest replaces mmengine's loader for local files
with one that keeps ``weights_only=True`` and allows exactly those known types.
"""
import os
import os.path as osp
import pickle
import zipfile
from typing import Any, Callable, List, Optional

import numpy as np
import torch

from ..utils.compat import load_weights_only
from ..utils.paths import is_local_path, missing_checkpoint

# Set to 1 to load checkpoints with arbitrary pickled objects (trusted files only).
TRUST_ENV = 'MMREST_TRUST_CHECKPOINTS'
ZIP_MAGIC = b'PK\x03\x04'  # torch.save writes zip archives (since torch 1.6)


class CheckpointFileError(ValueError):
    """A checkpoint file that cannot be read: empty, cut short, or no checkpoint at all."""


def check_pretrained_exists(path: str, model_name: str) -> None:
    """Fail early, and helpfully, when a backbone's pretrained file does not exist."""
    if is_local_path(path) and not osp.isfile(osp.expanduser(path)):
        raise FileNotFoundError(missing_checkpoint(
            path, f'Pretrained checkpoint for {model_name}', 'model.backbone.init_cfg.checkpoint',
            'model.backbone.init_cfg'))


def check_file_complete(path: str) -> None:
    """Fail with the file's name when it is empty or a zip archive cut short (an
    interrupted download or copy), before torch reports it in its own words."""
    size = osp.getsize(path)
    if size == 0:
        raise CheckpointFileError(f'{path} is empty (0 bytes), not a checkpoint: download or '
                                  'copy it again')
    with open(path, 'rb') as f:
        head = f.read(len(ZIP_MAGIC))
    if head == ZIP_MAGIC and not zipfile.is_zipfile(path):
        raise CheckpointFileError(
            f'{path} is incomplete: it starts like a checkpoint (a zip archive) but ends '
            f'before the archive does ({size} bytes). It was probably cut short by an '
            'interrupted download or copy: fetch it again')


def _history_buffer_getattr(obj: Any, name: str) -> Any:
    """Stands in for ``builtins.getattr`` while unpickling.

    A pickled ``HistoryBuffer`` stores its statistics methods as ``getattr(HistoryBuffer,
    'mean')``; a general ``getattr`` would let a malicious file reach any method of any
    allowed class, so only those look-ups are honoured.
    """
    from mmengine.logging.history_buffer import HistoryBuffer
    # Built-in statistics, plus any registered with HistoryBuffer.register_statistics.
    allowed = {'mean', 'max', 'min', 'current'} | set(HistoryBuffer._statistics_methods)
    if obj is HistoryBuffer and name in allowed:
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f'refusing getattr({getattr(obj, "__name__", type(obj).__name__)}, {name!r}) while '
        'loading a checkpoint')


def trusted_globals() -> List[Any]:
    """Types found in checkpoints written by mmengine runners (besides tensors); mmengine's
    message-hub buffer only where mmengine is installed (with torch alone, a file holding one
    is refused like any other object)."""
    allowed: List[Any] = [np.ndarray, np.dtype, np.generic]
    try:
        from mmengine.logging.history_buffer import HistoryBuffer
    except ImportError:
        pass
    else:
        allowed += [HistoryBuffer, (_history_buffer_getattr, 'builtins.getattr')]
    # numpy pickles arrays and scalars through these reconstructors.
    try:  # numpy >= 2
        from numpy._core import multiarray
    except ImportError:
        from numpy.core import multiarray
    allowed += [multiarray._reconstruct, multiarray.scalar]
    allowed += [type(np.dtype(t)) for t in (
        'float16', 'float32', 'float64', 'int8', 'int16', 'int32', 'int64', 'uint8', 'bool')]
    allowed += [np.float16, np.float32, np.float64, np.int8, np.int16, np.int32, np.int64,
                np.uint8, np.bool_]
    return allowed


def _refused_by_safe_loader(error: Exception) -> bool:
    # torch's weights_only unpickler names the global it does not allow.
    return isinstance(error, pickle.UnpicklingError) and 'Unsupported global' in str(error)


def torch_load(file: Any, map_location: Optional[Any] = None) -> Any:
    """``torch.load`` with ``weights_only=True`` plus the types mmengine checkpoints need;
    a file that is no readable checkpoint raises :class:`CheckpointFileError` naming it."""
    name = file if isinstance(file, str) else 'the checkpoint'
    if isinstance(file, str):
        check_file_complete(file)
    try:
        return load_weights_only(file, map_location, trusted_globals())
    except Exception as error:  # noqa: BLE001 (re-raised with the file's name)
        if not _refused_by_safe_loader(error):
            raise CheckpointFileError(
                f'{name} is not a readable PyTorch checkpoint (damaged, cut short, or '
                f'another kind of file): {type(error).__name__}: {error}') from error
        if os.environ.get(TRUST_ENV) == '1':
            if hasattr(file, 'seek'):
                file.seek(0)
            return torch.load(file, map_location=map_location, weights_only=False)
        raise pickle.UnpicklingError(
            f'{name} contains Python objects that the safe (weights_only) loader does not '
            f'allow: {error}\nIf you trust this file, set {TRUST_ENV}=1 to load it '
            'with weights_only=False.') from error


def load_from_local(filename: str, map_location: Optional[Any] = None) -> Any:
    """Drop-in for ``mmengine.runner.checkpoint.load_from_local``."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(missing_checkpoint(filename))
    return torch_load(filename, map_location=map_location)


# What a detectron2 .pkl checkpoint may hold besides dicts, lists and plain values: numpy
# arrays (protocol 2 pickles name their reconstructors in numpy.core, numpy 2 in numpy._core).
_NUMPY_GLOBALS = {(module, name) for module in ('numpy.core.multiarray', 'numpy._core.multiarray')
                  for name in ('_reconstruct', 'scalar')} | {
                      ('numpy', 'ndarray'), ('numpy', 'dtype'), ('collections', 'OrderedDict')}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _NUMPY_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f'refusing {module}.{name}: a .pkl checkpoint is read with numpy arrays only')


def load_numpy_pickle(path: str) -> Any:
    """A detectron2-style ``.pkl`` checkpoint (``{'model': {name: numpy array}, ...}``) read
    without executing anything (only numpy arrays are rebuilt), its arrays as tensors."""
    check_file_complete(path)
    try:
        with open(path, 'rb') as f:
            loaded = _NumpyOnlyUnpickler(f, encoding='latin1').load()
    except pickle.UnpicklingError as error:
        raise CheckpointFileError(f'{path}: {error}') from error
    except Exception as error:  # noqa: BLE001 (re-raised with the file's name)
        raise CheckpointFileError(f'{path} is not a readable pickle: {type(error).__name__}: '
                                  f'{error}') from error

    def to_tensors(obj: Any) -> Any:
        if isinstance(obj, np.ndarray):
            return torch.from_numpy(np.array(obj, order='C'))  # (keeps 0-d arrays 0-d)
        if isinstance(obj, dict):
            return type(obj)((k, to_tensors(v)) for k, v in obj.items())
        return obj

    return to_tensors(loaded)


def read_checkpoint(path: str) -> Any:
    """A checkpoint file as it is: ``.pkl`` with :func:`load_numpy_pickle`, anything else
    with :func:`load_from_local`, on the CPU."""
    if path.endswith('.pkl'):
        if not osp.isfile(path):
            raise FileNotFoundError(missing_checkpoint(path))
        return load_numpy_pickle(path)
    return load_from_local(path, map_location='cpu')


def load_from_url(url: str, map_location: Optional[Any] = None) -> Any:
    """mmengine's ``load_from_http``; a download that fails (no network, a dead link) raises
    :class:`CheckpointFileError` naming the URL and the way around it."""
    from mmengine.runner.checkpoint import load_from_http
    try:
        return load_from_http(url, map_location=map_location)
    except OSError as error:  # urllib's URLError / HTTPError, socket errors
        reason = getattr(error, 'reason', None) or error
        raise CheckpointFileError(
            f'cannot download the checkpoint {url}: {reason}. Download the file by hand and '
            'point `checkpoint` at it (init_cfg, or load_from), e.g. --cfg-options '
            'model.backbone.init_cfg.checkpoint=/path/to/file.pth') from error


def install_checkpoint_loader() -> Callable:
    """Make mmengine's ``CheckpointLoader`` (``load_from``, ``resume``, ``init_cfg``
    Pretrained, ``tools/test.py``) use :func:`load_from_local` for local paths and
    :func:`load_from_url` for http(s) URLs."""
    from mmengine.runner.checkpoint import CheckpointLoader
    CheckpointLoader.register_scheme(prefixes='', loader=load_from_local, force=True)
    CheckpointLoader.register_scheme(prefixes=('http://', 'https://'), loader=load_from_url,
                                     force=True)
    return load_from_local
