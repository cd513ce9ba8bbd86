"""Loading the authors' checkpoints and mmrest's own, with torch's weights_only default."""
import pickle

import numpy as np
import pytest
import torch

import mmrest
from mmrest import ResT, ResTV2
from mmrest import checkpoint as ckpt_lib
from mmrest.checkpoint import CheckpointMismatchError
from tests.common import OTHER, TINY
from tests.reference import authors_imagenet_state, write_authors_imagenet


def official_file(tmp_path, cls, arch=TINY, name='official.pth'):
    """The authors' ImageNet file of ``arch`` for ``cls``'s version (tests/fixtures)."""
    return str(write_authors_imagenet(tmp_path / name, cls.version, arch))


@pytest.mark.parametrize('cls', [ResT, ResTV2])
def test_authors_checkpoint_reaches_every_parameter(tmp_path, cls):
    path = official_file(tmp_path, cls)
    model = cls(arch=TINY, init_cfg=dict(type='Pretrained', checkpoint=path))
    model.init_weights()
    report = model.load_report
    assert report.missing == [] and report.unexpected == []
    assert report.skipped == {'ImageNet classifier head': ['head.weight', 'head.bias']}
    assert sorted({k.split('.')[0] for k in report.new}) == ['norm0', 'norm1', 'norm2']

    theirs = authors_imagenet_state(cls.version, TINY)
    renamed = ckpt_lib.rename_v1_official(theirs) if cls is ResT else dict(theirs)
    renamed = {k.replace('norm.', 'norm3.', 1) if k.startswith('norm.') else k: v
               for k, v in renamed.items()}
    ours = model.state_dict()
    for key, value in ours.items():
        if key in report.new:
            continue
        assert key in renamed, f'{key} was not loaded from the checkpoint'
        assert torch.equal(value, renamed[key]), key
    # Every tensor of the file is either loaded or the classifier head.
    assert len(report.loaded) + 2 == len(theirs)


@pytest.mark.parametrize('cls', [ResT, ResTV2])
def test_full_model_checkpoint_with_backbone_prefix(tmp_path, cls):
    source = cls(arch=TINY)
    source.init_weights()
    state = {f'backbone.{k}': v for k, v in source.state_dict().items()}
    state['neck.lateral_convs.0.conv.weight'] = torch.zeros(1)
    path = tmp_path / 'epoch_1.pth'
    torch.save({'state_dict': state, 'meta': {'epoch': 1, 'seed': np.int64(3)},
                'message_hub': {'log_scalars': {}}}, path)
    model = cls(arch=TINY, init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    model.init_weights()
    assert model.load_report.clean and model.load_report.new == []
    assert model.load_report.skipped == {
        'not part of the backbone': ['neck.lateral_convs.0.conv.weight']}
    for key, value in model.state_dict().items():
        assert torch.equal(value, source.state_dict()[key]), key


def test_missing_and_unexpected_keys_are_reported_loudly(tmp_path, monkeypatch):
    state = authors_imagenet_state(ResTV2.version, TINY)
    del state['stage3.1.attn.up_norm.weight']
    state['stage3.1.attn.extra.weight'] = torch.zeros(3)
    logged = []
    monkeypatch.setattr('mmrest.models.backbones.base.print_log',
                        lambda msg, logger=None, level=None: logged.append((level, msg)))
    model = ResTV2(arch=TINY)
    report = model.load_pretrained({'model': state})
    assert report.missing == ['stage3.1.attn.up_norm.weight']
    assert report.unexpected == ['stage3.1.attn.extra.weight']
    (level, message), = logged
    assert level == 30  # logging.WARNING
    assert 'MISSING' in message and 'stage3.1.attn.up_norm.weight' in message
    assert 'UNEXPECTED' in message and 'stage3.1.attn.extra.weight' in message


def test_missing_file_is_a_clear_error(tmp_path):
    model = ResTV2(arch=TINY, init_cfg=dict(type='Pretrained',
                                            checkpoint=str(tmp_path / 'nope.pth')))
    with pytest.raises(FileNotFoundError, match='Pretrained checkpoint for ResTV2 not found'):
        model.init_weights()


@pytest.mark.parametrize('cls,other_cls,other_name', [(ResTV2, ResT, 'ResT'),
                                                      (ResT, ResTV2, 'ResTV2')])
def test_other_version_is_a_clear_error(tmp_path, cls, other_cls, other_name):
    path = official_file(tmp_path, other_cls)
    model = cls(arch=TINY, init_cfg=dict(type='Pretrained', checkpoint=path))
    with pytest.raises(CheckpointMismatchError, match=f"use type='{other_name}'"):
        model.init_weights()


def test_other_size_is_a_clear_error(tmp_path):
    path = official_file(tmp_path, ResTV2, arch=OTHER)
    model = ResTV2(arch=TINY, init_cfg=dict(type='Pretrained', checkpoint=path))
    with pytest.raises(CheckpointMismatchError,
                       match=r'(?s)does not fit.*embed_dims=\[24, 48, 96, 192\], depths=\[1, 2, '
                       r'2, 1\].*Choose the matching arch'):
        model.init_weights()


def test_not_a_state_dict_is_a_clear_error(tmp_path):
    path = tmp_path / 'junk.pth'
    torch.save({'epoch': 3}, path)
    with pytest.raises(CheckpointMismatchError, match='holds no state dict'):
        ResTV2(arch=TINY).load_pretrained(str(path))


def test_mmengine_training_checkpoint_needs_the_compat_loader(tmp_path):
    """What mmengine writes (message hub, numpy in meta) fails plain weights_only loading."""
    from mmengine.logging import HistoryBuffer
    from mmengine.runner.checkpoint import CheckpointLoader
    path = tmp_path / 'iter_2.pth'
    buffer = HistoryBuffer()
    buffer.update(0.5)
    torch.save({'meta': {'seed': np.int64(1), 'arr': np.arange(3)},
                'state_dict': {'w': torch.ones(2)},
                'message_hub': {'log_scalars': {'train/loss': buffer}}}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)  # the default from torch 2.6 on
    loaded = CheckpointLoader.load_checkpoint(str(path), map_location='cpu')
    assert loaded['message_hub']['log_scalars']['train/loss'].current() == 0.5
    assert loaded['meta']['arr'].tolist() == [0, 1, 2]


def test_arbitrary_objects_still_refused(tmp_path, monkeypatch):
    from mmrest.checkpoint import TRUST_ENV, load_from_local

    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'obj': pytest.approx(1)}, path)
    monkeypatch.delenv(TRUST_ENV, raising=False)
    with pytest.raises(pickle.UnpicklingError, match=TRUST_ENV):
        load_from_local(str(path))
    monkeypatch.setenv(TRUST_ENV, '1')
    assert 'obj' in load_from_local(str(path))


