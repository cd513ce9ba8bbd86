"""The stacks users have: the torch floor, the compatibility module, and an ``import mmrest``
that takes only the OpenMMLab packages that are installed.

The subprocess tests hide packages with an import hook, so that one environment checks what an
environment without them does; the light CI environments (torch + mmengine only) run the same
tests without the hook having anything to hide.
"""
import subprocess
import sys
import textwrap

import pytest
import torch

from mmrest.utils import compat
from mmrest.utils.packages import (
    TASK_PACKAGES,
    MissingPackageError,
    check_mmcv_ops,
    has_library,
    require,
)
from tests.common import CONFIGS, REPO

OPENMMLAB = ('mmengine', 'mmcv', 'mmdet', 'mmseg', 'mmpretrain')
needs_mmengine = pytest.mark.skipif(not has_library('mmengine'),
                                    reason='needs mmengine (mmrest[det], [seg] or [cls])')


def run_python(code: str, hide=(), timeout: int = 300) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter in which the modules ``hide`` do not import."""
    # A None in sys.modules is how Python says "not importable": import raises
    # ModuleNotFoundError and importlib.util.find_spec answers None, as for a missing package.
    prologue = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(REPO)!r})
        sys.modules.update(dict.fromkeys({tuple(hide)!r}))
    """)
    return subprocess.run([sys.executable, '-c', prologue + textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=timeout, cwd=REPO)


def test_parse_version():
    assert compat.parse_version('2.1.2+cu121') == (2, 1, 2)
    assert compat.parse_version('2.6.0a0+git1234') == (2, 6, 0)
    assert compat.parse_version('2.10') == (2, 10, 0)
    with pytest.raises(ValueError, match='torch version'):
        compat.parse_version('nightly')


@pytest.mark.parametrize('version', ['1.13.1', '2.0.1+cu118', '2.0.0'])
def test_old_torch_is_refused_in_one_line(version):
    with pytest.raises(compat.UnsupportedTorchError) as error:
        compat.check_torch(version)
    message = str(error.value)
    assert '\n' not in message
    assert f'this is torch {version}' in message and compat.SUPPORTED_RANGE in message


@pytest.mark.parametrize('version', ['2.1.0', '2.1.2+cu121', '2.5.1', '2.14.1'])
def test_supported_torch_passes(version):
    compat.check_torch(version)


def test_import_refuses_old_torch():
    """What a user with torch 2.0 sees: one line at ``import mmrest``, nothing deep."""
    result = run_python("""
        import torch
        torch.__version__ = '2.0.1'
        import mmrest
    """)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith('mmrest.utils.compat.UnsupportedTorchError: mmrest supports '
                           'torch 2.1 to 2.14; this is torch 2.0.1'), result.stderr


def test_is_exporting_is_false_in_eager():
    assert compat.is_exporting() is False


def test_dynamo_exporter_flag_follows_the_version():
    assert compat.HAS_DYNAMO_ONNX == (compat.TORCH_VERSION[:2] >= (2, 5))
    if not compat.HAS_DYNAMO_ONNX:
        with pytest.raises(RuntimeError, match=r'needs torch >= 2\.5'):
            compat.require_dynamo_onnx()


def test_gelu_is_the_exact_gelu():
    x = torch.randn(1000, dtype=torch.float64, requires_grad=True)
    y = compat.GELU()(x)
    expected = torch.nn.functional.gelu(x)
    torch.testing.assert_close(y, expected, rtol=0, atol=1e-15)
    (grad, ) = torch.autograd.grad(y.sum(), x)
    (expected_grad, ) = torch.autograd.grad(expected.sum(), x)
    torch.testing.assert_close(grad, expected_grad, rtol=0, atol=1e-14)


def test_version_checks_live_in_the_compat_module():
    """``torch.__version__`` and probes of torch's attributes only in utils/compat.py."""
    offenders = []
    for path in sorted((REPO / 'mmrest').rglob('*.py')):
        if path.name == 'compat.py':
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if 'torch.__version__' in line or 'hasattr(torch' in line:
                offenders.append(f'{path.relative_to(REPO)}:{number}')
    assert not offenders


@needs_mmengine
def test_allow_list_unpickler_rebuilds_what_it_allows_and_refuses_the_rest(tmp_path):
    """The safe loader of torch < 2.6 (run here on any torch): an mmengine-style checkpoint
    with numpy arrays, a message-hub buffer, a Counter, a dtype and a device loads; any other
    global is refused."""
    import collections
    import pickle

    import numpy as np
    from mmengine.logging import HistoryBuffer

    from mmrest.checkpoint.files import trusted_globals
    buffer = HistoryBuffer()
    buffer.update(3.0)
    torch.save({'state_dict': {'w': torch.arange(4.0)}, 'buffer': buffer,
                'array': np.arange(3, dtype=np.int64), 'scalar': np.float32(0.5),
                'counts': collections.Counter(a=2), 'dtype': torch.bfloat16,
                'device': torch.device('cpu')}, tmp_path / 'ok.pth')
    pickle_module = compat.allow_list_pickle_module(trusted_globals())
    loaded = torch.load(tmp_path / 'ok.pth', weights_only=False, pickle_module=pickle_module)
    assert torch.equal(loaded['state_dict']['w'], torch.arange(4.0))
    assert loaded['buffer'].current() == 3.0 and loaded['array'].tolist() == [0, 1, 2]
    assert loaded['scalar'] == np.float32(0.5) and loaded['counts'] == {'a': 2}
    assert loaded['dtype'] is torch.bfloat16 and loaded['device'] == torch.device('cpu')
    torch.save({'other': pytest.approx(1)}, tmp_path / 'other.pth')
    with pytest.raises(pickle.UnpicklingError,
                       match=r'Unsupported global: GLOBAL _pytest\.\w+\.ApproxScalar'):
        torch.load(tmp_path / 'other.pth', weights_only=False, pickle_module=pickle_module)


def test_layers_and_checkpoint_import_no_openmmlab_package_at_module_level():
    """The building blocks and checkpoint reading depend on torch alone when imported;
    mmengine only inside the functions that hook into it."""
    import ast
    offenders = []
    for folder in ('mmrest/models/layers', 'mmrest/models/networks', 'mmrest/checkpoint',
                   'mmrest/utils'):
        for path in sorted((REPO / folder).glob('*.py')):
            for node in ast.parse(path.read_text()).body:  # module level only
                names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                         [node.module or ''] if isinstance(node, ast.ImportFrom) else [])
                offenders += [f'{path.relative_to(REPO)}: {n}' for n in names
                              if n.split('.')[0] in ('mmengine', 'mmcv', *TASK_PACKAGES)]
    assert not offenders


