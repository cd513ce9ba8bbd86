"""ResTv2-T backbone forward: mmrest's fast path against its explicit-attention path and the
authors' straightforward code (tests/reference/official.py), interleaved in one process;
peak memory of each in a fresh process.

    python benchmarks/fast_path.py [--rounds 3] [--out docs/fast_path.md]
"""
import argparse
import os
import os.path as osp
import sys
import time

import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)
from mmrest import ResTV2  # noqa: E402
from mmrest.analysis.benchmark import device_name, software_versions  # noqa: E402
from mmrest.analysis.timing import (PeakMemory, call_in_fresh_process,  # noqa: E402
                                    interleaved_timing)
from tests.reference.official import OfficialResTV2  # noqa: E402

TINY = dict(embed_dims=(96, 192, 384, 768), depths=(1, 2, 6, 2), num_heads=(1, 2, 4, 8))


class Authors(torch.nn.Module):
    """The authors' forward with a LayerNorm per stage output, like the backbones."""

    def __init__(self) -> None:
        super().__init__()
        self.model = OfficialResTV2(**TINY)
        self.norms = torch.nn.ModuleList(torch.nn.LayerNorm(c, eps=1e-6)
                                         for c in TINY['embed_dims'])

    def forward(self, x):
        return [norm(t).transpose(1, 2).reshape(x.shape[0], -1, h, w).contiguous()
                for norm, (t, h, w) in zip(self.norms, self.model.forward_stages(x))]


VARIANTS = {
    'authors (explicit)': Authors,
    'mmrest fused_attn=False': lambda: ResTV2(fused_attn=False),
    'mmrest fast path (default)': lambda: ResTV2(),
}


def peak_memory(name, size, batch):
    """Peak memory of one forward, in this (fresh) process."""
    model = VARIANTS[name]().eval()
    x = torch.randn(batch, 3, *size)
    memory = PeakMemory(torch.device('cpu'))
    with memory.measure(), torch.no_grad():
        model(x)
    return memory.peak_mib


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--out', default=None)
    args = parser.parse_args()
    started = time.time()
    lines = []
    for size, batch in (((800, 1280), 1), ((224, 224), 16)):
        torch.manual_seed(0)
        models = {name: make().eval() for name, make in VARIANTS.items()}
        x = torch.randn(batch, 3, *size)

        def make_call(model):
            def call():
                with torch.no_grad():
                    model(x)
            return call

        entries = interleaved_timing({n: make_call(m) for n, m in models.items()},
                                     torch.device('cpu'), iters=1, warmup=1,
                                     repeats=args.rounds,
                                     progress=lambda m: print(m, flush=True))
        base = entries['mmrest fused_attn=False'].median_ms()
        lines += [f'**ResTv2-T backbone forward, {size[1]}x{size[0]}, batch {batch}**', '',
                  '| variant | ms / batch (median) | all rounds (ms) | speed-up vs explicit | '
                  'peak memory |', '|---|---|---|---|---|']
        for name, entry in entries.items():
            memory = call_in_fresh_process(peak_memory, name, size, batch)
            rounds = ', '.join(f'{1000 * t:.0f}' for t in entry.times)
            lines.append(f'| {name} | {entry.median_ms():.0f} | {rounds} | '
                         f'{base / entry.median_ms():.2f}x | {memory:.0f} MiB |')
        lines.append('')
        print('\n'.join(lines[-len(entries) - 4:]), flush=True)
    load = os.getloadavg()
    header = [f'Command: `python benchmarks/fast_path.py --rounds {args.rounds}`', '',
              f'Device: {device_name(torch.device("cpu"))}; fp32; random weights; '
              f'{args.rounds} interleaved rounds after 1 warm-up; load average at the end '
              f'{load[0]:.1f}; ' + ', '.join(f'{k} {v}' for k, v in software_versions().items())
              + f'. Took {time.time() - started:.0f} s.', '']
    report = '\n'.join(header + lines)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(report + '\n')
    print(report)
    return 0


if __name__ == '__main__':
    sys.exit(main())
