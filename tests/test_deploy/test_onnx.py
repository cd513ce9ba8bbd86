"""Deployment: ONNX export with dynamic batch/height/width, checked in ONNX Runtime against
PyTorch at sizes other than the export size (including sizes that are not multiples of 32),
and torch.compile equivalence.

Tiny archs keep the file fast on 2 CPU cores. The dynamo-based ONNX exporter and inductor are
exercised once each at most: they take minutes here (see ``MMREST_COMPILE_BACKEND``).
"""
import os
from typing import List, Sequence, Tuple

import pytest
import torch

onnx = pytest.importorskip('onnx')
pytest.importorskip('onnxruntime')

from mmrest import ResT, ResTV2  # noqa: E402
from mmrest.deploy import (  # noqa: E402
    DynamicAdaptiveAvgPool2d,
    OnnxMismatchError,
    PreciseInstanceNorm2d,
    export_backbone,
    export_model,
    export_rewrites,
    onnx_session,
    verify_onnx,
)
from mmrest.utils.compat import HAS_DYNAMO_ONNX, HAS_FULLGRAPH_COMPILE  # noqa: E402
from tests.common import CONFIGS, DIMS, FLAT  # noqa: E402
from tools.deploy import export_onnx as export_onnx_tool  # noqa: E402

pytestmark = pytest.mark.slow  # (the README's test command runs it)

TINY_DIMS = list(DIMS)
ATOL = 1e-4
# Export at 224x224, run elsewhere: other aspect ratios, sizes that are not multiples of 32
# (odd token grids at every stage), one smaller than the 32x32 of a single stage-4 token.
SIZES = [(224, 224), (256, 320), (97, 130), (33, 47)]
# Inductor compiles C++ kernels: about 20 minutes for the two tiny backbones on 2 cores. The
# default aot_eager runs dynamo's capture and AOTAutograd's decompositions with eager kernels.
COMPILE_BACKEND = os.environ.get('MMREST_COMPILE_BACKEND', 'aot_eager')


def tiny(cls, **kwargs) -> torch.nn.Module:
    model = cls(arch=FLAT, **kwargs)
    model.init_weights()
    return model.eval()


def batches(sizes: Sequence[Tuple[int, int]], batch: int = 1) -> List[torch.Tensor]:
    return [torch.randn(batch, 3, h, w) for h, w in sizes]


def input_dims(path: str) -> List[object]:
    """Symbolic names (str) or fixed sizes (int) of the first graph input's axes."""
    dims = onnx.load(path).graph.input[0].type.tensor_type.shape.dim
    return [d.dim_param or d.dim_value for d in dims]


def assert_close_everywhere(checks, atol: float = ATOL) -> None:
    for check in checks:
        assert not check.shape_mismatch, check.summary()
        assert check.worst < atol, check.summary()


# ----------------------------------------------------------------------------------- backbones
@pytest.mark.parametrize('cls', [ResT, ResTV2])
def test_backbone_onnx_is_dynamic(cls, tmp_path):
    model = tiny(cls)
    exported = export_backbone(model, tmp_path / 'backbone.onnx', input_size=(224, 224))
    assert exported.output_names == ['feat0', 'feat1', 'feat2', 'feat3']
    assert not model.training  # restored to the mode it was given in
    dims = input_dims(exported.path)
    assert dims[1] == 3 and all(isinstance(d, str) for d in (dims[0], dims[2], dims[3]))
    checks = verify_onnx(exported.path, model, batches(SIZES[:1], 2) + batches(SIZES[1:]))
    assert [c.input_shape[2:] for c in checks] == SIZES
    assert_close_everywhere(checks)


@pytest.mark.parametrize('style', ['win', 'cwin', 'hwin'])
def test_window_styles_export_dynamically(style, tmp_path):
    # Exported at a size where every window covers its whole map (the global-attention
    # shortcut in eager mode), run where stages need several padded windows, and back.
    model = tiny(ResTV2, attn_style=style, window_size=(16, 8, 4, 2))
    exported = export_backbone(model, tmp_path / f'{style}.onnx', input_size=(48, 48))
    assert_close_everywhere(verify_onnx(exported.path, model, batches([(48, 48), (300, 420),
                                                                       (97, 130)])))


