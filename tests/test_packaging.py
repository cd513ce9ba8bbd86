"""mmrest as users get it from ``pip install``: a wheel built from this checkout carries the
configs, tools and model index in ``mmrest/.mim`` (the OpenMMLab / mim layout), installs next
to an existing OpenMMLab stack without touching torch, torchvision, numpy or mmcv, and works
from any directory: ``mmrest::`` bases in a user's config, ``mmengine.hub.get_config``, the
model index, the demo and the tools through ``python -m mmrest``.

The wheel is installed with ``--no-deps`` into a folder outside the checkout that comes first
on ``PYTHONPATH``; every check runs in a fresh interpreter in an empty temporary directory.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import List

import pytest
import yaml
from mmengine.config import Config

import mmrest
from mmrest.utils.configs import config_dir
from tests.common import REPO, count_parameters
from tests.markdown import relative_links

pytestmark = pytest.mark.slow  # (the README's test command runs it)

NEVER_INSTALLED = ('torch', 'torchvision', 'numpy', 'mmcv')

USER_CONFIG = """\
_base_ = ['mmrest::mask_rcnn_restv2_t_3x.py']
custom_imports = dict(imports=['mmrest'], allow_failed_imports=False)
# A user's change on top of the paper config: no pretrained file here, a smaller head.
model = dict(backbone=dict(init_cfg=None), roi_head=dict(bbox_head=dict(num_classes=3),
                                                         mask_head=dict(num_classes=3)))
"""

USER_SCRIPT = """\
import sys
from pathlib import Path
import mmrest  # registers the backbones and the mmrest:: config scope
from mmengine.config import Config
from mmengine.hub import get_config
from mmengine.registry import init_default_scope
from mmdet.registry import MODELS
import modelindex

assert str(Path(mmrest.__file__).resolve()).startswith(sys.argv[1]), mmrest.__file__
cfg = Config.fromfile('user_config.py')
init_default_scope(cfg.default_scope)
model = MODELS.build(cfg.model)
params = sum(p.numel() for p in model.backbone.parameters())
print('RESULT user_config', type(model.backbone).__name__, params,
      model.roi_head.bbox_head.num_classes)

seg = get_config('mmrest::upernet_restv2_t_160k_ade20k.py')
print('RESULT get_config', seg.model.backbone.type, seg.model.backbone.arch)

