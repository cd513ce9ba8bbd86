"""Timing that can be trusted, for every speed tool: device synchronisation, warm-up, models
interleaved round by round (so that drifts of the machine hit all alike), failures isolated,
peak memory, and runs in a fresh process where memory must be measured alone."""
import multiprocessing as mp
import os
import queue as queue_module
import statistics
import threading
import time
import traceback
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterator, List, Optional, Sequence

import torch

from ..utils.aliases import Say


def median(values: Sequence[float]) -> float:
    """The median, NaN for no values (a model that failed)."""
    return statistics.median(values) if values else float('nan')


def synchronize(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def autocast(device: torch.device, amp: bool):
    """Mixed precision as the tools use it: float16 on a GPU, bfloat16 on the CPU."""
    if not amp:
        return nullcontext()
    dtype = torch.float16 if device.type == 'cuda' else torch.bfloat16
    return torch.autocast(device_type=device.type, dtype=dtype)


class PeakMemory:
    """Peak memory of a block, in MiB: above what was in use when it started, or with
    ``absolute`` everything the process holds (for a fresh process: what a run needs).

    CUDA: the caching allocator's peak. CPU: the process's resident set, sampled every 5 ms
    by a thread (torch's CPU allocator keeps no statistics); meaningful from the first run of
    a model in a process, since freed memory is kept by the process.
    """

    def __init__(self, device: torch.device, absolute: bool = False) -> None:
        self.device = device
        self.absolute = absolute
        self.peak_mib = 0.0

    @contextmanager
    def measure(self) -> Iterator['PeakMemory']:
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)
            base = 0 if self.absolute else torch.cuda.memory_allocated(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            yield self
            torch.cuda.synchronize(self.device)
            peak = torch.cuda.max_memory_allocated(self.device) - base
            self.peak_mib = max(self.peak_mib, peak / 2**20)
            return
        import psutil
        process = psutil.Process(os.getpid())
        base = 0 if self.absolute else process.memory_info().rss
        peak = [process.memory_info().rss]
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], process.memory_info().rss)
                stop.wait(0.005)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            yield self
        finally:
            stop.set()
            sampler.join()
            self.peak_mib = max(self.peak_mib, (peak[0] - base) / 2**20)


def _run_and_report(queue, fn: Callable, args: tuple) -> None:
    try:
        queue.put((True, fn(*args)))
    except BaseException:  # noqa: BLE001 (sent to the parent)
        queue.put((False, traceback.format_exc()))


def call_in_fresh_process(fn: Callable, *args, timeout: float = 3600):
    """``fn(*args)`` in a new Python process, e.g. to measure the memory a model needs without
    what earlier models left in this one. ``fn`` must be importable.

    The process is forked from a forkserver that has imported ``fn``'s module and nothing
    else (no CUDA context, no tensors), so a second call does not pay for the imports again.
    """
    if 'forkserver' in mp.get_all_start_methods():
        context = mp.get_context('forkserver')
        context.set_forkserver_preload([fn.__module__])  # no effect once the server runs
    else:  # Windows
        context = mp.get_context('spawn')
    queue = context.Queue()
    process = context.Process(target=_run_and_report, args=(queue, fn, args))
    name = getattr(fn, '__name__', repr(fn))
    process.start()
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                ok, value = queue.get(timeout=1.0)
                break
            except queue_module.Empty:
                # a child that dies before reporting (killed for memory, or unable to start,
                # e.g. a __main__ read from stdin) must not leave the parent waiting
                if not process.is_alive() and queue.empty():
                    raise RuntimeError(f'{name}: the fresh process exited with code '
                                       f'{process.exitcode} before reporting a result '
                                       '(its error, if any, is printed above)') from None
                if time.monotonic() > deadline:
                    process.kill()
                    raise TimeoutError(f'{name}: no result from the fresh process within '
                                       f'{timeout:.0f} s') from None
    finally:
        process.join(timeout=60)
    if not ok:
        raise RuntimeError(f'{name} failed in a fresh process:\n{value}')
    return value


