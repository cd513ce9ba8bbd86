"""Fetch everything mmrest's environment needs, except torch and torchvision, into a folder, so
that ``MMREST_WHEELHOUSE=DIR bash scripts/setup_env.sh`` can install it on a machine without
internet (run through ``scripts/make_wheelhouse.sh``; standard library and pip only, since it
runs before any environment exists).

The folder gets, for the target Python and platform:

- wheels of the closure of ``requirements/env.txt`` (mmrest's runtime and test requirements)
  under ``requirements/constraints.txt``, listed in ``requirements.lock``;
- wheels of the tools that build mmcv from source (``requirements/build.txt``), in
  ``build.lock``;
- the mmcv source distribution (``requirements/mmcv.txt``), which setup_env.sh builds there
  with the ops for that machine's torch and GPU;
- ``wheelhouse.json``: the target, the inputs and every file with its size.

``--have FILE`` describes the target's Python (its ``pip freeze``): what it has in a version
the constraints allow is used as it is and not fetched; an OpenCV it has (e.g.
opencv-python-headless) stands in for the opencv-python that mmengine names.
"""
import argparse
import datetime
import json
import re
import subprocess
import sys
import tempfile
import venv
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple

REPO = Path(__file__).resolve().parent.parent
REQUIREMENTS = REPO / 'requirements'
DEFAULT_PLATFORMS = ('manylinux_2_28_x86_64', 'manylinux_2_27_x86_64', 'manylinux_2_17_x86_64',
                     'manylinux2014_x86_64', 'manylinux1_x86_64')
# Never fetched: the target brings its own (a CUDA build), and a download would be gigabytes.
TARGET_PROVIDED = ('torch', 'torchvision', 'triton')
# Distributions that provide the cv2 module that mmengine and mmcv import.
OPENCV_DISTRIBUTIONS = ('opencv-python', 'opencv-python-headless', 'opencv-contrib-python',
                        'opencv-contrib-python-headless')

try:  # packaging is no dependency of this script: pip always carries a copy.
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
    from packaging.version import Version
except ImportError:  # pragma: no cover
    from pip._vendor.packaging.requirements import Requirement
    from pip._vendor.packaging.utils import canonicalize_name
    from pip._vendor.packaging.version import Version


def say(message: str) -> None:
    print(f'[wheelhouse] {message}', flush=True)


def requirement_lines(path: Path) -> List[str]:
    """Requirement lines of a file, comments and blank lines dropped, ``-r`` followed."""
    lines = []
    for raw in path.read_text().splitlines():
        line = raw.split('#', 1)[0].strip()
        if line.startswith('-r '):
            lines += requirement_lines(path.parent / line[3:].strip())
        elif line:
            lines.append(line)
    return lines


def read_have(path: Optional[Path]) -> Dict[str, str]:
    """``pip freeze`` / ``pip list --format=freeze`` output -> {canonical name: version}.
    Lines of other forms (editable or local installs) are skipped."""
    if path is None:
        return {}
    have = {}
    for line in path.read_text().splitlines():
        match = re.match(r'^\s*([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)', line)
        if match:
            have[canonicalize_name(match[1])] = match[2]
    return have


def usable_have(have: Dict[str, str], constraints: Iterable[str]) -> Dict[str, str]:
    """The target's packages in versions the constraints allow (those are kept as they are
    there); the others will be fetched and installed beside them."""
    specs: Dict[str, List[Requirement]] = {}
    for line in constraints:
        req = Requirement(line)
        specs.setdefault(canonicalize_name(req.name), []).append(req)
    usable = {}
    for name, version in have.items():
        try:
            parsed = Version(version)
        except ValueError:
            continue
        if all(req.specifier.contains(parsed, prereleases=True) for req in specs.get(name, [])):
            usable[name] = version
    return usable


class Target:
    """The Python and platform the wheels are for, as pip's cross-target options."""

    def __init__(self, python_version: str, platforms: List[str]) -> None:
        self.python_version = python_version
        self.platforms = platforms

    def pip_options(self) -> List[str]:
        options = ['--only-binary=:all:', '--python-version', self.python_version,
                   '--implementation', 'cp']
        for platform in self.platforms:
            options += ['--platform', platform]
        return options