# ----------------------------------------------------------------------- optional packages
@needs_mmengine
@pytest.mark.slow  # a fresh interpreter, and ResTv2-T at 801x1333
def test_backbones_without_mmcv_and_task_packages(tmp_path):
    """torch + mmengine alone: mmrest imports, ResTv2-T runs at any size, the authors'
    ImageNet file loads, and a task config names what to install."""
    result = run_python(f"""
        import torch
        import mmrest
        from mmrest.models import ResTV2
        from mmrest.utils.packages import MissingPackageError
        from tests.reference import write_authors_imagenet
        for name in ('mmcv', 'mmdet', 'mmseg', 'mmpretrain'):
            assert sys.modules.get(name) is None, name  # (hidden or not installed)
        model = ResTV2(arch='tiny').eval()
        with torch.no_grad():
            for h, w in ((224, 224), (801, 1333), (513, 517)):
                outs = model(torch.randn(1, 3, h, w))
                print(h, w, [tuple(o.shape[1:]) for o in outs])
        path = write_authors_imagenet({str(tmp_path / 'restv2_tiny.pth')!r}, 'v2',
                                      ResTV2.arch_zoo['tiny'])
        model = ResTV2(arch='tiny', init_cfg=dict(type='Pretrained', checkpoint=str(path)))
        model.init_weights()
        print('loaded', len(model.load_report.loaded), model.load_report.clean)
        from mmrest.apis import load_config
        for config in ('upernet_restv2_t_160k_ade20k.py', 'mask_rcnn_restv2_t_1x.py'):
            try:
                load_config({str(CONFIGS)!r} + '/' + config)
            except MissingPackageError as error:
                print('refused:', error)
    """, hide=('mmcv', 'mmdet', 'mmseg', 'mmpretrain'))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:3] == [
        '224 224 [(96, 56, 56), (192, 28, 28), (384, 14, 14), (768, 7, 7)]',
        '801 1333 [(96, 201, 334), (192, 101, 167), (384, 51, 84), (768, 26, 42)]',
        '513 517 [(96, 129, 130), (192, 65, 65), (384, 33, 33), (768, 17, 17)]']
    (loaded, ) = [line for line in lines if line.startswith('loaded ')]
    assert int(loaded.split()[1]) > 100 and loaded.endswith(' True')
    refusals = [line for line in lines if line.startswith('refused:')]
    assert len(refusals) == 2
    assert 'needs mmsegmentation' in refusals[0] and 'mmrest[seg]' in refusals[0]
    assert 'needs mmdet' in refusals[1] and 'mmrest[det]' in refusals[1]


