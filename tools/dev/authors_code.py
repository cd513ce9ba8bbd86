"""The authors' code (github.com/wofmanaf/ResT), loaded from a checkout at development time and
never copied into mmrest: their ImageNet classifiers, built by their factories and run by their
own ``forward``, with the few timm helpers they import stubbed.

Shared by the reference generator (``tools/dev/reference/``) and ``benchmarks/fast_path.py``;
torch only (no mmrest), so that it runs in a throwaway environment too.
"""
import importlib.util
import os.path as osp
import sys
import types
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import torch
import torch.nn as nn

# The authors' ImageNet model files, per ResT version, and the class their factories build.
AUTHORS_CLASSIFIERS = {'v1': ('models/rest.py', 'ResT'), 'v2': ('models/rest_v2.py', 'ResTV2')}


def stub_module(name: str, **attrs: Any) -> types.ModuleType:
    """A module ``name`` holding ``attrs``, installed in ``sys.modules`` (and in its parent)."""
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    sys.modules[name] = module
    parent, _, child = name.rpartition('.')
    if parent in sys.modules:
        setattr(sys.modules[parent], child, module)
    return module


def stub_package(name: str, path: Optional[str] = None, **attrs: Any) -> types.ModuleType:
    """A package whose ``__init__`` is not run: its submodules load one file at a time."""
    return stub_module(name, __path__=[path] if path else [], **attrs)


def load_file(name: str, path: str) -> types.ModuleType:
    """The Python file ``path`` imported as the module ``name``."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def stub_timm() -> None:
    """What the authors' modules take from timm: three helpers, and the model registry's
    decorator (an identity: nothing here builds their models by name)."""

    class DropPath(nn.Module):  # the models run in eval mode, where it is the identity
        def __init__(self, p: float = 0.0) -> None:
            super().__init__()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

    stub_package('timm')
    stub_package('timm.models')
    stub_module('timm.models.layers', DropPath=DropPath, to_2tuple=lambda x: (x, x),
                trunc_normal_=nn.init.trunc_normal_)
    stub_module('timm.models.registry', register_model=lambda func: func)


def load_authors_classifiers(authors: str, versions: Sequence[str] = ('v1', 'v2')
                             ) -> Dict[str, types.ModuleType]:
    """The authors' ImageNet model files of ``versions``, loaded from the checkout ``authors``
    (timm stubbed)."""
    stub_timm()
    return {version: sys.modules.get(f'authors_imagenet_{version}') or load_file(
        f'authors_imagenet_{version}', osp.join(authors, AUTHORS_CLASSIFIERS[version][0]))
        for version in versions}


def build_authors_classifier(module: types.ModuleType, factory: str,
                             arch: Optional[Mapping[str, Sequence[int]]] = None) -> nn.Module:
    """The authors' ``factory`` (e.g. ``rest_lite``) from their ``module``; with ``arch``, the
    same call with its embed_dims / depths / num_heads instead, every other argument (qkv
    bias, multi-head interaction, ratios) as the factory passes it."""
    if arch is None:
        return getattr(module, factory)()
    name = next(cls for _, cls in AUTHORS_CLASSIFIERS.values() if hasattr(module, cls))
    original = getattr(module, name)

    def with_arch(**kwargs: Any) -> nn.Module:
        return original(**{**kwargs, **{k: list(v) for k, v in arch.items()}})

    setattr(module, name, with_arch)  # the factory looks its class up in the module
    try:
        return getattr(module, factory)()
    finally:
        setattr(module, name, original)


def authors_arch(model: nn.Module) -> Dict[str, List[int]]:
    """embed_dims, depths and num_heads of one of the authors' classifiers, read off it."""
    stages = [getattr(model, f'stage{i + 1}') for i in range(4)]
    return {'embed_dims': [s[0].norm1.normalized_shape[0] for s in stages],
            'depths': [len(s) for s in stages],
            'num_heads': [s[0].attn.num_heads for s in stages]}


def authors_forward(model: nn.Module, x: torch.Tensor
                    ) -> Tuple[torch.Tensor, List[Tuple[torch.Tensor, int, int]]]:
    """The authors' own ``forward`` of a classifier: its logits, and what the last block of
    each stage returns (tokens (B, H * W, C) before any norm, with H and W), caught by
    forward hooks, since their classifiers have no per-stage output to call."""
    stages: List[Tuple[torch.Tensor, int, int]] = []

    def catch(block: nn.Module, args: Tuple[Any, ...], tokens: torch.Tensor) -> None:
        _, height, width = args  # every block is called as blk(x, H, W)
        stages.append((tokens, height, width))

    handles = [getattr(model, f'stage{i + 1}')[-1].register_forward_hook(catch)
               for i in range(4)]
    try:
        logits = model(x)
    finally:
        for handle in handles:
            handle.remove()
    return logits, stages
