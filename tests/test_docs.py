"""The documentation says what is true: the README's config snippet builds inside a ResNet-based
mmdet config, every repository path and link named exists, every ``--flag`` shown exists in its
tool's parser, the results table agrees with the model index, the data-root override reaches
every data path, and no page names the development machine."""
import importlib
import re
from pathlib import Path

import pytest
import torch
import yaml
from mmengine.config import Config

import mmrest
from mmrest.commands import TOOLS_DIR
from mmrest.commands import tools as installed_tools
from tests.common import REPO
from tests.markdown import (
    USER_DOCS,
    code_blocks,
    command_lines,
    doc_path,
    expand_braces,
    relative_links,
    section,
    table_rows,
)

README = (REPO / 'README.md').read_text()
QUICK_START = (
    'bash scripts/setup_env.sh && .venv/bin/python tools/demo.py',
    'bash scripts/setup_env.sh && .venv/bin/ruff check && .venv/bin/python -m pytest tests',
)


def test_readme_opens_with_the_quick_start():
    lines = README.splitlines()
    assert len(lines) <= 220
    title = next(i for i, line in enumerate(lines, 1) if line.startswith('# '))
    first = code_blocks(README)[0]
    assert first.line - title <= 5
    assert first.text.splitlines() == list(QUICK_START)
    assert QUICK_START[1] in (REPO / '.ci' / 'run').read_text().splitlines()
    headings = {line[3:].split(':')[0].split()[0]: number
                for number, line in enumerate(lines, 1) if line.startswith('## ')}
    for name in ('Installation', 'Usage', 'Results', 'Training'):
        assert headings[name] < 150, name
    assert '<!-- tested-stacks -->' in section(README, 'Installation')


def _readme_snippet() -> str:
    (snippet, ) = [b.text for b in code_blocks(section(README, 'Usage'))
                   if b.language == 'python' and '_delete_=True' in b.text]
    return snippet


def _build_detector(config_text: str, tmp_path: Path):
    from mmdet.registry import MODELS
    from mmengine.registry import init_default_scope
    path = tmp_path / 'user_config.py'
    path.write_text(config_text)
    cfg = Config.fromfile(str(path))
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    return MODELS.build(cfg.model)


def test_readme_snippet_builds_inside_a_resnet_config(tmp_path):
    snippet = _readme_snippet()
    assert "'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'" in snippet  # ResNet-50 base
    model = _build_detector(snippet, tmp_path).eval()  # init_cfg is read by init_weights only
    assert type(model.backbone) is mmrest.ResTV2
    with torch.no_grad():
        feats = model.extract_feat(torch.randn(1, 3, 96, 128))
    assert [f.shape[1] for f in feats] == [256] * 5  # the FPN took the four stage outputs


def test_readme_snippet_needs_its_delete(tmp_path):
    """The check above can fail: without ``_delete_=True`` ResNet's arguments reach ResTV2."""
    with pytest.raises(TypeError, match='depth|num_stages|style'):
        _build_detector(_readme_snippet().replace('_delete_=True,', ''), tmp_path)


ROOTS = ('configs', 'tools', 'scripts', 'mmrest', 'docs', 'tests', 'benchmarks')
PATH = re.compile(rf'(?<![\w./:-])((?:{"|".join(ROOTS)})/[\w./{{}},*-]*[\w}}*])')


@pytest.mark.parametrize('doc', USER_DOCS, ids=doc_path)
def test_paths_and_links_named_exist(doc):
    text = doc.read_text()
    missing = []
    for name in sorted(set(PATH.findall(text))):
        for path in expand_braces(name):
            if not (any(REPO.glob(path)) if '*' in path else (REPO / path).exists()):
                missing.append(path)
    missing += [t for t in relative_links(text) if not (doc.parent / t).exists()]
    assert not missing, f'{doc_path(doc)} names what does not exist: {missing}'


def _tool_modules() -> dict:
    """Tool script (repository path) -> its module, for every Python tool."""
    found = {}
    for path in sorted((REPO / 'tools').rglob('*.py')):
        relative = path.relative_to(REPO)
        if path.stem != '__init__' and 'dev' not in relative.parts:
            found[str(relative)] = '.'.join(relative.with_suffix('').parts)
    return found


TOOLS = _tool_modules()
# Shell wrappers pass their extra arguments on to these tools.
WRAPPERS = {'tools/dist_train.sh': 'tools/train.py', 'tools/dist_test.sh': 'tools/test.py',
            'tools/slurm_train.sh': 'tools/train.py'}


def _options(script: str) -> set:
    """The options a script accepts: its parser's, for the Python tools; the flags its source
    handles, for the other scripts (shell scripts, benchmarks/)."""
    script = WRAPPERS.get(script, script)
    if script in TOOLS:
        parser = importlib.import_module(TOOLS[script]).build_parser()
        return {flag for action in parser._actions for flag in action.option_strings}
    source = (REPO / script).read_text()
    # A shell script may hand its options to a Python helper (make_wheelhouse.sh: wheelhouse.py).
    for helper in set(re.findall(r'scripts/(\w+\.py)', source)):
        source += (REPO / 'scripts' / helper).read_text()
    return set(re.findall(r'--[a-z][\w-]*', source))


