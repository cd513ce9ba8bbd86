"""The authors' released checkpoints load into mmrest as they are, through every path a user
takes; the converter; errors for files of another size, version or layout.

The oracle for the UperNet files is the authors' own code: ``tools/dev/make_reference_outputs.py``
built their UperNet (their ResTv2 segmentation backbone, mmseg 0.x's heads) with the weights of
``tests/reference_weights.py`` and recorded, in ``tests/fixtures/upernet_restv2.*``, the key
names and shapes of the file as mmseg 0.x saves it and what the model computes on a small input.
Here the file is rebuilt from those figures alone: no network, no foreign code. The ImageNet
files come the same way from ``tests/fixtures/imagenet_rest.*`` (the authors' classifiers of
every published preset, ``tests/reference.py``).
"""
import json
import os
import pickle
import re
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path
from typing import Dict

import numpy as np
import pytest
import torch
import torch.nn as nn

from mmrest import ResT, ResTV2
from mmrest.apis import build_model, check_model_fits, load_config
from mmrest.checkpoint import CheckpointFileError, CheckpointMismatchError
from mmrest.converters import recognise_official
from tests import reference as imagenet_reference
from tests.common import CONFIGS, FIXTURES, REPO, requires
from tests.reference_weights import reference_input, reference_state_dict
from tests.tiny_tasks import TASKS, task_options
from tools import test as test_tool
from tools.convert_official import main as convert_main

pytestmark = [pytest.mark.slow, requires('mmseg')]  # (the README's test command runs it)

UPERNET = json.loads((FIXTURES / 'upernet_restv2.json').read_text())
OUTPUTS = dict(np.load(FIXTURES / 'upernet_restv2.npz'))
UPERNET_CONFIGS = {'restv2_tiny': 'upernet_restv2_t_160k_ade20k.py',
                   'restv2_small': 'upernet_restv2_s_160k_ade20k.py',
                   'restv2_base': 'upernet_restv2_b_160k_ade20k.py'}
ATOL = 1e-4


def authors_upernet_state(model: str) -> Dict[str, torch.Tensor]:
    return reference_state_dict(UPERNET['models'][model]['keys'])


