"""The Python side of scripts/gpu_check.sh: what the node is, and the summary of a run.

    python scripts/gpu_check.py conditions OUT_DIR          # conditions.json (before any install)
    python scripts/gpu_check.py summary OUT_DIR STEPS_TSV   # gpu_check.md from what was written

STEPS_TSV: a line per step, ``step<TAB>status<TAB>seconds<TAB>note`` (gpu_check.sh writes it).

Standard library only (torch if importable): it runs before mmrest is installed.
"""
import json
import os
import platform
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Dict, List, Optional


def _run(command: List[str]) -> Optional[str]:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=60,
                              check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def conditions() -> Dict[str, object]:
    """The GPU, driver, Python, torch, CUDA, cuDNN and the TF32 / cudnn.benchmark defaults."""
    found: Dict[str, object] = {
        'date': time.strftime('%Y-%m-%d %H:%M:%S'), 'host': platform.node(),
        'python': sys.version.split()[0], 'executable': sys.executable,
        'cpu_count': os.cpu_count(), 'platform': platform.platform(),
        'nvidia_smi': _run(['nvidia-smi']),
        'gpu_query': _run(['nvidia-smi', '--query-gpu=name,driver_version,memory.total,'
                           'compute_cap,clocks.max.sm,power.limit', '--format=csv']),
        'nvcc': _run(['nvcc', '--version']),
    }
    try:
        import torch
    except ImportError as error:
        found['torch'] = f'not importable: {error}'
        return found
    found.update(torch=torch.__version__, torch_cuda=torch.version.cuda,
                 cuda_available=torch.cuda.is_available(),
                 cudnn=torch.backends.cudnn.version() if torch.backends.cudnn.is_available()
                 else None,
                 tf32_matmul=torch.backends.cuda.matmul.allow_tf32,
                 tf32_cudnn=torch.backends.cudnn.allow_tf32,
                 cudnn_benchmark=torch.backends.cudnn.benchmark,
                 float32_matmul_precision=torch.get_float32_matmul_precision())
    if torch.cuda.is_available():
        found['gpus'] = [dict(name=torch.cuda.get_device_name(i),
                              capability='%d.%d' % torch.cuda.get_device_capability(i),
                              memory_gib=round(torch.cuda.get_device_properties(i).total_memory
                                               / 2**30, 1))
                         for i in range(torch.cuda.device_count())]
    return found


def junit_counts(path: Path) -> Optional[Dict[str, int]]:
    """Tests, failures, errors and skips of a pytest JUnit XML file."""
    if not path.is_file():
        return None
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == 'testsuite' else list(root)
    counts = {k: sum(int(s.get(k, 0)) for s in suites)
              for k in ('tests', 'failures', 'errors', 'skipped')}
    counts['passed'] = counts['tests'] - counts['failures'] - counts['errors'] - \
        counts['skipped']
    failed = []
    for case in root.iter('testcase'):
        if case.find('failure') is not None or case.find('error') is not None:
            failed.append(f'{case.get("classname")}::{case.get("name")}')
    counts['failed_names'] = failed  # type: ignore[assignment]
    return counts


def _steps(path: Path) -> List[List[str]]:
    if not path.is_file():
        return []
    return [line.split('\t') for line in path.read_text().splitlines() if line.strip()]


def summary(out: Path, steps: Path) -> str:
    """gpu_check.md: conditions, the steps with their status and time, the test counts, the
    targets table and the list of files."""
    lines = ['# mmrest GPU check', '']
    cond_path = out / 'conditions.json'
    if cond_path.is_file():
        cond = json.loads(cond_path.read_text())
        gpus = ', '.join(f'{g["name"]} (sm_{g["capability"].replace(".", "")}, '
                         f'{g["memory_gib"]} GiB)' for g in cond.get('gpus', [])) or 'no GPU'
        lines += [f'{cond.get("date")} on {cond.get("host")}: {gpus}; Python '
                  f'{cond.get("python")}, torch {cond.get("torch")} (CUDA '
                  f'{cond.get("torch_cuda")}, cuDNN {cond.get("cudnn")}); TF32 matmul '
                  f'{cond.get("tf32_matmul")}, cuDNN TF32 {cond.get("tf32_cudnn")}, '
                  f'cudnn.benchmark {cond.get("cudnn_benchmark")} by default.', '']
        query = cond.get('gpu_query')
        if query:
            lines += ['```', str(query), '```', '']
    lines += ['| step | status | seconds | note |', '|---|---|---|---|']
    for step in _steps(steps):
        step += [''] * (4 - len(step))
        lines.append('| ' + ' | '.join(step[:4]) + ' |')
    counts = junit_counts(out / 'cuda_tests.xml')
    if counts:
        lines += ['', f'CUDA tests: {counts["passed"]} passed, {counts["failures"]} failed, '
                  f'{counts["errors"]} errors, {counts["skipped"]} skipped (of '
                  f'{counts["tests"]}; cuda_tests.xml).']
        if counts['failed_names']:
            lines += [f'- failed: `{name}`' for name in counts['failed_names']]
    speed = out / 'speed.md'
    if speed.is_file():
        text = speed.read_text()
        start = text.find('## Targets')
        if start >= 0:
            end = text.find('\n## ', start + 1)
            lines += ['', text[start:end if end > 0 else None].strip()]
        lines += ['', 'Full tables: speed.md (speed.json); profiles: profile.md.']
    lines += ['', 'Files: ' + ', '.join(sorted({'gpu_check.md'} | {
        p.name for p in out.iterdir() if p.is_file()})) + '.']
    return '\n'.join(lines) + '\n'


def main(argv: Optional[List[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or (args[0], len(args)) not in (('conditions', 2), ('summary', 3)):
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(args[1])
    out.mkdir(parents=True, exist_ok=True)
    if args[0] == 'conditions':
        (out / 'conditions.json').write_text(json.dumps(conditions(), indent=1) + '\n')
        print(f'written: {out / "conditions.json"}')
    else:
        (out / 'gpu_check.md').write_text(summary(out, Path(args[2])))
        print((out / 'gpu_check.md').read_text())
    return 0


if __name__ == '__main__':
    sys.exit(main())
