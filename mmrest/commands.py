"""The ``mmrest`` command (also ``python -m mmrest``): run mmrest's tools from wherever mmrest is
installed, a checkout or a wheel, from any directory::

    mmrest demo [--quick]
    mmrest train CONFIG [...]          # tools/train.py
    mmrest test CONFIG CHECKPOINT [...]
    mmrest dist_train CONFIG GPUS      # tools/dist_train.sh
    mmrest speed_suite --out DIR [...] # tools/analysis/speed_suite.py
    mmrest list                        # every tool, and where configs are

Each name is a file of ``mmrest/.mim/tools`` (the checkout's ``tools/``), run as if started
from the command line, so the command and the script take the same arguments. The tools take
configs by path or as ``mmrest::NAME`` (e.g. ``mmrest::mask_rcnn_restv2_t_3x.py``).
"""
import os
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional

from .utils.configs import MIM_DIR, config_dir

TOOLS_DIR = MIM_DIR / 'tools'


def tools() -> Dict[str, Path]:
    """Tool name (file name without extension) -> script, for the Python and shell tools."""
    found = {}
    for path in sorted(TOOLS_DIR.rglob('*')):
        if 'dev' in path.relative_to(TOOLS_DIR).parts:  # developers' scripts, not tools
            continue
        if path.suffix in ('.py', '.sh') and not path.stem.startswith('_'):
            found.setdefault(path.stem, path)
    return found


def _usage(available: Dict[str, Path]) -> str:
    width = max(map(len, available))
    lines = [__doc__.split('\n\n')[0], '', 'tools:']
    for name, path in available.items():
        lines.append(f'  {name:<{width}}  {path.relative_to(TOOLS_DIR)}')
    lines += ['', f'configs: {config_dir()} (mmrest::NAME)',
              'Run `mmrest TOOL --help` for the arguments of a tool.']
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    available = tools()
    if not argv or argv[0] in ('-h', '--help', 'list'):
        print(_usage(available))
        return 0
    name, args = argv[0], argv[1:]
    if name not in available:
        print(f'mmrest: unknown tool {name!r}\n\n{_usage(available)}', file=sys.stderr)
        return 2
    script = available[name]
    if script.suffix == '.sh':
        return subprocess.call(['bash', str(script), *args], env=dict(
            os.environ, PYTHON=os.environ.get('PYTHON', sys.executable)))
    sys.argv = [str(script), *args]
    try:
        runpy.run_path(str(script), run_name='__main__')
    except SystemExit as exit_:
        code = exit_.code
        if code is None or isinstance(code, int):
            return code or 0
        print(code, file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
