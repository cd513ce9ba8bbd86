"""The speed suite's report: speed.md (the tables, with the papers' ratios beside the measured
ones), speed.json, the speed-accuracy picture and profile.md."""
import json
import math
import statistics
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from ...utils.markdown import EMPTY, markdown_table
from .. import paper
from ..conditions import conditions_sentence, timing_protocol
from ..profile import format_profiles, from_dicts
from .catalogue import ACCURACY, PAPER_FIGURES, PARTS_TITLES, PEERS
from .records import Measurement, PartResult, SuiteReport


def _ratio(value: Optional[float], reference: Optional[float]) -> str:
    if value is None or reference is None or not reference or math.isnan(value):
        return EMPTY
    return f'{value / reference:.2f}x'


def _failed_row(m: Measurement, width: int, first: Sequence[str]) -> List[str]:
    cells = list(first) + [f'failed: {m.error}']
    return cells + [EMPTY] * (width - len(cells))


def _millions(count: int, digits: int) -> str:
    return f'{count / 1e6:.{digits}f}M' if count else EMPTY  # 0: not built


def _memory(m: Measurement) -> str:
    return EMPTY if m.peak_memory_mib is None else f'{m.peak_memory_mib:.0f} MiB'


def _speed_table(part: PartResult, precision: str) -> List[str]:
    """Rows with throughput and its ratio to each peer, measured and in the paper."""
    figures, unit = PAPER_FIGURES.get(part.name, ({}, 'FPS'))
    rows = [m for m in part.measurements if m.precision == precision]
    measured = {m.model: m.images_per_s() for m in rows if m.ok}
    header = ['model', 'params', 'batch', 'ms / image (median)', 'spread (min-max)', unit]
    for peer in PEERS:
        header += [f'vs {peer}', f'paper vs {peer}']
    header.append('peak memory')
    cells = []
    for m in rows:
        first = [m.model, _millions(m.params, 1), str(m.batch_size or EMPTY)]
        if not m.ok:
            cells.append(_failed_row(m, len(header), first))
            continue
        low, high = m.spread_ms()
        row = first + [f'{m.ms_per_image():.2f}', f'{low:.2f}-{high:.2f}',
                       f'{m.images_per_s():.2f}']
        for peer in PEERS:
            row += [_ratio(measured.get(m.model), measured.get(peer)),
                    _ratio(figures.get(m.model), figures.get(peer))]
        cells.append(row + [_memory(m)])
    return markdown_table(header, cells, drop_empty_columns=True)


def _attn_table(part: PartResult, precision: str) -> List[str]:
    rows = [m for m in part.measurements if m.precision == precision]
    glob = next((m for m in rows if m.model == 'global' and m.ok), None)
    classes = ('conv', 'linear', 'matmul', 'others')
    header = ['style', 'params', 'FLOPs', *classes, 'ms / image (median)', 'spread',
              'vs global', 'paper ms/iter', 'paper vs global', 'paper FLOPs']
    cells = []
    for m in rows:
        if not m.ok:
            cells.append(_failed_row(m, len(header), [m.model]))
            continue
        flops = [m.flops.get(c, 0) / 1e9 for c in classes] if m.flops else []
        paper_flops = paper.ATTN_STYLE_FLOPS_G.get(m.model, {})
        paper_ms = paper.ATTN_STYLE_MS.get(m.model)
        low, high = m.spread_ms()
        cells.append(
            [m.model, _millions(m.params, 2), f'{sum(flops):.1f}G' if flops else EMPTY]
            + ([f'{f:.2f}G' for f in flops] if flops else [EMPTY] * 4)
            + [f'{m.ms_per_image():.1f}', f'{low:.1f}-{high:.1f}',
               _ratio(m.ms_per_image(), glob.ms_per_image() if glob else None),
               EMPTY if paper_ms is None else f'{paper_ms:.1f}',
               _ratio(paper_ms, paper.ATTN_STYLE_MS['global']),
               f'{sum(paper_flops.values()):.1f}G' if paper_flops else EMPTY])
    return markdown_table(header, cells, drop_empty_columns=True)


def _training_table(part: PartResult, precision: str) -> List[str]:
    rows = [m for m in part.measurements if m.precision == precision]
    header = ['variant', 'params', 'ms / step (median)', 'spread (min-max)', 'images/s',
              'peak memory']
    cells = []
    for m in rows:
        first = [m.model, _millions(m.params, 2)]
        if not m.ok:
            cells.append(_failed_row(m, len(header), first))
            continue
        step = [1000 * t for t in m.times_s]
        cells.append(first + [f'{statistics.median(step):.0f}',
                              f'{min(step):.0f}-{max(step):.0f}',
                              f'{m.batch_size * 1000 / statistics.median(step):.2f}',
                              _memory(m)])
    return markdown_table(header, cells, drop_empty_columns=True)


TABLES = {'attn_styles': _attn_table, 'training': _training_table}


def _images_per_s(report: SuiteReport, part: str, model: str,
                  precision: str) -> Optional[float]:
    result = report.part(part)
    found = [m for m in (result.measurements if result else [])
             if m.model == model and m.precision == precision and m.ok]
    return found[0].images_per_s() if found else None


