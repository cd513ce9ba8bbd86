"""Which optional packages are here, and what to say when one is missing.

mmrest needs torch alone: the networks, their plain-PyTorch models and the checkpoint reading.
Everything else is an extra. The OpenMMLab task packages: mmdet (``det``), mmsegmentation
(``seg``) and mmpretrain (``cls``), each with mmengine, which the OpenMMLab backbones, the
registries and the tools need; mmrest registers its classes into those that import. timm
(``timm``) for ``mmrest.timm``. A class, config or tool that needs a missing one fails with
:class:`MissingPackageError`, which names the package and the extra to install.
"""
import functools
import importlib
from importlib.metadata import PackageNotFoundError, version
from types import ModuleType
from typing import NamedTuple, Optional, Tuple

from .compat import TORCH_VERSION_STRING, parse_version


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


class Library(NamedTuple):
    distribution: str  # what pip installs (and Python imports)
    extras: Tuple[str, ...]  # mmrest's extras that bring it
    minimum: str  # the oldest version mmrest works with (as in requirements/)


# The libraries that parts of mmrest need, besides torch.
LIBRARIES = {
    'mmengine': Library('mmengine', ('det', 'seg', 'cls'), '0.10.4'),
    # FeatureGetterNet (features_only through forward_intermediates) came with timm 1.0.3.
    'timm': Library('timm', ('timm', ), '1.0.3'),
}


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
    if package in LIBRARIES:
        info = LIBRARIES[package]
        extras = ' or '.join(f'"mmrest[{extra}]"' for extra in info.extras)
        return f'pip install {extras} (or pip install "{info.distribution}>={info.minimum}")'
    info = TASK_PACKAGES[package]
    return f'pip install "mmrest[{info.extra}]" (or pip install {info.distribution})'


@functools.lru_cache(maxsize=None)
def _library_problem(package: str) -> str:
    """Why ``package`` (of :data:`LIBRARIES`) cannot serve, as the end of a sentence that
    names it; '' when it imports and is recent enough."""
    try:
        importlib.import_module(package)
    except ModuleNotFoundError as error:
        if error.name == package:
            return ', which is not installed'
        return f', which is installed, but importing it failed: {first_line(error)}'
    except Exception as error:  # noqa: BLE001 (an installed package that breaks on import)
        return f', which is installed, but importing it failed: {first_line(error)}'
    info = LIBRARIES[package]
    try:
        found = version(info.distribution)
    except PackageNotFoundError:  # (imported from a checkout: trust it)
        return ''
    if parse_version(found) < parse_version(info.minimum):
        return f' >= {info.minimum}, and this is {info.distribution} {found}'
    return ''


def has_library(package: str) -> bool:
    """Whether ``package`` (mmengine, timm) imports in a version mmrest works with."""
    return not _library_problem(package)


def require(package: str, needed_by: str) -> ModuleType:
    """``package`` imported, or :class:`MissingPackageError` naming it, why it is missing (or
    too old) and how to install it; for mmdet and mmseg, mmcv's compiled ops must load too."""
    if package in LIBRARIES:
        problem = _library_problem(package)
        if problem:
            raise MissingPackageError(f'{needed_by} needs {LIBRARIES[package].distribution}'
                                      f'{problem}: {install_hint(package)}')
        return importlib.import_module(package)
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
