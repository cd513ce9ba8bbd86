"""The package's shape: imports run one way (lowest layer first) with no circle, and no module or
function outgrows one concern (400 lines per file, 80 per function).

Imports inside functions count: a lazy import still ties the two modules together."""
import ast
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Set, Tuple

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / 'mmrest'

# Lowest first. A module belongs to the longest prefix listed; it may import from its own layer
# or lower ones.
LAYERS: Tuple[Tuple[str, ...], ...] = (
    ('mmrest.utils', 'mmrest.version', 'mmrest.registry'),
    ('mmrest.datasets', 'mmrest.models.layers', 'mmrest.models.validation'),
    ('mmrest.checkpoint',),
    ('mmrest.models',),
    ('mmrest.converters', 'mmrest.engine', 'mmrest.timm'),
    ('mmrest.apis',),
    ('mmrest.analysis', 'mmrest.deploy'),
    ('mmrest', 'mmrest.commands', 'mmrest.__main__'),
)
MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 80


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix('').parts)
    if parts[-1] == '__init__':
        parts.pop()
    return '.'.join(parts)


def package_files() -> Dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob('*.py'))}


def layer_of(module: str) -> int:
    best, best_len = None, -1
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + '.')) and len(prefix) > best_len:
                best, best_len = index, len(prefix)
    assert best is not None, f'{module} is in no layer of {__name__}.LAYERS'
    return best


def imported_modules(module: str, path: Path, modules: Set[str]) -> Iterator[Tuple[str, int]]:
    """The mmrest modules that ``module`` imports, anywhere in the file, with line numbers."""
    is_package = path.name == '__init__.py'
    base = module.split('.') if is_package else module.split('.')[:-1]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base[:len(base) - node.level + 1]
                parent = '.'.join(anchor + ([node.module] if node.module else []))
            else:
                parent = node.module or ''
            # `from package import submodule` depends on the submodule, else on the package.
            targets = [f'{parent}.{alias.name}' if f'{parent}.{alias.name}' in modules else parent
                       for alias in node.names]
        else:
            continue
        for target in targets:
            resolved = resolve(target, modules)
            if resolved is not None and resolved != module:
                yield resolved, node.lineno


def resolve(name: str, modules: Set[str]) -> Optional[str]:
    while name and name not in modules:
        name = name.rpartition('.')[0]
    return name or None


def import_graph() -> Dict[str, Dict[str, int]]:
    files = package_files()
    modules = set(files)
    return {module: dict(imported_modules(module, path, modules))
            for module, path in files.items()}


def find_circles(graph: Dict[str, Dict[str, int]]) -> List[List[str]]:
    """Every group of modules that import each other, directly or through others (Tarjan's
    strongly connected components of more than one module)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    circles: List[List[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in sorted(graph.get(module, {})):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                circles.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return circles


def test_imports_run_one_way():
    upward = [f'{module} (layer {layer_of(module)}) imports {target} (layer {layer_of(target)}) '
              f'at line {line}'
              for module, targets in import_graph().items()
              for target, line in targets.items()
              if layer_of(target) > layer_of(module)]
    assert not upward, 'imports that run upward:\n' + '\n'.join(upward)


def test_no_import_circle():
    # The package's own __init__ imports its submodules to register them; a submodule that
    # imported its package back would close a circle, and that is what this finds.
    circles = find_circles(import_graph())
    assert not circles, 'modules that import each other:\n' + '\n'.join(
        ' <-> '.join(circle) for circle in circles)


def test_the_checker_finds_circles_and_upward_imports():
    assert find_circles({'a': {'b': 1}, 'b': {'c': 1}, 'c': {'a': 1}, 'd': {'a': 1}}) == [
        ['a', 'b', 'c']]
    assert find_circles({'a': {'b': 1}, 'b': {}}) == []
    assert layer_of('mmrest.checkpoint.files') < layer_of('mmrest.models.backbones')
    assert layer_of('mmrest.models.layers.attention') < layer_of('mmrest.checkpoint')
    path = PACKAGE / 'checkpoint' / 'files.py'
    found = dict(imported_modules('mmrest.checkpoint.files', path, set(package_files())))
    assert 'mmrest.utils.compat' in found


def source_files() -> List[Path]:
    return sorted(list(PACKAGE.rglob('*.py')) + list((REPO / 'tools').rglob('*.py')))


@pytest.mark.parametrize('path', source_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_module_and_function_sizes(path):
    lines = path.read_text().splitlines()
    assert len(lines) <= MAX_FILE_LINES, f'{path.relative_to(REPO)}: {len(lines)} lines'
    long = [f'{node.name} ({node.end_lineno - node.lineno + 1} lines, line {node.lineno})'
            for node in ast.walk(ast.parse('\n'.join(lines)))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]
    assert not long, f'{path.relative_to(REPO)}: functions over {MAX_FUNCTION_LINES} lines: {long}'