def pip(*args: str, python: str = sys.executable) -> None:
    command = [python, '-m', 'pip', '--disable-pip-version-check', *args]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-4000:] + result.stderr[-4000:])
        raise SystemExit(f'[wheelhouse] failed: {" ".join(command)}')


def resolve(requirements: List[str], constraints: List[str], target: Target,
            work: Path, label: str) -> List[Tuple[str, str]]:
    """(name, version) of every distribution pip would install for ``requirements`` on the
    target (a dry run that reads metadata only)."""
    work.mkdir(parents=True, exist_ok=True)
    req_file, con_file = work / f'{label}.in', work / f'{label}.constraints'
    req_file.write_text('\n'.join(requirements) + '\n')
    con_file.write_text('\n'.join(constraints) + '\n')
    report = work / f'{label}.json'
    pip('install', '--dry-run', '--ignore-installed', '--quiet', '--report', str(report),
        '--target', str(work / 'target'), *target.pip_options(), '-r', str(req_file),
        '-c', str(con_file))
    resolved = json.loads(report.read_text())['install']
    return sorted((canonicalize_name(item['metadata']['name']), item['metadata']['version'])
                  for item in resolved)


def to_fetch(resolved: List[Tuple[str, str]], have: Dict[str, str]) -> List[Tuple[str, str]]:
    """What the target lacks: not in ``have`` in that version, not provided by the target,
    and no second OpenCV where the target has one."""
    has_opencv = any(name in have for name in OPENCV_DISTRIBUTIONS)
    fetch = []
    for name, version in resolved:
        if name in TARGET_PROVIDED:
            raise SystemExit(f'[wheelhouse] {name} is in the closure of the requirements; it '
                             'must come from the target machine, not the wheelhouse')
        if have.get(name) == version or (has_opencv and name in OPENCV_DISTRIBUTIONS):
            continue
        fetch.append((name, version))
    return fetch


def download(items: List[Tuple[str, str]], target: Target, dest: Path) -> None:
    if items:
        pip('download', '--no-deps', '--quiet', '-d', str(dest), *target.pip_options(),
            *[f'{name}=={version}' for name, version in items])


def download_mmcv_source(mmcv: str, dest: Path, work: Path) -> None:
    """The mmcv sdist. pip reads its metadata by running its setup.py, which imports
    pkg_resources and needs bdist_wheel: do that in a throwaway environment with the build
    tools of requirements/build.txt."""
    env_dir = work / 'sdist-env'
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = str(env_dir / 'bin' / 'python')
    pip('install', '--quiet', '-r', str(REQUIREMENTS / 'build.txt'), python=python)
    pip('download', '--quiet', '--no-deps', '--no-binary', ':all:', '--no-build-isolation',
        '-d', str(dest), mmcv, python=python)