SCRIPT = re.compile(r'(?:^|\s)((?:tools|scripts|benchmarks)/[\w/]+\.(?:py|sh))'
                    r'|(?:^|\s)mmrest (\w+)')


@pytest.mark.parametrize('doc', USER_DOCS, ids=doc_path)
def test_flags_shown_exist_in_their_tools(doc):
    named = {name: f'tools/{path.relative_to(TOOLS_DIR)}'
             for name, path in installed_tools().items()}
    unknown = []
    for line in command_lines(doc.read_text()):
        for command in re.split(r'&&|;', line):
            match = SCRIPT.search(command)
            if not match:
                continue
            script = match[1] or named.get(match[2])
            if script is None:
                continue
            shown = set(re.findall(r'(?<![\w-])--[a-z][\w-]*', command[match.end():]))
            unknown += [f'{script} {flag}' for flag in sorted(shown - _options(script))]
    assert not unknown, f'{doc_path(doc)} shows options its tools lack: {unknown}'


METRICS = {'top-1': 'Top 1 Accuracy', 'box AP': 'box AP', 'mask AP': 'mask AP',
           'mIoU': 'mIoU (ms+flip)'}


def _model_index() -> dict:
    models = {}
    for metafile in yaml.safe_load((REPO / 'model-index.yml').read_text())['Import']:
        for model in yaml.safe_load((REPO / metafile).read_text())['Models']:
            metrics = {k: v for r in model.get('Results') or [] for k, v in r['Metrics'].items()}
            models[model['Config']] = dict(model.get('Metadata', {}), metrics=metrics)
    return models


def _figures(cell: str) -> list:
    """'49.9 / 60.7M' -> ['49.9', '60.7']; '-' -> None per entry."""
    return [None if v.strip() == '-' else re.match(r'[\d.]+', v.strip())[0]
            for v in cell.split(' / ')]


def _same(shown, value, scale) -> bool:
    if shown is None or value is None:
        return shown is None and value is None
    decimals = len(shown.split('.')[1]) if '.' in shown else 0
    return round(value / scale, decimals) == float(shown)


def test_results_table_matches_the_model_index():
    index = _model_index()
    listed = set()
    for row in table_rows(section(README, 'Results and models')):
        configs = expand_braces(row['config'].strip('`'))
        listed.update(configs)
        params = _figures(row['params'])
        flops = [None] * len(configs) if row['FLOPs (input)'] == '-' else \
            _figures(row['FLOPs (input)'].split(' (')[0])
        results = {}
        if row['paper result'] != '-':
            for group in row['paper result'].split(', '):
                (name, ) = [name for name in METRICS if group.endswith(' ' + name)]
                results[METRICS[name]] = _figures(group[:-len(name) - 1])
        for i, config in enumerate(configs):
            assert config in index, f'{config} is not in model-index.yml'
            meta = index[config]
            assert _same(params[i], meta.get('Parameters'), 1e6), (config, params[i])
            assert _same(flops[i], meta.get('FLOPs'), 1e9), (config, flops[i])
            assert not meta['metrics'] or set(results) & set(meta['metrics']), config
            for metric, values in results.items():
                assert _same(values[i], meta['metrics'].get(metric), 1), (config, metric)
    with_results = {config for config, meta in index.items() if meta['metrics']}
    assert with_results <= listed, f'not in the README table: {with_results - listed}'


def test_data_root_override_reaches_every_data_path():
    (block, ) = [b.text for b in code_blocks((REPO / 'docs' / 'data.md').read_text())
                 if '--cfg-options' in b.text]
    command = block.replace('\\\n', ' ').split()
    config, options = command[2], command[command.index('--cfg-options') + 1:]
    cfg = Config.fromfile(str(REPO / config))
    cfg.merge_from_dict(dict(option.split('=', 1) for option in options))
    seen = {key: str(cfg.get(key)) for key in ('train_dataloader', 'val_dataloader',
                                               'test_dataloader', 'val_evaluator',
                                               'test_evaluator')}
    stale = {key: text for key, text in seen.items() if "'data/coco" in text}
    assert not stale, f'left at data/coco/: {sorted(stale)}'


DEV_WORDING = [r'\.\./shared', r'/work/', r'\b2-core\b', r'\blent\b', r"this project's",
               r'\bpredecessor\b', r'\bI have\b', r'downloaded here', r'\bNo GPU has been\b']


@pytest.mark.parametrize('doc', USER_DOCS, ids=doc_path)
def test_user_docs_name_no_development_environment(doc):
    text = doc.read_text()
    found = [m.group(0) for pattern in DEV_WORDING for m in re.finditer(pattern, text, re.I)]
    assert not found, f'{doc_path(doc)}: {found}'
