"""One FLOP counter for every tool (mmrest.analysis.flops): the fused attention kernel counts as
much as the explicit matrix products it replaces, and the backbone summary (README table) uses
the same count as the attention-style and speed tools."""
import pytest
import torch

from mmrest import ResTV2
from mmrest.analysis import count_flops, flops_by_class, summarize_backbone


@pytest.mark.parametrize('size', [(224, 224), pytest.param((800, 1280), marks=pytest.mark.slow)])
def test_fused_and_explicit_attention_count_the_same(size):
    image = torch.randn(1, 3, *size)
    counts = {}
    for fused in (True, False):
        model = ResTV2(arch='tiny', fused_attn=fused).eval()
        counts[fused] = flops_by_class(model, (image, ))
    assert counts[True] == counts[False]
    assert counts[True]['matmul'] > 0
    total = sum(counts[True].values())
    # ResTv2-T: 4.1G at 224 (paper Table 1); 127.7G for the backbone at 1280x800.
    expected = {(224, 224): 4.11e9, (800, 1280): 127.7e9}[size]
    assert total == pytest.approx(expected, rel=0.01)


def test_summary_and_class_totals_agree():
    model = ResTV2(arch='tiny').eval()
    summary = summarize_backbone('ResTV2-tiny', model, (224, 224))
    by_class = flops_by_class(model, (torch.randn(1, 3, 224, 224), ))
    total, by_operator = count_flops(model, (torch.randn(1, 3, 224, 224), ))
    assert summary.flops == total == sum(by_class.values()) == sum(by_operator.values())
    assert by_operator['scaled_dot_product_attention'] == by_class['matmul']


@pytest.mark.slow
def test_model_summary_tool_counts_whole_models(capsys):
    """tools/analysis/model_summary.py on an mmrest config by name and on mmseg's Mask2Former
    (whose head needs the data samples even in tensor mode)."""
    from tools.analysis.model_summary import main
    assert main(['mmrest::mask2former_restv2_t_160k_ade20k.py',
                 'mmseg::mask2former/mask2former_r50_8xb2-160k_ade20k-512x512.py',
                 '--input', '64x64']) == 0
    rows = [line.split('|') for line in capsys.readouterr().out.splitlines()
            if line.startswith('| mm')]
    assert len(rows) == 2
    params = {row[1].strip(): float(row[3].strip().rstrip('M')) for row in rows}
    assert params['mmrest::mask2former_restv2_t_160k_ade20k.py'] == pytest.approx(49.59, abs=0.01)
    assert all(float(row[5].strip().rstrip('G')) > 0 for row in rows)