@pytest.mark.slow  # a fresh interpreter imports mmdet
def test_mmdet_without_mmseg():
    pytest.importorskip('mmdet')
    result = run_python(f"""
        from mmengine.registry import DefaultScope
        import mmrest
        from mmdet.registry import MODELS
        from mmrest.apis import load_config
        from mmrest.utils.packages import MissingPackageError
        cfg = load_config({str(CONFIGS / 'mask_rcnn_restv2_t_1x.py')!r})
        backbone = dict(cfg.model.backbone, init_cfg=None, arch='tiny')
        with DefaultScope.overwrite_default_scope('mmdet'):
            print(type(MODELS.build(backbone)).__name__)
        try:
            load_config({str(CONFIGS / 'upernet_restv2_t_160k_ade20k.py')!r})
        except MissingPackageError as error:
            print('refused:', error)
    """, hide=('mmseg', ))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == 'ResTV2'
    assert lines[1].startswith('refused: the config ') and 'needs mmsegmentation' in lines[1]


def test_torch_alone_runs_the_plain_and_timm_faces(tmp_path):
    """Without any OpenMMLab package: mmrest imports, the plain model and (where timm is)
    timm's load the authors' file and give the same logits and per-stage outputs, and an
    OpenMMLab class names the extras in one line."""
    result = run_python(f"""
        import torch
        import mmrest
        from mmrest.models import ResTV2, ResTV2Classifier, load_checkpoint
        from mmrest.registry import MODELS
        from mmrest.utils.packages import MissingPackageError, has_library
        from tests.reference import write_authors_imagenet
        arch = dict(embed_dims=(16, 32, 64, 128), depths=(1, 1, 2, 1), num_heads=(1, 2, 4, 8))
        path = str(write_authors_imagenet({str(tmp_path / 'authors.pth')!r}, 'v2', arch))
        plain = ResTV2Classifier(arch=arch, out_indices=(0, 1, 2, 3)).eval()
        print('loaded', load_checkpoint(plain, path).clean)
        x = torch.randn(1, 3, 65, 97)
        with torch.no_grad():
            logits, stages = plain(x), plain.forward_intermediates(x, intermediates_only=True)
        print('plain', tuple(logits.shape), [tuple(s.shape[1:]) for s in stages])
        if has_library('timm'):
            import timm
            import mmrest.timm
            overlay = dict(file=path)
            model = timm.create_model('restv2_tiny', arch=arch, pretrained=True,
                                      pretrained_cfg_overlay=overlay).eval()
            features = timm.create_model('restv2_tiny', arch=arch, pretrained=True,
                                         features_only=True, pretrained_cfg_overlay=overlay)
            with torch.no_grad():
                same = torch.equal(model(x), logits) and all(
                    torch.equal(a, b) for a, b in zip(features.eval()(x), stages))
            print('timm', same, features.feature_info.reduction())
        try:
            ResTV2(arch='tiny')
        except MissingPackageError as error:
            print('refused:', error)
        print('registry', MODELS)
        print('imported', sorted(n for n in {OPENMMLAB!r} if sys.modules.get(n) is not None))
    """, hide=OPENMMLAB)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:2] == ['loaded True', 'plain (1, 1000) [(16, 17, 25), (32, 9, 13), '
                                        '(64, 5, 7), (128, 3, 4)]']
    if has_library('timm'):
        assert lines[2] == 'timm True [4, 8, 16, 32]'
    (refused, ) = [line for line in lines if line.startswith('refused:')]
    assert 'ResTV2 (the OpenMMLab backbone' in refused and 'needs mmengine' in refused
    assert 'mmrest[det]' in refused
    assert lines[-2:] == ['registry None', 'imported []']


