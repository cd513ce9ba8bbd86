"""Where configs are: ``mmrest::NAME`` and the other OpenMMLab packages' ``pkg::NAME``, and
which package a config builds its model with.

mmrest ships its configs, tools and model index in ``mmrest/.mim`` (links to the checkout's
``configs/``, ``tools/`` and ``model-index.yml``, which a wheel holds as files), the layout
mmengine and ``mim`` read. mmengine resolves ``pkg::`` paths for a fixed list of OpenMMLab
packages whose configs sit in folders (``mmdet::faster_rcnn/x.py``); :func:`register_scope`,
run when mmrest is imported, adds mmrest with its flat names (``mmrest::mask_rcnn_restv2_t_3x.py``).
"""
import re
from pathlib import Path
from typing import Any, Callable

PACKAGE = 'mmrest'
PACKAGE_DIR = Path(__file__).resolve().parents[1]
MIM_DIR = PACKAGE_DIR / '.mim'


def config_dir() -> Path:
    """mmrest's configs (in a checkout, a link to its ``configs/``)."""
    return MIM_DIR / 'configs'


def resolve_config_path(path: str) -> str:
    """A config file path for ``path``: a file path as it is, ``mmrest::NAME`` in
    :func:`config_dir`, ``pkg::NAME`` in that installed package's ``.mim/configs``."""
    if '::' not in path:
        return path
    package, _, name = path.partition('::')
    if package == PACKAGE:
        resolved = config_dir() / name
    else:
        from mmengine.utils import get_installed_path
        resolved = Path(get_installed_path(package)) / '.mim' / 'configs' / name
    if not resolved.is_file():
        raise FileNotFoundError(f'no config {name!r} in {package} ({resolved.parent})')
    return str(resolved)


def scope_of(cfg: Any) -> str:
    """The OpenMMLab package a config builds its model with (mmdet, mmseg or mmpretrain):
    its ``default_scope``, mmdet's when it names none (as mmengine's tools assume)."""
    return cfg.get('default_scope') or 'mmdet'


def register_scope() -> None:
    """Let mmengine resolve ``mmrest::NAME`` like ``mmdet::dir/NAME``: in ``_base_`` of a
    config, ``mmengine.hub.get_config`` and ``Config.fromfile``. Idempotent.

    mmengine finds a package's configs through its distribution metadata, which points to
    ``site-packages`` for an editable (PEP 660) install; ``mmrest::`` names the configs of
    the mmrest that is imported instead, however it was installed.
    """
    import mmengine.config.config as config_module
    import mmengine.config.utils as utils_module
    import mmengine.hub.hub as hub_module

    utils_module.MODULE2PACKAGE.setdefault(PACKAGE, PACKAGE)
    if getattr(utils_module._get_package_and_cfg_path, 'mmrest_scope', False):
        return

    def for_mmrest(original: Callable, answer: Callable) -> Callable:
        def patched(arg: str, *args, **kwargs):
            result = answer(arg)
            return original(arg, *args, **kwargs) if result is None else result
        patched.mmrest_scope = True  # type: ignore[attr-defined]
        return patched

    def package_and_path(cfg_path: str):
        # mmengine insists on a folder (`pkg::dir/name`); mmrest's configs are flat.
        match = re.fullmatch(rf'{PACKAGE}::([^:]+)', cfg_path)
        return (PACKAGE, match[1]) if match else None

    replacements = {
        '_get_package_and_cfg_path': lambda f: for_mmrest(f, package_and_path),
        'get_installed_path': lambda f: for_mmrest(
            f, lambda package: str(PACKAGE_DIR) if package == PACKAGE else None),
        'is_installed': lambda f: for_mmrest(
            f, lambda package: True if package == PACKAGE else None),
    }
    for module in (utils_module, config_module, hub_module):
        for name, wrap in replacements.items():
            if hasattr(module, name):
                setattr(module, name, wrap(getattr(module, name)))
