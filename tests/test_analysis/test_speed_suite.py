"""The speed suite (tools/analysis/speed_suite.py): its quick run covers every part on the CPU,
writes the tables with the papers' ratios, and survives a part that fails."""
import json
import time

import pytest

from mmrest.analysis import paper, speed_suite
from tests.common import CONFIGS
from tools.analysis.speed_suite import main

pytestmark = pytest.mark.slow  # (the README's test command runs it)

# ResTv2-T against the two peers keeps the run short (the attention-style and training parts
# always measure all their variants).
MODELS = ['ResTv2-T', 'Swin-T', 'ConvNeXt-T']


@pytest.fixture(scope='module')
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp('speed')
    code = main(['--device', 'cpu', '--quick', '--profile', '--out', str(out),
                 '--models', *MODELS])
    assert (out / 'speed_accuracy.png').read_bytes().startswith(b'\x89PNG')
    assert (out / 'profile.md').is_file()
    return code, json.loads((out / 'speed.json').read_text()), (out / 'speed.md').read_text()


def test_every_part_runs(quick_run):
    code, report, _ = quick_run
    assert code == 0
    assert list(report['parts']) == list(speed_suite.PARTS)  # Cascade and Mask2Former too
    for name, part in report['parts'].items():
        assert part['error'] is None, name
        assert part['measurements'], name
        for m in part['measurements']:
            assert m['error'] is None, (name, m['model'], m['error'])
            assert len(m['times_s']) == 2 and m['images_per_s'] > 0  # 2 rounds x 1 call


def test_comparisons_hold_the_peers(quick_run):
    _, report, _ = quick_run
    for part in ('maskrcnn', 'upernet', 'imagenet'):
        names = [m['model'] for m in report['parts'][part]['measurements']]
        assert names == ['ResTv2-T', 'Swin-T', 'ConvNeXt-T'], part
    imagenet = report['parts']['imagenet']['measurements']
    assert {m['batch_size'] for m in imagenet} == {2}  # the quick CPU batch
    styles = report['parts']['attn_styles']['measurements']
    assert [m['model'] for m in styles] == ['global', 'win', 'cwin', 'hwin']
    for m in styles:
        assert set(m['flops']) == {'conv', 'linear', 'matmul', 'others'}
        assert m['flops']['matmul'] > 0  # the fused attention products are counted
    # CWin's identity-initialised depth-wise convs: 3x3 weights + bias over 96+192+384+768.
    params = {m['model']: m['params'] for m in styles}
    assert params['cwin'] - params['global'] == 10 * (96 + 192 + 384 + 768)
    training = report['parts']['training']['measurements']
    assert [m['model'] for m in training] == ['with_cp=False', 'with_cp=True']
    assert all(m['peak_memory_mib'] > 100 for m in training)  # measured in a fresh process


def test_conditions_are_recorded(quick_run):
    _, report, _ = quick_run
    c = report['conditions']
    assert c['device'] == 'cpu' and c['quick'] and c['weights'].startswith('random')
    assert 'torch' in c['versions'] and 'mmdet' in c['versions']
    assert c['command'].startswith('python tools/analysis/speed_suite.py --device cpu')


def test_markdown_sets_ratios_beside_the_papers(quick_run):
    _, _, text = quick_run
    assert 'QUICK run' in text
    assert '| model | params | batch | ms / image (median) |' in text
    mask_rcnn = text.split('## Mask R-CNN')[1].split('## ')[0]
    row = next(line for line in mask_rcnn.splitlines() if line.startswith('| ResTv2-T |'))
    paper_vs_swin = paper.MASK_RCNN_FPS['ResTv2-T'] / paper.MASK_RCNN_FPS['Swin-T']
    paper_vs_convnext = paper.MASK_RCNN_FPS['ResTv2-T'] / paper.MASK_RCNN_FPS['ConvNeXt-T']
    assert f'{paper_vs_swin:.2f}x' in row and f'{paper_vs_convnext:.2f}x' in row
    assert '| with_cp=True |' in text and '| cwin |' in text


def test_render_writes_the_same_tables_again(quick_run, tmp_path):
    _, report, text = quick_run
    (tmp_path / 'old.json').write_text(json.dumps(report))
    assert main(['--render', str(tmp_path / 'old.json'), '--out', str(tmp_path / 'new')]) == 0
    assert (tmp_path / 'new' / 'speed.md').read_text() == text
    with pytest.raises(SystemExit):  # not a suite report: a clear parser error
        (tmp_path / 'bad.json').write_text('{"parts": 1}')
        main(['--render', str(tmp_path / 'bad.json'), '--out', str(tmp_path / 'x')])