def test_runner_checkpoints_resume_and_load(tmp_path):
    """A real mmengine training run: its checkpoint resumes and loads for testing."""
    from mmengine.model import BaseModel
    from mmengine.runner import Runner

    class Toy(BaseModel):

        def __init__(self):
            super().__init__()
            self.backbone = ResTV2(arch=dict(embed_dims=(8, 16, 32, 64), depths=(1, 1, 1, 1),
                                             num_heads=(1, 2, 4, 8)), out_indices=(3, ))
            self.fc = torch.nn.Linear(64, 2)

        def forward(self, inputs, labels, mode='tensor'):
            logits = self.fc(self.backbone(torch.stack(inputs))[0].mean((2, 3)))
            if mode == 'loss':
                return {'loss': torch.nn.functional.cross_entropy(logits, torch.stack(labels))}
            return logits

    data = [dict(inputs=torch.randn(3, 32, 32), labels=torch.tensor(i % 2)) for i in range(4)]

    def make_runner(**kwargs):
        return Runner(
            model=Toy(), work_dir=str(tmp_path),
            train_dataloader=dict(dataset=data, sampler=dict(type='DefaultSampler', shuffle=False),
                                  batch_size=2, collate_fn=dict(type='pseudo_collate')),
            optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-3)),
            train_cfg=dict(by_epoch=True, max_epochs=kwargs.pop('max_epochs', 1)),
            default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1),
                               logger=dict(type='LoggerHook', interval=1)),
            default_scope='mmengine', **kwargs)

    make_runner().train()
    checkpoint = tmp_path / 'epoch_1.pth'
    assert checkpoint.is_file()
    with pytest.raises(pickle.UnpicklingError):
        # What breaks resuming without mmrest (weights_only=True: the default from torch 2.6).
        torch.load(checkpoint, weights_only=True)
    resumed = make_runner(max_epochs=2, resume=True, load_from=str(checkpoint))
    resumed.train()
    assert resumed.epoch == 2 and (tmp_path / 'epoch_2.pth').is_file()
    # Test-time loading of the same file into the backbone alone (backbone. prefix).
    backbone = ResTV2(arch=dict(embed_dims=(8, 16, 32, 64), depths=(1, 1, 1, 1),
                                num_heads=(1, 2, 4, 8)), out_indices=(3, ),
                      init_cfg=dict(type='Pretrained', checkpoint=str(checkpoint)))
    backbone.init_weights()
    assert backbone.load_report.clean


