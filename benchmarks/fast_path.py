"""ResTv2-T backbone forward: mmrest's fast path against its explicit-attention path and the
authors' straightforward code, interleaved in one process; peak memory of each in a fresh
process.

    python benchmarks/fast_path.py [--authors PATH/TO/ResT] [--rounds 3] [--out FILE.md]

``--authors`` is a checkout of the authors' repository (wofmanaf/ResT): their
``models/rest_v2.py`` is loaded from there (timm stubbed, by ``tools/dev/authors_code.py``, as
for the reference fixtures); without it the authors' variant is left out.
"""
import functools
import os
import os.path as osp
import sys
import time
from typing import Callable, Dict, List, Optional, Tuple

import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)
from mmrest import ResTV2  # noqa: E402
from mmrest.analysis.conditions import conditions_sentence, device_name, software_versions  # noqa: E402
from mmrest.analysis.timed_model import infer, inference_call  # noqa: E402
from mmrest.analysis.timing import PeakMemory, call_in_fresh_process, interleaved_timing  # noqa: E402
from mmrest.utils.cli import make_parser  # noqa: E402
from mmrest.utils.markdown import markdown_table  # noqa: E402
from tools.dev.authors_code import (  # noqa: E402
    authors_forward,
    build_authors_classifier,
    load_authors_classifiers,
)

AUTHORS = 'authors (explicit)'


class Authors(torch.nn.Module):
    """The authors' ResTv2-T classifier (their ``restv2_tiny``) run by its own forward, with a
    LayerNorm on what each stage returns, like the backbones; the final norm, pooling and head
    it also runs are a negligible part of the time."""

    def __init__(self, authors: str) -> None:
        super().__init__()
        module = load_authors_classifiers(authors, versions=('v2', ))['v2']
        self.model = build_authors_classifier(module, 'restv2_tiny')
        self.norms = torch.nn.ModuleList(torch.nn.LayerNorm(c, eps=1e-6)
                                         for c in ResTV2.arch_zoo['tiny']['embed_dims'])

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        _, stages = authors_forward(self.model, x)
        return [norm(t).transpose(1, 2).reshape(x.shape[0], -1, h, w).contiguous()
                for norm, (t, h, w) in zip(self.norms, stages)]


def variants(authors: Optional[str]) -> Dict[str, Callable[[], torch.nn.Module]]:
    """The models compared; the authors' only with a checkout of their repository."""
    found = {AUTHORS: functools.partial(Authors, authors)} if authors else {}
    return {**found,
            'mmrest fused_attn=False': lambda: ResTV2(fused_attn=False),
            'mmrest fast path (default)': lambda: ResTV2()}


def peak_memory(name: str, size: Tuple[int, int], batch: int, authors: Optional[str]) -> float:
    """Peak memory of one forward, in this (fresh) process."""
    model = variants(authors)[name]().eval()
    x = torch.randn(batch, 3, *size)
    memory = PeakMemory(torch.device('cpu'))
    with memory.measure():
        infer(model, x, mode=None)
    return memory.peak_mib


def main() -> int:
    parser = make_parser(__doc__)
    parser.add_argument('--authors', default=None,
                        help="checkout of the authors' ResT repository (for their variant)")
    parser.add_argument('--rounds', type=int, default=3, help='interleaved timing rounds')
    parser.add_argument('--out', default=None, help='also write the Markdown report here')
    args = parser.parse_args()
    if args.authors is None:
        print(f"No --authors: the authors' variant ({AUTHORS!r}) is left out; give a checkout "
              'of github.com/wofmanaf/ResT to include it.', flush=True)
    elif not osp.isfile(osp.join(args.authors, 'models', 'rest_v2.py')):
        parser.error(f'--authors {args.authors}: no models/rest_v2.py there')
    started = time.time()
    lines = []
    for size, batch in (((800, 1280), 1), ((224, 224), 16)):
        torch.manual_seed(0)
        models = {name: make().eval() for name, make in variants(args.authors).items()}
        x = torch.randn(batch, 3, *size)
        calls = {n: inference_call(m, x, mode=None) for n, m in models.items()}
        entries = interleaved_timing(calls, torch.device('cpu'), iters=1, warmup=1,
                                     repeats=args.rounds,
                                     progress=lambda m: print(m, flush=True))
        base = entries['mmrest fused_attn=False'].median_ms()
        rows = []
        for name, entry in entries.items():
            memory = call_in_fresh_process(peak_memory, name, size, batch, args.authors)
            rounds = ', '.join(f'{1000 * t:.0f}' for t in entry.times)
            rows.append([name, f'{entry.median_ms():.0f}', rounds,
                         f'{base / entry.median_ms():.2f}x', f'{memory:.0f} MiB'])
        lines += [f'**ResTv2-T backbone forward, {size[1]}x{size[0]}, batch {batch}**', '']
        lines += markdown_table(['variant', 'ms / batch (median)', 'all rounds (ms)',
                                 'speed-up vs explicit', 'peak memory'], rows)
        lines.append('')
        print('\n'.join(lines[-len(entries) - 4:]), flush=True)
    load = os.getloadavg()
    command = 'python benchmarks/fast_path.py' + (' --authors PATH' if args.authors else '')
    header = [f'Command: `{command} --rounds {args.rounds}`', '',
              *([] if args.authors else ["The authors' code was not given (--authors): their "
                                         'variant is left out.', '']),
              conditions_sentence(device_name(torch.device('cpu')), software_versions(),
                                  'fp32', 'random weights',
                                  f'{args.rounds} interleaved rounds after 1 warm-up',
                                  f'load average at the end {load[0]:.1f}')
              + f' Took {time.time() - started:.0f} s.', '']
    report = '\n'.join(header + lines)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(report + '\n')
    print(report)
    return 0


if __name__ == '__main__':
    sys.exit(main())
