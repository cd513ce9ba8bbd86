"""Global / Win / CWin / HWin attention (ResTv2 paper Sec. 5.1) and the comparison tool."""
import csv
import math

import pytest
import torch

from mmrest import ResT, ResTV2
from mmrest.analysis.flops import flops_by_class
from tests.common import WINDOWED, count_parameters, requires
from tests.reference import write_authors_imagenet

STYLES = ('global', 'win', 'cwin', 'hwin')


def pair(style, window_size, cls=ResTV2, **kwargs):
    """A global model and a ``style`` model with the same weights, both in eval mode."""
    ref = cls(arch=WINDOWED, **kwargs)
    ref.init_weights()
    other = cls(arch=WINDOWED, attn_style=style, window_size=window_size, **kwargs)
    other.init_weights()
    missing, unexpected = other.load_state_dict(ref.state_dict(), strict=False)
    assert unexpected == [] and all(k.startswith('cwin') for k in missing)
    return ref.eval(), other.eval()


@pytest.mark.parametrize('style', STYLES)
@pytest.mark.parametrize('fused_attn', [True, False])
def test_window_covering_the_map_is_exactly_global(style, fused_attn):
    # 128x192 input: stage maps 32x48, 16x24, 8x12, 4x6, all within the windows.
    ref, model = pair(style, (48, 24, 12, 6), fused_attn=fused_attn)
    x = torch.randn(2, 3, 128, 192)
    with torch.no_grad():
        for a, b in zip(ref(x), model(x)):
            assert torch.equal(a, b)


@pytest.mark.parametrize('style', ['win', 'cwin', 'hwin'])
@pytest.mark.parametrize('size', [(97, 130), (128, 192), (33, 257)])
def test_windows_work_at_any_size(style, size):
    ref, model = pair(style, (8, 4, 4, 2))
    x = torch.randn(1, 3, *size)
    with torch.no_grad():
        outs, ref_outs = model(x), ref(x)
    for i, (out, ref_out) in enumerate(zip(outs, ref_outs)):
        assert out.shape == ref_out.shape == (1, WINDOWED['embed_dims'][i],
                                              math.ceil(size[0] / 2**(i + 2)),
                                              math.ceil(size[1] / 2**(i + 2)))
        assert torch.isfinite(out).all()
    # Windows smaller than the map really change the result (in the windowed stages).
    assert not torch.allclose(outs[1], ref_outs[1])


def test_window_attention_partitions_per_window():
    """A window's result depends on that window's tokens only."""
    _, model = pair('win', (8, 8, 8, 8))
    x = torch.randn(1, 3, 64, 64)  # stage-1 map 16x16 = 2x2 windows of 8
    y = x.clone()
    y[:, :, 32:, 32:] = torch.randn(1, 3, 32, 32)  # only the bottom-right stage-1 window
    with torch.no_grad():
        a = model.stem(x)[0]
        b = model.stem(y)[0]
        block = model.stage1[0]
        out_a, out_b = block(a, (16, 16)), block(b, (16, 16))
    diff = (out_a - out_b).abs().sum(-1).view(16, 16)
    # The stem's receptive field reaches one token into the neighbours; beyond, nothing moves.
    assert diff[:7, :].max() == 0 and diff[:, :7].max() == 0
    assert diff[8:, 8:].min() > 0


def test_hwin_keeps_the_last_block_of_each_stage_global():
    model = ResTV2(arch=WINDOWED, attn_style='hwin', window_size=(8, 4, 4, 2))
    windows = [[blk.window_size for blk in model.stage(i).blocks] for i in range(4)]
    assert windows == [[None], [4, None], [4, None], [2, None]]
    win = ResTV2(arch=WINDOWED, attn_style='win', window_size=(8, 4, 4, 2))
    assert [[b.window_size for b in win.stage(i).blocks] for i in range(4)] == \
        [[8], [4, 4], [4, 4], [2, 2]]