def short_error(error: BaseException) -> str:
    """The first line of an exception and the Python line that raised it, for a table cell
    (an op without a half-precision kernel names the op's module, e.g. mmcv's CPU NMS under
    bfloat16: ``mmcv/ops/nms.py``)."""
    lines = f'{type(error).__name__}: {error}'.strip().splitlines()
    frames = traceback.extract_tb(error.__traceback__)
    where = ''
    if frames:
        frame = frames[-1]
        parts = frame.filename.replace(os.sep, '/').split('/')
        # from the package folder on: site-packages/<pkg>/... or the checkout's mmrest/...
        for anchor in ('site-packages', 'dist-packages'):
            if anchor in parts:
                parts = parts[len(parts) - parts[::-1].index(anchor):]
                break
        else:
            parts = parts[-3:]
        where = f' (raised in {"/".join(parts)}:{frame.lineno}, {frame.name})'
    return lines[0][:300] + where


@dataclass
class Entry:
    """Timings of one model: seconds per call, grouped by round."""
    name: str
    rounds: List[List[float]] = field(default_factory=list)
    peak_memory_mib: float = float('nan')  # of the first call; exact on a GPU only
    error: Optional[str] = None
    params: int = 0
    flops: int = 0

    @property
    def times(self) -> List[float]:
        return [t for r in self.rounds for t in r]

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.times)

    def median_ms(self) -> float:
        return 1000 * median(self.times)


def interleaved_timing(calls: Dict[str, Callable[[], object]], device: torch.device,
                       iters: int, warmup: int, repeats: int,
                       progress: Optional[Say] = print,
                       round_seconds: Optional[float] = None,
                       deadline: Optional[float] = None) -> Dict[str, Entry]:
    """Time every call of ``calls`` (one batch each): ``repeats`` rounds in which each runs
    ``iters`` synchronised calls in turn, after ``warmup`` untimed calls.

    ``round_seconds`` bounds the time of a model's turn in a round: a model whose last
    warm-up call took ``t`` runs ``round(round_seconds / t)`` calls (1 to ``iters``), so that
    large batches and slow models do not multiply a run's length while fast ones keep
    ``iters`` calls.

    The first warm-up call of each runs alone: a call that raises (an operator without a
    half-precision kernel, out of memory) gets its error in its entry and is left out of the
    rounds instead of stopping the others, and its peak memory is taken (exact on a GPU; on
    the CPU use :func:`call_in_fresh_process`).

    ``deadline`` (a ``time.perf_counter()`` value): no round starts after it, but one always
    runs; a shortened run says so through ``progress``.
    """
    entries = {name: Entry(name) for name in calls}
    working, calls_per_round = {}, {}
    for name, call in calls.items():
        memory = PeakMemory(device)
        try:
            with memory.measure():
                for _ in range(max(warmup, 1)):
                    synchronize(device)
                    start = time.perf_counter()
                    call()
                    synchronize(device)
                    last = time.perf_counter() - start
            working[name] = call
            calls_per_round[name] = iters
            if round_seconds is not None:
                calls_per_round[name] = max(1, min(iters, round(round_seconds / max(last, 1e-9))))
            entries[name].peak_memory_mib = memory.peak_mib
        except Exception as error:  # noqa: BLE001 (reported in the entry)
            entries[name].error = short_error(error)
            if progress:
                progress(f'  {name}: FAILED ({entries[name].error})')
            if device.type == 'cuda':
                torch.cuda.empty_cache()
    for r in range(repeats):
        if r and deadline is not None and time.perf_counter() > deadline:
            if progress:
                progress(f'  time budget: stopped after {r} of {repeats} rounds')
            break
        order = list(working) if r % 2 == 0 else list(reversed(working))
        for name in order:
            times = []
            for _ in range(calls_per_round[name]):
                synchronize(device)
                start = time.perf_counter()
                working[name]()
                synchronize(device)
                times.append(time.perf_counter() - start)
            entries[name].rounds.append(times)
        if progress and working:
            progress(f'  round {r + 1}/{repeats}: ' + ', '.join(
                f'{n} {entries[n].median_ms():.1f} ms' for n in working))
    return entries