def test_missing_task_package_names_the_extra(monkeypatch):
    from mmrest.utils import packages
    monkeypatch.setattr(packages, '_import_registry', lambda package: (None, 'not installed'))
    for package, info in TASK_PACKAGES.items():
        with pytest.raises(MissingPackageError) as error:
            require(package, 'this tool')
        message = str(error.value)
        assert f'this tool needs {info.distribution}, which is not installed' in message
        assert f'pip install "mmrest[{info.extra}]"' in message and '\n' not in message


def test_mmcv_built_for_another_torch_is_named(monkeypatch):
    """mmcv's compiled ops that do not load (built for another torch) fail in one paragraph
    that says so and how to rebuild, before a model needs them."""
    pytest.importorskip('mmcv')
    import importlib

    from mmrest.utils import packages
    real_import = importlib.import_module

    def broken_ops(name, *args, **kwargs):
        if name == 'mmcv.ops':
            raise ImportError('/x/mmcv/_ext.cpython-311-x86_64-linux-gnu.so: undefined symbol: '
                              '_ZN3c1017RegisterOperatorsD1Ev')
        return real_import(name, *args, **kwargs)

    packages._mmcv_ops_problem.cache_clear()
    monkeypatch.setattr(importlib, 'import_module', broken_ops)
    try:
        with pytest.raises(MissingPackageError) as error:
            check_mmcv_ops('tools/train.py')
    finally:
        packages._mmcv_ops_problem.cache_clear()
    message = str(error.value)
    assert 'tools/train.py needs mmcv with its compiled ops' in message
    assert f'for another torch than this torch {torch.__version__}' in message
    assert 'undefined symbol' in message and 'scripts/setup_env.sh' in message


# ---------------------------------------------------------------------------- registration
@needs_mmengine
def test_each_class_is_registered_once_in_each_installed_registry():
    from mmrest.models import CeiT, ResT, ResTV2
    from mmrest.registry import MODELS
    from mmrest.utils.packages import task_registry
    for cls in (ResT, ResTV2, CeiT):
        assert MODELS.get(cls.__name__) is cls
        for package in TASK_PACKAGES:
            registry = task_registry(package, 'MODELS')
            if registry is not None:
                assert registry.module_dict[cls.__name__] is cls


@needs_mmengine
def test_a_name_clash_raises():
    from mmrest.registry import register_model

    with pytest.raises(KeyError, match='ResTV2 is already registered'):
        @register_model
        class ResTV2(torch.nn.Module):
            pass