def write_lock(path: Path, items: List[Tuple[str, str]], header: str) -> None:
    path.write_text(f'# {header}\n' + ''.join(f'{n}=={v}\n' for n, v in items))


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog='scripts/make_wheelhouse.sh',
        description='Fetch every package mmrest needs except torch/torchvision (wheels for the '
        'target Python and platform, plus the mmcv source) into DIR, for '
        'MMREST_WHEELHOUSE=DIR bash scripts/setup_env.sh on a machine without internet.')
    parser.add_argument('dir', type=Path, help='the wheelhouse folder (created)')
    parser.add_argument('--python-version', default=f'{sys.version_info[0]}.{sys.version_info[1]}',
                        help="the target's Python, e.g. 3.12 (default: this Python's)")
    parser.add_argument('--platform', action='append', dest='platforms',
                        help='wheel platform tag, repeatable (default: '
                        f'{" ".join(DEFAULT_PLATFORMS)})')
    parser.add_argument('--have', type=Path,
                        help="the target Python's `pip freeze`: packages it has in a version the "
                        'constraints allow are not fetched (for MMREST_TORCH=system)')
    parser.add_argument('--constraints', type=Path, action='append', default=[],
                        help='more constraint files (default: requirements/constraints.txt only)')
    args = parser.parse_args(argv)
    if not re.fullmatch(r'3\.\d+', args.python_version):
        parser.error(f'--python-version must look like 3.12, got {args.python_version!r}')
    if args.have is not None and not args.have.is_file():
        parser.error(f'--have: no file {args.have}')
    target = Target(args.python_version, args.platforms or list(DEFAULT_PLATFORMS))
    dest = args.dir.resolve()
    dest.mkdir(parents=True, exist_ok=True)

    constraints = requirement_lines(REQUIREMENTS / 'constraints.txt')
    for extra in args.constraints:
        constraints += requirement_lines(extra)
    have = read_have(args.have)
    kept = usable_have(have, constraints)
    if have:
        replaced = sorted(set(have) - set(kept))
        say(f'target has {len(have)} packages; {len(kept)} usable as they are'
            + (f', replaced in the environment: {", ".join(replaced)}' if replaced else ''))
    pinned_have = [f'{n}=={v}' for n, v in kept.items() if n not in TARGET_PROVIDED]

    with tempfile.TemporaryDirectory(prefix='mmrest-wheelhouse-') as tmp:
        work = Path(tmp)
        say(f'resolving for Python {target.python_version} on {", ".join(target.platforms)}')
        env_lock = resolve(requirement_lines(REQUIREMENTS / 'env.txt'),
                           constraints + pinned_have, target, work, 'env')
        # The build tools are installed before the mmcv build, whatever the constraints say
        # for the environment (setuptools < 70 there, >= 77 after).
        build_lock = resolve(requirement_lines(REQUIREMENTS / 'build.txt'), pinned_have,
                             target, work, 'build')
        env_fetch, build_fetch = to_fetch(env_lock, kept), to_fetch(build_lock, kept)
        fetch = sorted(set(env_fetch) | set(build_fetch))
        say(f'downloading {len(fetch)} wheels ({len(env_lock) - len(env_fetch)} of the '
            f'{len(env_lock)} runtime packages are on the target already)')
        # Two calls: the two sets may name two versions of one package (setuptools).
        download(env_fetch, target, dest)
        download(build_fetch, target, dest)
        mmcv = requirement_lines(REQUIREMENTS / 'mmcv.txt')[0]
        say(f'downloading the {mmcv} source')
        download_mmcv_source(mmcv, dest, work)

    write_lock(dest / 'requirements.lock', env_fetch,
               'installed with --no-deps by setup_env.sh (MMREST_WHEELHOUSE)')
    write_lock(dest / 'build.lock', build_fetch, 'installed before the mmcv build')
    files = sorted(p for p in dest.iterdir() if p.suffix in ('.whl', '.gz'))
    manifest = dict(
        created=datetime.datetime.now().isoformat(timespec='seconds'),
        python_version=target.python_version, platforms=target.platforms,
        have=str(args.have) if args.have else None, mmcv=mmcv,
        constraints=constraints, requirements=[f'{n}=={v}' for n, v in env_fetch],
        build_requirements=[f'{n}=={v}' for n, v in build_fetch],
        files={p.name: p.stat().st_size for p in files})
    (dest / 'wheelhouse.json').write_text(json.dumps(manifest, indent=1) + '\n')
    stale = [p.name for p in files if not any(
        canonicalize_name(p.name.split('-')[0]) == n and f'-{v}' in p.name
        for n, v in fetch + [tuple(mmcv.split('=='))])]
    total = sum(p.stat().st_size for p in files)
    width = max((len(p.name) for p in files), default=10)
    for p in files:
        print(f'  {p.name:<{width}} {p.stat().st_size / 2**20:8.2f} MiB')
    say(f'{len(files)} files, {total / 2**20:.1f} MiB in {dest}')
    if stale:
        say(f'note: {len(stale)} files in the folder are not in this resolution (left from '
            f'an earlier run?): {", ".join(stale)}')
    say(f'install it there: MMREST_WHEELHOUSE={dest} MMREST_TORCH=system bash '
        'scripts/setup_env.sh')
    return 0


if __name__ == '__main__':
    sys.exit(main())