def in_mmrest_names(state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """The authors' output norms backbone.norm_{1..4} are mmrest's backbone.norm{0..3}."""
    return {re.sub(r'^backbone\.norm_(\d)\.', lambda m: f'backbone.norm{int(m[1]) - 1}.', k): v
            for k, v in state.items()}


def write_authors_upernet(path: Path, model: str = 'restv2_tiny') -> Path:
    """The file as mmcv 1.x's save_checkpoint writes it at the end of mmseg 0.x training."""
    from mmseg.datasets import ADE20KDataset
    layout = UPERNET['layout']
    meta = {'env_info': 'sys.platform: linux\nPyTorch: 1.8.0', 'seed': 0,
            'exp_name': f'{Path(UPERNET["models"][model]["authors_config"]).name}',
            'CLASSES': ADE20KDataset.METAINFO['classes'],
            'PALETTE': [list(c) for c in ADE20KDataset.METAINFO['palette']],
            'iter': 160000, 'epoch': 1, 'mmcv_version': '1.4.0',
            'time': 'Mon May  9 12:00:00 2022'}
    assert sorted(meta) == sorted(layout['meta'])
    checkpoint = {'meta': meta, 'state_dict': OrderedDict(authors_upernet_state(model)),
                  'optimizer': {'state': {}, 'param_groups': [
                      {'lr': 6e-5, 'weight_decay': 0.01, 'params': [0, 1]}]}}
    assert sorted(checkpoint) == sorted(layout['top_level'])
    torch.save(checkpoint, path)
    return path


def upernet_config(name: str = 'restv2_tiny', **options):
    cfg = load_config(str(CONFIGS / UPERNET_CONFIGS[name]),
                      cfg_options={'model.backbone.init_cfg': None, **options})
    return cfg


def assert_same_state(model: nn.Module, expected: Dict[str, torch.Tensor]) -> None:
    state = model.state_dict()
    assert sorted(state) == sorted(expected)
    different = [k for k, v in state.items() if not torch.equal(v, expected[k])]
    assert not different, f'{len(different)} tensors differ, e.g. {different[:3]}'


def authors_input() -> torch.Tensor:
    """The input the authors' outputs were recorded for (rebuilt from its shape and seed)."""
    return reference_input(UPERNET['input_shape'], UPERNET['input_seed'])


def assert_authors_outputs(model: nn.Module, name: str) -> None:
    """The segmentor reproduces what the authors' UperNet computed on the fixture input."""
    image = authors_input()
    with torch.no_grad():
        features = model.extract_feat(image)
        decode = model.decode_head(list(features))
        aux = model.auxiliary_head(list(features))
    assert len(features) == 4
    for i, feature in enumerate(features):
        torch.testing.assert_close(feature, torch.from_numpy(OUTPUTS[f'{name}/backbone.{i}']),
                                   rtol=0, atol=ATOL)
    torch.testing.assert_close(decode, torch.from_numpy(OUTPUTS[f'{name}/decode_head']),
                               rtol=0, atol=ATOL)
    torch.testing.assert_close(aux, torch.from_numpy(OUTPUTS[f'{name}/auxiliary_head']),
                               rtol=0, atol=ATOL)


@pytest.fixture(scope='module')
def tiny_file(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp('authors')
    return write_authors_upernet(folder / UPERNET['models']['restv2_tiny']['file'])


# ----------------------------------------------------------------------------- UperNet files
@pytest.mark.parametrize('name', list(UPERNET_CONFIGS))
def test_init_cfg_loads_the_authors_upernet_files(tmp_path, name):
    path = write_authors_upernet(tmp_path / UPERNET['models'][name]['file'], name)
    arch = name.split('_')[1]
    backbone = ResTV2(arch=arch, init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    backbone.init_weights()
    backbone.eval()
    report = backbone.load_report
    assert report.clean and report.new == []
    assert sorted(report.renamed) == sorted(
        (f'norm_{i + 1}.{p}', f'norm{i}.{p}') for i in range(4) for p in ('weight', 'bias'))
    assert list(report.skipped) == ['not part of the backbone']
    assert {k.split('.')[0] for k in report.skipped['not part of the backbone']} == {
        'decode_head', 'auxiliary_head'}
    expected = {k[len('backbone.'):]: v for k, v in
                in_mmrest_names(authors_upernet_state(name)).items()
                if k.startswith('backbone.')}
    assert_same_state(backbone, expected)
    with torch.no_grad():
        features = backbone(authors_input())
    for i, feature in enumerate(features):
        torch.testing.assert_close(feature, torch.from_numpy(OUTPUTS[f'{name}/backbone.{i}']),
                                   rtol=0, atol=ATOL)


def test_whole_upernet_file_loads_as_it_is(tiny_file):
    """mmengine's load_checkpoint: what load_from, both test tools and the inferencer call."""
    from mmengine.runner import load_checkpoint
    model, _ = build_model(upernet_config())
    load_checkpoint(model, str(tiny_file), map_location='cpu', strict=True)
    assert_same_state(model, in_mmrest_names(authors_upernet_state('restv2_tiny')))
    assert_authors_outputs(model, 'restv2_tiny')


def test_upernet_file_through_the_test_tools_and_the_inferencer(tiny_file, data, tmp_path):
    """mmrest's tools/test.py, mmseg's own tools/test.py (custom_imports) and MMSegInferencer,
    on synthetic ADE20K-style images, predict the same label maps from the authors' file."""
    import mmseg
    from mmseg.apis import MMSegInferencer
    from PIL import Image
    task = TASKS['upernet']
    tiny_keys = [k for k in task_options(task, data) if k.startswith((
        'model.backbone.', 'model.decode_head.', 'model.auxiliary_head.'))]
    cfg = upernet_config(**task_options(task, data, without=tiny_keys))
    config_file = tmp_path / 'upernet_restv2_t_synthetic.py'
    cfg.dump(str(config_file))
    images = sorted(data.ade.img_dirs['val'].iterdir())

    inferencer = MMSegInferencer(model=str(config_file), weights=str(tiny_file), device='cpu')
    assert_same_state(inferencer.model, in_mmrest_names(authors_upernet_state('restv2_tiny')))
    predicted = inferencer([str(p) for p in images], return_datasamples=True)
    labels = {p.stem: s.pred_sem_seg.data[0].numpy() for p, s in zip(images, predicted)}
    assert len(np.unique(np.concatenate([v.ravel() for v in labels.values()]))) > 5

    dump = tmp_path / 'mmrest.pkl'
    assert test_tool.main([str(config_file), str(tiny_file), '--out', str(dump),
                           '--work-dir', str(tmp_path / 'mmrest_test')]) == 0
    with open(dump, 'rb') as f:
        results = pickle.load(f)
    assert {Path(r['img_path']).stem for r in results} == set(labels)
    for result in results:
        ours = result['pred_sem_seg']['data'][0].numpy()
        np.testing.assert_array_equal(ours, labels[Path(result['img_path']).stem])

    # mmseg's own test tool, in its own process, with the config's custom_imports.
    tool = Path(mmseg.__file__).parent / '.mim' / 'tools' / 'test.py'
    out_dir = tmp_path / 'mmseg_out'
    run = subprocess.run([sys.executable, str(tool), str(config_file), str(tiny_file),
                          '--out', str(out_dir), '--work-dir', str(tmp_path / 'mmseg_test')],
                         capture_output=True, text=True, cwd=str(tmp_path),
                         env={**os.environ, 'PYTHONPATH': str(REPO)})
    assert run.returncode == 0, run.stderr[-3000:]
    log = run.stdout + run.stderr
    assert 'do not match exactly' not in log and 'missing keys' not in log
    for stem, expected in labels.items():
        # reduce_zero_label: the PNG holds class index + 1
        theirs = np.asarray(Image.open(out_dir / f'{stem}.png')).astype(np.int64) - 1
        # another process may sum in another order: allow a few near-ties to flip
        assert (theirs == expected).mean() > 0.999


def test_a_partial_backbone_is_refused_on_every_load_path(tiny_file):
    from mmengine.runner.checkpoint import load_state_dict
    model, _ = build_model(upernet_config())
    state = torch.load(tiny_file, weights_only=False)['state_dict']
    del state['backbone.stage3.2.attn.up_norm.weight']
    state['backbone.stage3.2.attn.extra.weight'] = torch.zeros(1)
    for load in (lambda: model.load_state_dict(state, strict=False),
                 lambda: load_state_dict(model, state, strict=False)):
        with pytest.raises(CheckpointMismatchError,
                           match=r'(?s)missing.*up_norm.*not its own.*extra.*convert_official'):
            load()


# -------------------------------------------------------------------------------- converter
def test_convert_the_authors_upernet_file(tiny_file, tmp_path, capsys):
    from mmseg.datasets import ADE20KDataset
    config = str(CONFIGS / UPERNET_CONFIGS['restv2_tiny'])
    dst = tmp_path / 'upernet_restv2_t.pth'
    assert convert_main([str(tiny_file), str(dst), '--config', config]) == 0
    out = capsys.readouterr().out
    assert "the authors' ResTv2 tiny UperNet on ADE20K (mmsegmentation 0.x)" in out
    assert 'config: configs/upernet_restv2_t_160k_ade20k.py' in out
    for i in range(4):
        assert f'backbone.norm_{i + 1}.weight -> backbone.norm{i}.weight' in out
    assert 'dropped optimizer (training state' in out
    assert 'dropped env_info, seed, exp_name, iter, epoch, mmcv_version, time' in out
    assert f'checked: {config} loads it with strict=True' in out
    assert f'evaluate: python tools/test.py {config} {dst}' in out
    converted = torch.load(dst, weights_only=True)
    expected = in_mmrest_names(authors_upernet_state('restv2_tiny'))
    assert sorted(converted['state_dict']) == sorted(expected)
    assert all(torch.equal(v, expected[k]) for k, v in converted['state_dict'].items())
    assert converted['meta']['dataset_meta']['classes'] == ADE20KDataset.METAINFO['classes']
    model, _ = build_model(upernet_config())
    model.load_state_dict(converted['state_dict'], strict=True)


def test_converter_refuses_a_config_of_another_size(tiny_file, tmp_path, capsys):
    dst = tmp_path / 'out.pth'
    assert convert_main([str(tiny_file), str(dst), '--config',
                         str(CONFIGS / UPERNET_CONFIGS['restv2_small'])]) == 2
    err = capsys.readouterr().err
    assert re.search(r"(?s)ResTv2 tiny UperNet.*does not fit.*arch 'tiny'.*arch 'small'", err)
    assert not dst.exists()


IMAGENET_FILES = [(ResT, 'lite', 'rest_lite'), (ResT, 'small', 'rest_s'),
                  (ResT, 'base', 'rest_b'), (ResT, 'large', 'rest_l'),
                  (ResTV2, 'tiny', 'restv2_t'), (ResTV2, 'small', 'restv2_s'),
                  (ResTV2, 'base', 'restv2_b'), (ResTV2, 'large', 'restv2_l')]
_official_states: Dict[str, Dict[str, torch.Tensor]] = {}


def authors_imagenet_state(cls, arch: str) -> Dict[str, torch.Tensor]:
    """The authors' published ImageNet file of ``cls``'s preset ``arch`` (its ``model``)."""
    key = f'{cls.__name__}-{arch}'
    if key not in _official_states:
        _official_states[key] = imagenet_reference.authors_imagenet_state(
            cls.version, cls.arch_zoo[arch])
    return _official_states[key]


@pytest.mark.parametrize('cls,arch,config', IMAGENET_FILES)
def test_every_published_file_is_recognised(cls, arch, config):
    state = authors_imagenet_state(cls, arch)
    official = recognise_official({'model': state}, 'file.pth')
    assert (official.family, official.arch, official.config) == (
        'imagenet', arch, f'imagenet/{config}_in1k.py')
    assert (CONFIGS / official.config).is_file()
    if cls is ResTV2:
        assert recognise_official({'model': state}, f'{cls.__name__}_{arch}_384.pth').config \
            == f'imagenet/{config}_in1k_384.py'


@pytest.mark.parametrize('name', list(UPERNET_CONFIGS))
def test_every_published_upernet_file_is_recognised(name):
    state = {k: torch.empty(s, device='meta') for k, s in UPERNET['models'][name]['keys']}
    official = recognise_official({'meta': {}, 'state_dict': state}, 'file.pth')
    assert (official.family, official.version, official.config) == (
        'upernet', 'v2', UPERNET_CONFIGS[name])


# ------------------------------------------------------------------------ size / URL errors
SAME_WIDTHS = [(ResTV2, 'tiny', 'small'), (ResTV2, 'tiny', 'base'), (ResTV2, 'small', 'base'),
               (ResT, 'lite', 'small'), (ResT, 'base', 'large')]


@pytest.mark.parametrize('cls,first,second', SAME_WIDTHS)
def test_a_file_of_another_size_fails_in_both_directions(cls, first, second):
    for theirs, ours in ((first, second), (second, first)):
        state = authors_imagenet_state(cls, theirs)
        model = cls(arch=ours)
        with pytest.raises(CheckpointMismatchError,
                           match=rf"(?s)does not fit.*arch '{theirs}'.*arch '{ours}'"):
            model.load_pretrained({'model': state})


def test_authors_imagenet_file_given_to_the_test_tool_names_the_converter():
    state = authors_imagenet_state(ResTV2, 'tiny')
    model, _ = build_model(load_config(str(CONFIGS / 'imagenet' / 'restv2_t_in1k.py')))
    with pytest.raises(CheckpointMismatchError,
                       match=r"(?s)It is the authors' ResTv2 tiny ImageNet classifier: convert "
                       r'it with python tools/convert_official.py.*imagenet/restv2_t_in1k.py'):
        check_model_fits(model, {'model': state}, source='restv2_tiny_224.pth')


def test_an_unreachable_url_names_it_and_the_way_around(tmp_path):
    url = f'http://127.0.0.1:9/{tmp_path.name}/restv2_tiny_224.pth'  # nothing listens on 9
    model = ResTV2(arch='tiny', init_cfg=dict(type='Pretrained', checkpoint=url))
    with pytest.raises(CheckpointFileError,
                       match=rf'(?s)cannot download the checkpoint {re.escape(url)}.*'
                       r'Download the file by hand and point `checkpoint` at it'):
        model.init_weights()