def test_columns_without_figures_are_left_out(quick_run):
    _, _, text = quick_run
    # The CPU reports no inference memory; Mask2Former has no ConvNeXt-T and no paper figure.
    mask_rcnn = text.split('## Mask R-CNN')[1].split('## ')[0]
    assert 'peak memory' not in mask_rcnn
    m2f = text.split('## Mask2Former (ADE20K)')[1]
    header = next(line for line in m2f.splitlines() if line.startswith('| model |'))
    assert 'vs Swin-T' in header and 'ConvNeXt-T' not in header and 'paper' not in header


def test_a_failing_part_is_reported_and_the_others_run(tmp_path, monkeypatch):
    def broken(settings, say):
        raise RuntimeError('simulated failure')

    monkeypatch.setitem(speed_suite.PARTS, 'upernet', broken)
    code = main(['--device', 'cpu', '--quick', '--out', str(tmp_path), '--only', 'upernet',
                 'imagenet', '--models', 'ResTv2-T'])
    assert code == 1
    report = json.loads((tmp_path / 'speed.json').read_text())
    assert 'simulated failure' in report['parts']['upernet']['error']
    assert report['parts']['imagenet']['error'] is None
    assert 'FAILED' in (tmp_path / 'speed.md').read_text()


def test_amp_on_the_cpu_is_bfloat16(tmp_path, monkeypatch):
    assert main(['--device', 'cpu', '--quick', '--amp', '--out', str(tmp_path), '--only',
                 'imagenet', '--models', 'ResTv2-T']) == 0
    report = json.loads((tmp_path / 'speed.json').read_text())
    assert report['conditions']['precisions'] == ['fp32', 'AMP (bfloat16 autocast)']
    imagenet = report['parts']['imagenet']['measurements']
    assert [(m['model'], m['precision']) for m in imagenet] == [('ResTv2-T', 'fp32'),
                                                               ('ResTv2-T', 'amp')]
    assert all(m['error'] is None for m in imagenet)
    # AMP training needs mmengine's GPU wrapper: reported per variant, nothing is built.
    monkeypatch.setattr(speed_suite.Settings, 'precisions', lambda self: ['amp'])
    part = speed_suite.part_training(speed_suite.Settings.for_device('cpu', quick=True),
                                     say=lambda message: None)
    assert [m.model for m in part.measurements] == ['with_cp=False', 'with_cp=True']
    assert all('needs a GPU' in m.error for m in part.measurements)


def test_bad_arguments(tmp_path):
    with pytest.raises(SystemExit):
        main(['--device', 'cpu', '--out', str(tmp_path), '--only', 'nonsense'])
    with pytest.raises(SystemExit):
        main(['--device', 'cpu', '--out', str(tmp_path), '--iters', '0'])
    with pytest.raises(SystemExit):
        main(['--device', 'cpu', '--out', str(tmp_path), '--round-seconds', '-1'])


def test_quick_runs_keep_few_proposals_in_two_stage_detectors_only():
    n = speed_suite.QUICK_PROPOSALS
    load = speed_suite.load_timed_config
    cascade = load(speed_suite.CASCADE_MODELS['ResTv2-T'], quick=True).model
    assert cascade.test_cfg.rpn.max_per_img == n['test_max_per_img']
    assert cascade.test_cfg.rcnn.max_per_img == n['detections']
    assert cascade.train_cfg.rpn_proposal.max_per_img == n['train_max_per_img']
    assert [stage.sampler.num for stage in cascade.train_cfg.rcnn] == [n['rcnn_samples']] * 3
    full = load(speed_suite.CASCADE_MODELS['ResTv2-T'], quick=False).model
    assert full.test_cfg.rpn.max_per_img == 1000  # the paper protocol keeps mmdet's counts
    upernet = speed_suite.UPERNET_MODELS['ResTv2-T']
    assert load(upernet, quick=True).model == load(upernet, quick=False).model


def test_random_weight_detectors_keep_every_detection():
    """Timing with random weights: the number of detections that reach the mask head must
    not depend on the draw (it varied from 0 to 79 between builds of one Mask R-CNN)."""
    import torch

    from mmrest.analysis.model_inputs import make_data_samples
    from mmrest.apis import build_model
    size = (160, 224)
    for path in (speed_suite.MASK_RCNN_MODELS['ResTv2-T'], speed_suite.CASCADE_MODELS['ResTv2-T']):
        cfg = speed_suite.load_timed_config(path, quick=True)
        assert cfg.model.test_cfg.rcnn.score_thr == 0
        counts = set()
        for seed in range(2):
            torch.manual_seed(seed)
            model, scope = build_model(cfg, None, 'cpu')
            with torch.no_grad():
                out = model(torch.randn(1, 3, *size), make_data_samples(scope, 1, size),
                            mode='predict')
            counts.add(len(out[0].pred_instances))
        assert counts == {cfg.model.test_cfg.rcnn.max_per_img}, (path, counts)
    upernet = speed_suite.load_timed_config(speed_suite.UPERNET_MODELS['ResTv2-T'], quick=False)
    assert 'rcnn' not in (upernet.model.get('test_cfg') or {})


