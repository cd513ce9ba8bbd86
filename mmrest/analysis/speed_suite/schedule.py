"""Running the speed suite's parts, each recorded with its time; a part that fails is recorded
with its traceback and the next one runs.

Without a budget the parts run in the order asked for. With one they run in
:data:`BUDGET_ORDER` (the papers' comparisons first), each with a share of what is left:
timing stops after the round that passes a part's share, and the last parts are left out when
the time left cannot give them a useful share; the report says which.
"""
import dataclasses
import gc
import os
import time
import traceback
from dataclasses import asdict
from typing import Callable, List, Optional, Sequence, Tuple

import torch

from ...utils.cli import check_device
from ..conditions import device_name, machine_state, software_versions
from ..profile import as_dicts, profile_models
from ..timing import Say
from .parts import PARTS
from .records import PartResult, Settings, SuiteReport

# A budgeted run's order, the papers' comparisons first: (part, precision or None for every
# precision of the run, weight). Before each part the time left is shared, by weight, among it
# and as many of the parts after it as get at least MIN_SHARE_SECONDS per unit of weight; the
# last ones are left out first (and may come back if earlier parts end early).
BUDGET_ORDER: List[Tuple[str, Optional[str], float]] = [
    ('maskrcnn', None, 3.0), ('imagenet', None, 2.5), ('upernet', None, 2.0),
    ('profile', None, 1.5), ('attn_styles', 'fp32', 1.5), ('attn_styles', 'amp', 1.0),
    ('mask2former_ade', None, 1.0), ('mask2former_coco', None, 1.5), ('cascade', None, 1.5),
    ('training', None, 2.0),
]
MIN_SHARE_SECONDS = 4.0


def conditions(settings: Settings, parts: Sequence[str], command: str) -> dict:
    """What speed.json records of a run besides its measurements."""
    device = torch.device(settings.device)
    cond = dict(
        command=command, date=time.strftime('%Y-%m-%d %H:%M'),
        device=settings.device, device_name=device_name(device),
        precisions=[p if p == 'fp32' else f'AMP ({settings.amp_dtype()} autocast)'
                    for p in settings.precisions()],
        weights='random (speed only)', parts=list(parts), quick=settings.quick,
        warmup=settings.warmup, iters=settings.iters, repeats=settings.repeats,
        round_seconds=settings.round_seconds,
        settings={k: v for k, v in asdict(settings).items()
                  if k not in ('models', 'deadline', 'only_precision')},
        versions=software_versions())
    cond.update(machine_state(device))
    return cond


def _record_budget(report: SuiteReport, budget: float, used: float,
                   left_out: List[str]) -> None:
    report.conditions['budget'] = dict(
        seconds=budget, used=round(used, 1), left_out=list(left_out),
        shortened={p.name: [n for n in p.notes if n.startswith('Shortened')]
                   for p in report.parts if any(n.startswith('Shortened') for n in p.notes)})


def _run_part(name: str, settings: Settings, say: Say) -> PartResult:
    start = time.perf_counter()
    shortened: List[str] = []

    def noting(message: str) -> None:
        if message.strip().startswith('time budget:'):
            shortened.append(message.strip())
        say(message)
    try:
        result = PARTS[name](settings, noting)
    except Exception:  # noqa: BLE001 (reported; the other parts still run)
        result = PartResult(name, name, error=traceback.format_exc())
        say(f'part {name} FAILED:\n{result.error}')
    which = f' ({settings.only_precision})' if settings.only_precision else ''
    for message in dict.fromkeys(shortened):  # once per message, in order
        times = shortened.count(message)
        result.notes.append(f'Shortened by the time budget{which}: '
                            f'{message[len("time budget: "):]}'
                            + (f' ({times} timings)' if times > 1 else '') + '.')
    result.seconds = time.perf_counter() - start
    return result


def _merge(report: SuiteReport, result: PartResult) -> None:
    """Add a part's result; a second precision of the same part joins the first."""
    earlier = report.part(result.name)
    if earlier is None:
        report.parts.append(result)
        return
    earlier.measurements += result.measurements
    earlier.notes += [n for n in result.notes if n not in earlier.notes]
    earlier.seconds += result.seconds
    earlier.error = earlier.error or result.error


def run_suite(settings: Settings, parts: Optional[Sequence[str]] = None,
              command: str = '', say: Say = print, budget: Optional[float] = None,
              profile: bool = False,
              on_progress: Optional[Callable[[SuiteReport], None]] = None) -> SuiteReport:
    """Run ``parts`` (default: all) and return their results; a part that raises is
    recorded with its traceback and the next one runs. ``budget`` (seconds): the papers'
    comparisons first, each part within a share of the time left (:mod:`.schedule`).
    ``profile``: the profile tables too. ``on_progress`` gets the report after every part
    (to write what is finished)."""
    parts = list(parts or PARTS)
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        raise ValueError(f'unknown parts {unknown}; choose from {", ".join(PARTS)}')
    check_device(None, settings.device)
    if settings.device.startswith('cuda'):
        torch.backends.cudnn.benchmark = True
    report = SuiteReport(conditions(settings, parts, command), [])
    tasks = [(name, precision, weight) for name, precision, weight in BUDGET_ORDER
             if (name in parts or (name == 'profile' and profile))
             and (precision is None or precision in settings.precisions())]
    if budget is None:  # the order asked for, every precision of a part at once
        tasks = [(name, None, 1.0) for name in parts] + ([('profile', None, 1.0)]
                                                          if profile else [])
    start, left_out = time.perf_counter(), []
    for i, (name, precision, weight) in enumerate(tasks):
        label = name + (f' ({precision})' if precision else '')
        task_settings = dataclasses.replace(settings, only_precision=precision)
        if budget is not None:
            remaining = budget - (time.perf_counter() - start)
            planned = 0.0  # the weight of this part and those after it that still fit
            for _, _, w in tasks[i:]:
                if planned + w > remaining / MIN_SHARE_SECONDS:
                    break
                planned += w
            if not planned:
                left_out.append(label)
                say(f'\n== {label}: left out, {max(remaining, 0):.0f} s of the budget left')
                continue
            share = remaining * weight / planned
            task_settings.deadline = time.perf_counter() + share
            say(f'\n== {label} ({share:.0f} s of {remaining:.0f} s left)')
        else:
            say(f'\n== {label}')
        if name == 'profile':
            part_start = time.perf_counter()
            report.profiles = _profile(task_settings, say)
            say(f'== profile done in {time.perf_counter() - part_start:.0f} s')
        else:
            result = _run_part(name, task_settings, say)
            say(f'== {label} done in {result.seconds:.0f} s')
            _merge(report, result)
        gc.collect()
        if budget is not None:  # also in each partial report: a run cut short states it
            _record_budget(report, budget, time.perf_counter() - start, left_out)
        if on_progress:
            on_progress(report)
    if budget is not None:
        _record_budget(report, budget, time.perf_counter() - start, left_out)
    if not settings.device.startswith('cuda'):
        report.conditions['load_average_at_end'] = round(os.getloadavg()[0], 2)
    if on_progress:
        on_progress(report)
    return report


def _profile(settings: Settings, say: Say) -> List[dict]:
    size = settings.maskrcnn_size
    say(f'[profile] one inference per model and precision at {size[1]}x{size[0]}')
    return as_dicts(profile_models(settings.device, settings.precisions(), size,
                                   quick=settings.quick, say=say))