def test_history_buffer_getattr_stand_in_is_narrow():
    from mmengine.logging import HistoryBuffer

    from mmrest.checkpoint.files import _history_buffer_getattr
    assert _history_buffer_getattr(HistoryBuffer, 'mean') is HistoryBuffer.mean
    with pytest.raises(pickle.UnpicklingError, match='refusing'):
        _history_buffer_getattr(np.ndarray, 'tofile')
    with pytest.raises(pickle.UnpicklingError, match='refusing'):
        _history_buffer_getattr(HistoryBuffer, '__init__')


# ----------------------------------------------------------------- init_cfg lists, bad files
@pytest.mark.parametrize('cls', [ResT, ResTV2, mmrest.CeiT])
def test_init_cfg_list_applies_initialisers_then_the_checkpoint(tmp_path, cls):
    """mmengine lets init_cfg be a list: the authors' init, then each initialiser, then a
    Pretrained entry (whose report is kept), whatever their order in the list."""
    arch = dict(embed_dims=32, num_layers=2, num_heads=2) if cls is mmrest.CeiT else TINY
    initialisers = [dict(type='Constant', layer='Linear', val=0.5, bias=0.25),
                    dict(type='Constant', layer='LayerNorm', val=2.0, bias=0.0)]
    model = cls(arch=arch, init_cfg=initialisers)
    model.init_weights()
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    norms = [m for m in model.modules() if isinstance(m, torch.nn.LayerNorm)]
    assert linears and all(torch.all(m.weight == 0.5) and torch.all(m.bias == 0.25)
                           for m in linears)
    assert norms and all(torch.all(m.weight == 2.0) for m in norms)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert any(m.weight.std() > 0 for m in convs)  # the authors' init still ran

    source = cls(arch=arch)
    source.init_weights()
    path = tmp_path / 'source.pth'
    torch.save({'state_dict': source.state_dict()}, path)
    model = cls(arch=arch, init_cfg=[dict(type='Pretrained', checkpoint=str(path)),
                                     *initialisers])
    model.init_weights()
    assert model.load_report.clean and model.load_report.loaded
    for key, value in model.state_dict().items():
        assert torch.equal(value, source.state_dict()[key]), key


def test_bad_init_cfg_lists_are_explained():
    with pytest.raises(ValueError, match='2 Pretrained'):
        ResTV2(arch=TINY, init_cfg=[dict(type='Pretrained', checkpoint='a.pth'),
                                    dict(type='Pretrained', checkpoint='b.pth')])
    with pytest.raises(TypeError, match="dict with a 'type'"):
        ResTV2(arch=TINY, init_cfg=[dict(layer='Linear')])
    with pytest.raises(ValueError, match="needs a 'checkpoint'"):
        ResTV2(arch=TINY, init_cfg=dict(type='Pretrained'))


def _broken_files(tmp_path):
    good = tmp_path / 'good.pth'
    torch.save({'model': ResTV2(arch=TINY).state_dict()}, good)
    data = good.read_bytes()
    truncated, empty, text = (tmp_path / n for n in ('truncated.pth', 'empty.pth', 'notes.pth'))
    truncated.write_bytes(data[:len(data) // 2])
    empty.write_bytes(b'')
    text.write_text('not a checkpoint\n')
    return {'incomplete': truncated, 'empty': empty, 'not a readable PyTorch checkpoint': text}


def test_broken_checkpoint_files_are_named_and_explained(tmp_path):
    from mmrest.checkpoint import CheckpointFileError, load_from_local
    for words, path in _broken_files(tmp_path).items():
        with pytest.raises(CheckpointFileError, match=f'{path}.* {words}'):
            load_from_local(str(path))
        model = ResTV2(arch=TINY, init_cfg=dict(type='Pretrained', checkpoint=str(path)))
        with pytest.raises(CheckpointFileError, match=f'{path}.* {words}'):
            model.init_weights()