def test_cwin_adds_identity_depthwise_convs():
    ref, model = pair('cwin', (4, 4, 2, 2))
    extra = count_parameters(model) - count_parameters(ref)
    assert extra == sum(10 * c for c in WINDOWED['embed_dims'])  # 3x3 depth-wise + bias per stage
    x = torch.randn(5, 7 * 9, 16)
    torch.testing.assert_close(model.cwin1(x, (7, 9)), x)
    # ResTv2-T: +14400 parameters (Mask R-CNN: 49.94M -> 49.96M in the paper)
    assert count_parameters(ResTV2(attn_style='cwin')) - count_parameters(ResTV2()) == 14400


@pytest.mark.parametrize('style', STYLES)
def test_imagenet_checkpoint_loads_into_every_style(tmp_path, style):
    path = write_authors_imagenet(tmp_path / 'official.pth', ResTV2.version, WINDOWED)
    model = ResTV2(arch=WINDOWED, attn_style=style,
                   init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    model.init_weights()
    report = model.load_report
    assert report.missing == [] and report.unexpected == []
    cwin = sorted({k.split('.')[0] for k in report.new if k.startswith('cwin')})
    assert cwin == (['cwin1', 'cwin2', 'cwin3', 'cwin4'] if style == 'cwin' else [])
    if style == 'cwin':  # still the identity after loading
        assert torch.equal(model.cwin2.conv.weight[:, 0, 1, 1], torch.ones(32))


def test_frozen_stages_freeze_cwin_convs():
    model = ResTV2(arch=WINDOWED, attn_style='cwin', frozen_stages=2).train()
    assert not model.cwin1.conv.weight.requires_grad and not model.cwin2.conv.weight.requires_grad
    assert model.cwin3.conv.weight.requires_grad


def test_resT_v1_gets_the_same_switch():
    ref, model = pair('win', (4, 4, 2, 2), cls=ResT)
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 64, 96))
    assert [o.shape[1] for o in outs] == list(WINDOWED['embed_dims'])


def test_bad_style_arguments():
    with pytest.raises(ValueError, match='attn_style must be one of'):
        ResTV2(arch=WINDOWED, attn_style='shifted')
    with pytest.raises(ValueError, match='window_size needs 4 positive'):
        ResTV2(arch=WINDOWED, attn_style='win', window_size=(8, 4))


@pytest.mark.slow
def test_window_matmul_flops_are_a_tenth_of_global_at_1280x800():
    """Paper Table 4: Win's matrix-product FLOPs are about a tenth of Global's."""
    x = torch.randn(1, 3, 800, 1280)
    matmul = {s: flops_by_class(ResTV2(attn_style=s).eval(), (x, ))['matmul']
              for s in ('global', 'win')}
    assert 0.05 < matmul['win'] / matmul['global'] < 0.15
    # Global: sum over blocks of 2 * N * N' * C at N' = 25x40 keys/values.
    n_kv = 25 * 40
    expected = sum(2 * (200 * 320 // 4**s) * n_kv * c * d for s, (c, d) in enumerate(
        zip((96, 192, 384, 768), (1, 2, 6, 2))))
    assert matmul['global'] == expected


@pytest.mark.slow
@requires('mmdet')
def test_attn_styles_tool_on_cpu(tmp_path):
    from tools.analysis.attn_styles import main
    out_dir = tmp_path / 'out'
    assert main(['configs/mask_rcnn_restv2_t_1x.py', '--styles', 'global', 'cwin', '--input',
                 '128x96', '--iters', '1', '--warmup', '0', '--out-dir', str(out_dir)]) == 0
    with open(out_dir / 'mask_rcnn_restv2_t_1x.csv') as f:
        rows = list(csv.DictReader(f))
    assert [r['style'] for r in rows] == ['global', 'cwin']
    assert int(rows[1]['params']) - int(rows[0]['params']) == 14400
    assert all(float(r['forward_ms_median']) > 0 and int(r['flops_matmul']) > 0 for r in rows)
    assert (out_dir / 'mask_rcnn_restv2_t_1x.png').stat().st_size > 0
