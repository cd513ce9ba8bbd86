"""``--cfg-options``: checked against the config before they are merged into it."""
import difflib
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Tuple

from .errors import ConfigError

if TYPE_CHECKING:  # mmengine is imported where it is used: mmrest.utils needs torch alone
    from mmengine.config import Config

DELETE_KEY = '_delete_'


def _root(cfg: Any) -> Any:
    from mmengine.config import Config

    # mmengine's Config is no Mapping; its ConfigDict is.
    return cfg._cfg_dict if isinstance(cfg, Config) else cfg


def _lookup(cfg: Any, path: List[str]) -> Tuple[bool, Any]:
    node = _root(cfg)
    for part in path:
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, (list, tuple)) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False, None
    return True, node


def _is_container(node: Any) -> bool:
    return isinstance(node, (Mapping, list, tuple))


def check_cfg_options(cfg: 'Config', options: Mapping[str, Any]) -> Dict[str, Any]:
    """Check ``--cfg-options`` against ``cfg`` and return them ready for ``merge_from_dict``.

    Every key must hang off a part of the config that exists: a typo in the path
    (``model.backone.arch``) would otherwise add a dead key silently. New leaf keys are fine
    (``model.backbone.with_cp=True``). A key that goes into a plain value replaces it
    (``model.backbone.arch.embed_dims=[...]`` turns ``arch='tiny'`` into a dict), as does a
    dict given for a plain value; mmengine would refuse both with a TypeError.
    """
    prepared: Dict[str, Any] = {}
    for key, value in options.items():
        parts = key.split('.')
        for depth in range(len(parts) - 1):
            found, node = _lookup(cfg, parts[:depth + 1])
            if not found:
                parent = '.'.join(parts[:depth]) or '<config root>'
                _, parent_node = _lookup(cfg, parts[:depth])
                choices = [str(k) for k in parent_node] if isinstance(parent_node,
                                                                     Mapping) else []
                close = difflib.get_close_matches(parts[depth], choices, n=3)
                hint = (f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else
                        ' (--cfg-options adds keys to existing sections only; add new '
                        'sections in a config file that inherits this one)')
                raise ConfigError(f'unknown config key {key!r}: {parent} has no '
                                  f'{parts[depth]!r}{hint}')
            if not _is_container(node):
                prepared['.'.join(parts[:depth + 1] + [DELETE_KEY])] = True
                break
        if isinstance(value, Mapping):
            found, node = _lookup(cfg, parts)
            if found and not isinstance(node, Mapping):
                value = {DELETE_KEY: True, **value}
        prepared[key] = value
    return prepared
