"""The backbones build from mmdet, mmseg and mmpretrain configs, plain and scoped names."""
import importlib
import subprocess
import sys
import textwrap

import pytest
from mmengine.registry import DefaultScope

import mmrest
from tests.common import FLAT

SCOPES = ['mmdet', 'mmseg', 'mmpretrain']


@pytest.mark.parametrize('scope', SCOPES)
@pytest.mark.parametrize('type_name,cls', [('ResT', mmrest.ResT), ('ResTV2', mmrest.ResTV2),
                                           ('mmrest.ResT', mmrest.ResT),
                                           ('mmrest.ResTV2', mmrest.ResTV2)])
def test_builds_in_every_scope(scope, type_name, cls):
    registry = importlib.import_module(f'{scope}.registry').MODELS
    with DefaultScope.overwrite_default_scope(scope):
        model = registry.build(dict(type=type_name, arch=FLAT, out_indices=(1, 3)))
    assert type(model) is cls and model.out_indices == (1, 3)


@pytest.mark.slow  # a fresh interpreter imports the whole stack
def test_custom_imports_in_a_fresh_interpreter(tmp_path):
    """What a user's config does: nothing imports mmrest but ``custom_imports``."""
    script = textwrap.dedent(f"""
        import importlib
        from mmengine.config import Config
        from mmengine.registry import DefaultScope
        arch = {FLAT!r}
        for scope in {SCOPES!r}:
            for type_name in ('ResTV2', 'mmrest.ResT'):
                path = {str(tmp_path)!r} + f'/{{scope}}.py'
                with open(path, 'w') as f:
                    f.write("custom_imports = dict(imports=['mmrest'], "
                            "allow_failed_imports=False)\\n"
                            f"default_scope = '{{scope}}'\\n"
                            f"backbone = dict(type='{{type_name}}', arch={{arch!r}})\\n")
                cfg = Config.fromfile(path)
                registry = importlib.import_module(f'{{scope}}.registry').MODELS
                with DefaultScope.overwrite_default_scope(scope):
                    model = registry.build(cfg.backbone)
                print(scope, type_name, type(model).__name__)
    """)
    result = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.split('\n')
    for scope in SCOPES:
        assert f'{scope} ResTV2 ResTV2' in lines and f'{scope} mmrest.ResT ResT' in lines