mim = Path(mmrest.__file__).parent / '.mim'
index = modelindex.load(str(mim / 'model-index.yml'))
missing = [m.config for m in index.models if not (mim / m.config).is_file()]
missing += sorted({c.readme for c in index.collections if not (mim / c.readme).is_file()})
print('RESULT index', len(index.models), len(missing))
"""


def run(command: List[str], cwd: Path, pythonpath: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    env.update(PYTHONPATH=pythonpath, OMP_NUM_THREADS='1')
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, (f'{command} failed:\n{result.stdout[-3000:]}\n'
                                    f'{result.stderr[-5000:]}')
    return result


def copy_checkout(dest: Path) -> Path:
    """The files a commit would hold (tracked, and new ones git does not ignore; symbolic
    links as links), as a fresh clone of it would have them."""
    files = subprocess.run(['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard'],
                           cwd=REPO, capture_output=True, check=True).stdout.decode().split('\0')
    for name in filter(None, files):
        source, target = REPO / name, dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        elif source.exists():
            shutil.copy2(source, target)
    return dest


@pytest.fixture(scope='module')
def wheel(tmp_path_factory) -> Path:
    if not (REPO / '.git').exists():
        pytest.skip('builds the wheel from the git checkout')
    source = copy_checkout(tmp_path_factory.mktemp('checkout'))
    dist = tmp_path_factory.mktemp('dist')
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation',
                    '--quiet', '-w', str(dist), str(source)], check=True, timeout=600)
    (built, ) = dist.glob('mmrest-*.whl')
    return built


@pytest.fixture(scope='module')
def installed(wheel, tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp('site')
    subprocess.run([sys.executable, '-m', 'pip', 'install', '--no-deps', '--quiet', '--target',
                    str(target), str(wheel)], check=True, timeout=600)
    return target.resolve()


@pytest.fixture
def user_dir(tmp_path) -> Path:
    (tmp_path / 'user_config.py').write_text(USER_CONFIG)
    (tmp_path / 'check.py').write_text(USER_SCRIPT)
    return tmp_path


def test_wheel_carries_configs_tools_and_model_index(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = next(archive.read(n).decode() for n in names if n.endswith('METADATA'))
        entry_points = next(archive.read(n).decode() for n in names
                            if n.endswith('entry_points.txt'))
    configs = {str(p.relative_to(REPO)) for p in (REPO / 'configs').rglob('*')
               if p.suffix in ('.py', '.yml')}
    tools = {str(p.relative_to(REPO)) for p in (REPO / 'tools').rglob('*')
             if p.suffix in ('.py', '.sh')}
    docs = {str(p.relative_to(REPO)) for p in (REPO / 'docs').glob('*.md')}
    assert {f'mmrest/.mim/{name}' for name in configs | tools | docs} <= names
    assert 'mmrest/.mim/model-index.yml' in names
    # The installed README's links (docs/, LICENSE, CHANGELOG.md) resolve beside it.
    links = relative_links((REPO / 'README.md').read_text())
    assert links and {f'mmrest/.mim/{target}' for target in links} <= names
    assert 'mmrest = mmrest.commands:main' in entry_points
    requires = [line.split(':', 1)[1].strip() for line in metadata.splitlines()
                if line.startswith('Requires-Dist:') and 'extra ==' not in line]
    assert requires == []  # torch alone (never installed by mmrest); the rest are extras
    for name in NEVER_INSTALLED:
        assert not any(r.split('>')[0].split('<')[0].split('=')[0].split(';')[0].strip() == name
                       for r in requires), (name, requires)


def test_wheel_offers_each_task_package_with_mmengine_and_timm_as_extras(wheel):
    with zipfile.ZipFile(wheel) as archive:
        (metadata, ) = [n for n in archive.namelist() if n.endswith('.dist-info/METADATA')]
        lines = archive.read(metadata).decode().splitlines()
    requires = [line.split(':', 1)[1].strip() for line in lines
                if line.startswith('Requires-Dist:')]
    base = [r for r in requires if 'extra ==' not in r]
    assert base == []  # `pip install mmrest` pulls in no OpenMMLab package
    for extra, distributions in (('det', ('mmdet', 'mmengine')),
                                 ('seg', ('mmsegmentation', 'mmengine', 'ftfy', 'regex')),
                                 ('cls', ('mmpretrain', 'mmengine')), ('timm', ('timm', ))):
        for distribution in distributions:
            for wanted in (extra, 'all'):
                assert any(re.split(r'[<>=!~; ]', r)[0] == distribution
                           and f'extra == "{wanted}"' in r
                           for r in requires), (distribution, wanted, requires)


def test_installing_into_this_environment_changes_no_stack_package(wheel, tmp_path):
    report = tmp_path / 'report.json'
    result = subprocess.run([sys.executable, '-m', 'pip', 'install', '--dry-run', '--no-index',
                             '--quiet', '--report', str(report), str(wheel)],
                            capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        missing = re.search(r'No matching distribution found for ([A-Za-z0-9_.-]+)',
                            result.stderr)
        assert missing and missing[1].lower() not in NEVER_INSTALLED, result.stderr[-3000:]
        # e.g. mmengine names opencv-python where the environment has the headless build.
        pytest.skip(f'this environment lacks {missing[1]}, which an offline dry run cannot '
                    'resolve')
    installs = [item['metadata']['name'].lower() for item in
                json.loads(report.read_text())['install']]
    assert installs == ['mmrest'], installs


def test_user_project_with_mmrest_bases(installed, user_dir):
    result = run([sys.executable, 'check.py', str(installed)], user_dir, str(installed))
    results = {line.split()[1]: line.split()[2:] for line in result.stdout.splitlines()
               if line.startswith('RESULT')}
    backbone, params, num_classes = results['user_config']
    # The paper config's ResTv2-T (from the wheel) under the user's 3-class heads.
    expected = count_parameters(mmrest.ResTV2(arch='tiny'))
    assert (backbone, int(params), int(num_classes)) == ('ResTV2', expected, 3)
    assert results['get_config'] == ['ResTV2', 'tiny']
    count, missing = map(int, results['index'])
    assert count > 30 and missing == 0


def test_demo_and_tools_from_the_wheel(installed, user_dir):
    result = run([sys.executable, '-m', 'mmrest', 'demo', '--quick', '--work-dir', 'demo',
                  '--data-root', 'data'], user_dir, str(installed))
    summary = json.loads((user_dir / 'demo' / 'demo_summary.json').read_text())
    assert summary['quick'] and 'coco/bbox_mAP' in summary['after']
    assert str(installed) in summary['config']  # the wheel's own demo config
    listing = run([sys.executable, '-m', 'mmrest', 'list'], user_dir, str(installed)).stdout
    for tool in ('train', 'test', 'demo', 'speed_suite', 'dist_train', 'export_onnx'):
        assert f'  {tool} ' in listing
    usage = run([sys.executable, '-m', 'mmrest', 'train', '--help'], user_dir,
                str(installed)).stdout
    assert 'config file' in usage
    assert 'demo' in result.stdout


def test_checkout_resolves_the_same_scope():
    """In the development checkout, ``mmrest::`` names the live configs/ (through the links
    in mmrest/.mim), as in an installed wheel."""
    assert config_dir().resolve() == (REPO / 'configs').resolve()
    cfg = Config.fromfile(str(config_dir() / 'demo' / 'mask_rcnn_restv2_synthetic.py'))
    assert cfg.model.backbone.type == 'ResTV2'
    from mmengine.hub import get_config
    assert get_config('mmrest::mask_rcnn_restv2_t_3x.py').model.backbone.arch == 'tiny'
    assert mmrest.__version__


def test_model_index_lists_every_config_once():
    index = yaml.safe_load((REPO / 'model-index.yml').read_text())
    listed = []
    for metafile in index['Import']:
        models = yaml.safe_load((REPO / metafile).read_text())['Models']
        listed += [m['Config'] for m in models]
    configs = sorted(str(p.relative_to(REPO)) for p in (REPO / 'configs').rglob('*.py')
                     if '_base_' not in p.parts)
    assert sorted(listed) == configs
