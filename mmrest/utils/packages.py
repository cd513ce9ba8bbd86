"""Which optional packages are here, and what to say when one is missing.

mmrest needs torch and mmengine. The OpenMMLab task packages are extras: mmdet (``det``),
mmsegmentation (``seg``) and mmpretrain (``cls``); mmrest registers its classes into those that
import, and a config or tool that needs a missing one fails with :class:`MissingPackageError`,
which names the package and the extra to install.
"""
import functools
import importlib
from types import ModuleType
from typing import NamedTuple, Optional, Tuple

from .compat import TORCH_VERSION_STRING


class TaskPackage(NamedTuple):
    module: str  # what Python imports
    distribution: str  # what pip installs
    extra: str  # mmrest's extra that brings it


TASK_PACKAGES = {
    'mmdet': TaskPackage('mmdet', 'mmdet', 'det'),
    'mmseg': TaskPackage('mmseg', 'mmsegmentation', 'seg'),
    'mmpretrain': TaskPackage('mmpretrain', 'mmpretrain', 'cls'),
}
# The task packages whose models run mmcv's compiled ops (RoIAlign, NMS, ...).
NEEDS_MMCV_OPS = ('mmdet', 'mmseg')


class MissingPackageError(ImportError):
    """An optional package that a config, tool or class needs is not installed (or does not
    import)."""


def first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f'{type(error).__name__}: {text[0] if text else ""}'.rstrip(': ')


@functools.lru_cache(maxsize=None)
def _import_registry(package: str) -> Tuple[Optional[ModuleType], str]:
    """(``package.registry``, '') if it imports, else (None, why not)."""
    try:
        return importlib.import_module(f'{package}.registry'), ''
    except ModuleNotFoundError as error:
        if error.name in (package, f'{package}.registry'):
            return None, 'not installed'
        return None, f'installed, but importing it failed: {first_line(error)}'
    except Exception as error:  # noqa: BLE001 (e.g. mmdet's assertion on the mmcv version)
        return None, f'installed, but importing it failed: {first_line(error)}'


def task_registry(package: str, name: str):
    """``<package>.registry.<name>`` (e.g. mmdet's MODELS), or None where the package does
    not import."""
    module, _ = _import_registry(package)
    return None if module is None else getattr(module, name)


def is_available(package: str) -> bool:
    return _import_registry(package)[0] is not None


def install_hint(package: str) -> str:
    info = TASK_PACKAGES[package]
    return f'pip install "mmrest[{info.extra}]" (or pip install {info.distribution})'


def require(package: str, needed_by: str) -> ModuleType:
    """``package`` imported, or :class:`MissingPackageError` naming it, why it is missing and
    how to install it; for mmdet and mmseg, mmcv's compiled ops must load too."""
    if package not in TASK_PACKAGES:
        return importlib.import_module(package)
    module, reason = _import_registry(package)
    if module is None:
        raise MissingPackageError(
            f'{needed_by} needs {TASK_PACKAGES[package].distribution}, which is {reason}: '
            f'{install_hint(package)}')
    if package in NEEDS_MMCV_OPS:
        check_mmcv_ops(needed_by)
    return importlib.import_module(package)


@functools.lru_cache(maxsize=None)
def _mmcv_ops_problem() -> str:
    try:
        import mmcv
    except ImportError as error:
        return f'mmcv is not installed ({first_line(error)})'
    try:
        importlib.import_module('mmcv.ops')
    except ImportError as error:
        text = str(error)
        if 'undefined symbol' in text or '_ext' in text:
            return (f'mmcv {mmcv.__version__} cannot load its compiled ops; it was built '
                    f'without them or for another torch than this torch {TORCH_VERSION_STRING} '
                    f'({first_line(error)}). Rebuild it for this torch: bash '
                    'scripts/setup_env.sh (MMREST_TORCH=... for another torch), or pip '
                    f'install --force-reinstall --no-binary mmcv mmcv=={mmcv.__version__}')
        return f'mmcv.ops does not import ({first_line(error)})'
    return ''


def check_mmcv_ops(needed_by: str) -> None:
    """Fail in one paragraph when mmcv's compiled ops do not load (missing, or built for
    another torch), before a model needs them deep inside a build."""
    problem = _mmcv_ops_problem()
    if problem:
        raise MissingPackageError(f'{needed_by} needs mmcv with its compiled ops: {problem}')