def test_static_export_fixes_height_and_width(tmp_path):
    model = tiny(ResTV2)
    exported = export_backbone(model, tmp_path / 'static.onnx', input_size=(64, 96),
                               dynamic_hw=False)
    assert input_dims(exported.path)[2:] == [64, 96]
    assert_close_everywhere(verify_onnx(exported.path, model, batches([(64, 96)], 2)))
    # Another size fails in ONNX Runtime: verify_onnx reports it instead of raising it raw.
    (check, ) = verify_onnx(exported.path, model, batches([(96, 64)]), raise_on_mismatch=False)
    assert not check.passed(ATOL) and 'dimension' in check.error.lower()
    with pytest.raises(OnnxMismatchError, match='ONNX Runtime failed'):
        verify_onnx(exported.path, model, batches([(96, 64)]))


@pytest.mark.skipif(not HAS_DYNAMO_ONNX, reason='the torch.export-based ONNX exporter '
                    '(torch.onnx.export(dynamo=True)) needs torch >= 2.5')
def test_dynamo_exporter(tmp_path):
    model = tiny(ResT)
    with pytest.raises(ValueError, match='opset 18'):
        export_backbone(model, tmp_path / 'x.onnx', opset=17, dynamo=True)
    exported = export_backbone(model, tmp_path / 'dynamo.onnx', input_size=(64, 96),
                               dynamo=True)
    assert exported.opset == 18
    assert_close_everywhere(verify_onnx(exported.path, model,
                                        batches([(64, 96)], 2) + batches([(97, 130)])))


@pytest.mark.skipif(HAS_DYNAMO_ONNX, reason='this torch has the torch.export-based exporter')
def test_dynamo_exporter_refused_on_old_torch(tmp_path):
    with pytest.raises(RuntimeError, match=r'needs torch >= 2\.5.*TorchScript exporter'):
        export_backbone(tiny(ResT), tmp_path / 'dynamo.onnx', dynamo=True)
    assert not (tmp_path / 'dynamo.onnx').exists()


def test_verify_reports_mismatch(tmp_path):
    model = tiny(ResTV2)
    exported = export_backbone(model, tmp_path / 'backbone.onnx', input_size=(64, 64))
    with torch.no_grad():
        model.norm3.bias.add_(1e-2)  # the file no longer matches the model
    inputs = batches([(64, 64)])
    with pytest.raises(OnnxMismatchError, match='feat3'):
        verify_onnx(exported.path, model, inputs)
    (check, ) = verify_onnx(exported.path, model, inputs, raise_on_mismatch=False)
    assert 0.009 < check.max_abs_diff['feat3'] < 0.011 and check.max_abs_diff['feat0'] < ATOL


# ------------------------------------------------------------------------------ export rewrites
@pytest.mark.parametrize('size', [(13, 29), (6, 6), (40, 7)])
def test_dynamic_adaptive_avg_pool_is_exact(size):
    x = torch.randn(2, 5, *size)
    for bins in (1, 2, 3, 6, (2, None)):
        expected = torch.nn.AdaptiveAvgPool2d(bins)(x)
        torch.testing.assert_close(DynamicAdaptiveAvgPool2d(bins)(x), expected)


@pytest.mark.parametrize('affine', [False, True])
def test_precise_instance_norm_matches(affine):
    norm = torch.nn.InstanceNorm2d(4, affine=affine)
    if affine:
        torch.nn.init.normal_(norm.weight)
        torch.nn.init.normal_(norm.bias)
    x = torch.randn(2, 4, 30, 17).softmax(-1)  # ResT v1's case: softmax outputs
    torch.testing.assert_close(PreciseInstanceNorm2d(norm)(x), norm(x), atol=1e-5, rtol=1e-5)