def targets_table(report: SuiteReport) -> List[str]:
    """ResTv2-T's measured speed ratios against the papers' (the targets)."""
    precisions = [p for p in ('fp32', 'amp')
                  if any(m.precision == p for part in report.parts for m in part.measurements)]
    header = ['comparison', 'paper'] + [f'measured {p}' for p in precisions] + ['reached']
    rows = []
    for part, peer in paper.TARGETS:
        figures = PAPER_FIGURES[part][0]
        target = figures['ResTv2-T'] / figures[peer]
        ratios = []
        for precision in precisions:
            ours = _images_per_s(report, part, 'ResTv2-T', precision)
            theirs = _images_per_s(report, part, peer, precision)
            ratios.append(ours / theirs if ours and theirs else None)
        measured = [r for r in ratios if r is not None]
        reached = (EMPTY if not measured else
                   ', '.join(f'{p} {"yes" if r >= target else "no"}'
                             for p, r in zip(precisions, ratios) if r is not None))
        rows.append([f'{PARTS_TITLES[part]} ResTv2-T vs {peer}', f'{target:.3f}x']
                    + [f'{r:.3f}x' if r is not None else EMPTY for r in ratios] + [reached])
    return markdown_table(header, rows, drop_empty_columns=True)


def format_markdown(report: SuiteReport) -> str:
    c = report.conditions
    state = (f'load average {c["load_average_at_start"]} at the start, '
             f'{c.get("load_average_at_end", "?")} at the end'
             if 'load_average_at_start' in c else 'cudnn.benchmark on')
    tf32 = [f'TF32 matmul {c["tf32"]["matmul"]}, cuDNN {c["tf32"]["cudnn"]}'] \
        if 'tf32' in c else []
    lines = ['# mmrest speed suite', '', f'Command: `{c["command"]}`', '',
             conditions_sentence(
                 c['device_name'], c['versions'], f'precision: {", ".join(c["precisions"])}',
                 f'{c["weights"]} weights',
                 timing_protocol(c['repeats'], c['iters'], c['warmup'], c.get('round_seconds')),
                 'medians over all timed calls, spread = fastest and slowest call', state, *tf32),
             '', f'Date: {c["date"]}.' + (' QUICK run (tiny sizes, few region proposals): '
                                          'a smoke test, not a measurement.'
                                          if c['quick'] else '')]
    budget = c.get('budget')
    if budget:
        lines += ['', f'Time budget {budget["seconds"]:.0f} s, used {budget["used"]:.0f} s. '
                  + (f'Left out: {", ".join(budget["left_out"])}. ' if budget['left_out']
                     else 'Nothing left out. ')
                  + (f'Shortened: {", ".join(budget["shortened"])}.' if budget['shortened']
                     else '')]
    if any(report.part(p) for p, _ in paper.TARGETS):
        lines += ['', "## Targets: ResTv2-T's speed ratios in the papers (V100) and here", '']
        lines += targets_table(report)
        lines += ['', '![speed against accuracy](speed_accuracy.png)']
    if report.profiles:
        lines += ['', 'Profiles of one inference: [profile.md](profile.md).']
    for part in report.parts:
        lines += ['', f'## {part.title}', '']
        if part.error:
            lines += ['FAILED:', '', '```', part.error.strip(), '```']
            continue
        for precision in sorted({m.precision for m in part.measurements},
                                key=['fp32', 'amp'].index):
            label = precision if precision == 'fp32' else \
                next(p for p in c['precisions'] if p.startswith('AMP'))
            lines += [f'**{label}**', '']
            lines += TABLES.get(part.name, _speed_table)(part, precision)
            lines.append('')
        took = round(part.seconds, 1)  # as speed.json holds it, so --render writes the same
        lines += part.notes + ([''] if part.notes else []) + [f'Took {took:.0f} s.']
    return '\n'.join(lines) + '\n'


def plot_speed_accuracy(report: SuiteReport, path: Path) -> Optional[Path]:
    """Measured speed against the papers' accuracy, one panel per comparison (fp32 filled,
    AMP hollow); ``None`` when no part of it was measured."""
    panels = [p for p in ACCURACY if report.part(p)]
    if not panels:
        return None
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    c = report.conditions
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.5), squeeze=False)
    for ax, name in zip(axes[0], panels):
        accuracy, label = ACCURACY[name]
        unit = PAPER_FIGURES[name][1]
        for m in report.part(name).measurements:
            if not m.ok or m.model not in accuracy:
                continue
            ours = m.model.startswith('ResT')
            ax.scatter(m.images_per_s(), accuracy[m.model], s=50,
                       color='tab:red' if ours else 'tab:blue',
                       facecolors='none' if m.precision == 'amp' else None)
            ax.annotate(f'{m.model}' + (' AMP' if m.precision == 'amp' else ''),
                        (m.images_per_s(), accuracy[m.model]), fontsize=8,
                        xytext=(4, 3), textcoords='offset points')
        ax.set_xlabel(f'measured {unit} ({PARTS_TITLES[name]})')
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    title = f'{c["device_name"]}: measured speed (filled fp32, hollow AMP) vs papers\' accuracy'
    if c.get('quick'):
        title = 'SMOKE TEST (quick run, tiny inputs): ' + title
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(report: SuiteReport, out_dir: Path) -> Tuple[Path, Path]:
    """speed.md and speed.json, and where there is something to show, speed_accuracy.png and
    profile.md."""
    out_dir.mkdir(parents=True, exist_ok=True)
    md, js = out_dir / 'speed.md', out_dir / 'speed.json'
    md.write_text(format_markdown(report))
    js.write_text(json.dumps(report.as_dict(), indent=1) + '\n')
    plot_speed_accuracy(report, out_dir / 'speed_accuracy.png')
    if report.profiles:
        labels = {'amp': next((p for p in report.conditions['precisions']
                               if p.startswith('AMP')), 'amp')}
        (out_dir / 'profile.md').write_text(format_profiles(
            from_dicts(report.profiles), report.conditions['device_name'], labels))
    return md, js