def test_the_papers_ratios_are_the_targets(quick_run):
    _, _, text = quick_run
    targets = text.split("## Targets")[1].split('\n## ')[0]
    for part, peer, ratio in [('Mask R-CNN FPS', 'Swin-T', '1.147x'),
                              ('Mask R-CNN FPS', 'ConvNeXt-T', '1.068x'),
                              ('ImageNet throughput', 'Swin-T', '1.094x'),
                              ('UperNet FPS', 'Swin-T', '1.062x'),
                              ('UperNet FPS', 'ConvNeXt-T', '1.126x')]:
        row = next(line for line in targets.splitlines()
                   if line.startswith(f'| {part} ResTv2-T vs {peer} |'))
        cells = [c.strip() for c in row.strip('|').split('|')]
        assert cells[1] == ratio and cells[2].endswith('x') and cells[-1].startswith('fp32 ')
    assert '![speed against accuracy](speed_accuracy.png)' in text


def test_profile_tables(quick_run):
    _, report, _ = quick_run
    profiles = {(p['model'], p['precision']): p for p in report['profiles']}
    assert set(profiles) == {(m, 'fp32') for m in ('ResTv2-T backbone', 'Swin-T backbone',
                                                   'Mask R-CNN ResTv2-T', 'Mask R-CNN Swin-T')}
    for p in profiles.values():
        assert p['error'] is None and p['total_ms'] > 0 and p['kernels'] > 0
        assert 0 < len(p['top']) <= 25
        assert 0 <= p['layout_copy_ms'] <= p['copy_ms'] <= p['total_ms']


def test_a_budget_keeps_the_papers_comparisons_and_says_what_it_left_out(monkeypatch):
    """Parts run by priority, each with a deadline inside its share; the last ones are left
    out when the time left cannot give them a share, and the report says so. The parts are
    stand-ins that take 0.15 s each of a fake clock: no test depends on the machine's speed."""
    clock = [0.0]

    class FakeTime:
        perf_counter = staticmethod(lambda: clock[0])
        strftime = staticmethod(time.strftime)

    ran = []

    def fake(name, seconds):
        def part(settings, say):
            ran.append((name, settings.only_precision, settings.deadline is not None))
            clock[0] += seconds
            say('  time budget: stopped after 1 of 5 rounds')
            return speed_suite.PartResult(name, name)
        return part

    for name in speed_suite.PARTS:
        monkeypatch.setitem(speed_suite.PARTS, name, fake(name, 0.15))
    monkeypatch.setattr('mmrest.analysis.speed_suite.schedule.time', FakeTime)
    monkeypatch.setattr('mmrest.analysis.speed_suite.schedule.MIN_SHARE_SECONDS', 0.1)
    settings = speed_suite.Settings.for_device('cpu', quick=True, amp=True)
    report = speed_suite.run_suite(settings, budget=1.0, say=lambda message: None)
    order = [name for name, _, _ in speed_suite.BUDGET_ORDER if name != 'profile']
    assert [r[0] for r in ran] == order[:len(ran)]  # the papers' comparisons first
    assert ran[:5] == [('maskrcnn', None, True), ('imagenet', None, True),
                       ('upernet', None, True), ('attn_styles', 'fp32', True),
                       ('attn_styles', 'amp', True)]
    budget = report.conditions['budget']
    # 0.15 s a part: six fit in the second, the time left then gives none a share
    assert budget['left_out'] == ['mask2former_coco', 'cascade', 'training']
    assert len(ran) + len(budget['left_out']) == len(order)
    assert budget['used'] == 0.9
    assert report.part('maskrcnn').notes == [
        'Shortened by the time budget: stopped after 1 of 5 rounds.']
    assert 'Left out: mask2former_coco, cascade, training' in \
        speed_suite.format_markdown(report)


def test_random_weight_one_stage_detectors_keep_every_detection():
    """RetinaNet holds its score threshold in ``test_cfg`` itself: timed with random weights,
    it too keeps its ``max_per_img`` best (the benchmark's weights note says threshold 0)."""
    cfg = speed_suite.load_timed_config(str(CONFIGS / 'retinanet_restv2_t_3x.py'))
    assert cfg.model.test_cfg.score_thr == 0
    assert cfg.model.test_cfg.max_per_img == 100