def test_export_rewrites_are_undone():
    model = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(3), torch.nn.AdaptiveAvgPool2d(1),
                                torch.nn.InstanceNorm2d(2))
    with export_rewrites(model) as count:
        assert count == 2
        assert isinstance(model[0], DynamicAdaptiveAvgPool2d)
        assert isinstance(model[1], torch.nn.AdaptiveAvgPool2d)  # exports as it is
        assert isinstance(model[2], PreciseInstanceNorm2d)
    assert isinstance(model[0], torch.nn.AdaptiveAvgPool2d)
    assert isinstance(model[2], torch.nn.InstanceNorm2d)


# -------------------------------------------------------------------------------- whole models
TINY_MODELS = {
    'mask_rcnn_restv2_t_1x.py': {'model.neck.in_channels': TINY_DIMS},
    'upernet_restv2_t_160k_ade20k.py': {
        'model.decode_head.in_channels': TINY_DIMS, 'model.decode_head.channels': 32,
        'model.auxiliary_head.in_channels': TINY_DIMS[2], 'model.auxiliary_head.channels': 16},
}


@pytest.mark.parametrize('config', list(TINY_MODELS))
def test_model_onnx_is_dynamic(config, tmp_path):
    options = {'model.backbone.arch': FLAT, **TINY_MODELS[config]}
    exported = export_model(CONFIGS / config, path=tmp_path / 'model.onnx',
                            input_size=(224, 224), cfg_options=options)
    if config.startswith('mask_rcnn'):
        # Five FPN levels, then the RPN head's scores and box deltas per level.
        assert exported.output_names[:5] == [f'feat{i}' for i in range(5)]
        assert exported.output_names[5:] == ([f'rpn_cls_score{i}' for i in range(5)] +
                                             [f'rpn_bbox_pred{i}' for i in range(5)])
    else:
        assert exported.output_names == ['seg_logits']
        assert exported.rewrites == 3  # the PPM's 2, 3 and 6-bin adaptive pools
    checks = verify_onnx(exported.path, exported.module,
                         batches([(256, 320)], 2) + batches([(97, 130)]))
    assert_close_everywhere(checks)
    if config.startswith('upernet'):  # logits at 1/4 of the input, rounded up
        assert checks[1].input_shape[2:] == (97, 130)
        logits = onnx_session(exported.path).run(None, {'input': batches([(97, 130)])[0].numpy()})
        assert logits[0].shape == (1, 150, 25, 33)


def test_export_tool(tmp_path, capsys):
    out = tmp_path / 'backbone.onnx'
    code = export_onnx_tool.main([
        str(CONFIGS / 'mask_rcnn_rest_s_1x.py'), '--out', str(out), '--backbone-only',
        '--input', '96x64', '--verify', '--cfg-options',
        'model.backbone.arch.embed_dims=[16,32,64,128]', 'model.backbone.arch.depths=[1,1,1,1]',
        'model.backbone.arch.num_heads=[1,2,4,8]'
    ])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert out.is_file() and 'no checkpoint' in printed.err
    # --input is WxH like the other tools; the checks print (B, C, H, W) shapes.
    assert 'traced at 96x64' in printed.out and printed.out.count('verified') == 3
    assert 'verified 1x3x64x96' in printed.out
    assert export_onnx_tool.main(['missing.py']) == 2


# ------------------------------------------------------------------------------- torch.compile
@pytest.mark.parametrize('cls', [ResT, ResTV2])
@pytest.mark.skipif(not HAS_FULLGRAPH_COMPILE, reason='torch.compile(fullgraph=True) of '
                    'ResT needs torch >= 2.5 here (2.1 dynamo loses the stage modules)')
def test_torch_compile_matches_eager(cls):
    model = tiny(cls)
    # fullgraph: no graph break anywhere. dynamic=False: a static graph per size compiles in
    # seconds; symbolic shapes take ~40 s per model here (sympy) and check the same outputs.
    compiled = torch.compile(model, backend=COMPILE_BACKEND, dynamic=False, fullgraph=True)
    for size in [(64, 96), (97, 130)]:
        x = torch.randn(1, 3, *size)
        with torch.no_grad():
            expected, got = model(x), compiled(x)
        assert len(got) == len(expected) == 4
        for e, g in zip(expected, got):
            torch.testing.assert_close(g, e, atol=1e-4, rtol=1e-4)
