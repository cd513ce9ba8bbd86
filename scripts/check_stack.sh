#!/usr/bin/env bash
# Check mmrest on one software stack, in an environment of its own, and print one summary line
# for the README's table of tested stacks.
#
#   bash scripts/check_stack.sh [--torch 2.1.2 --torchvision 0.16.2] [--python python3.11]
#       [--numpy SPEC] [--all-tests] [--venv DIR]
#       full stack (default): scripts/setup_env.sh builds it (mmcv built for that torch once and
#       cached per torch), then `pytest -m "not slow"` (every test with --all-tests) and
#       `tools/demo.py --quick` run in it
#   bash scripts/check_stack.sh --light [--torch 2.1.2] [--python python3.10] [--numpy SPEC]
#       torch + mmengine only (no mmcv, mmdet, mmseg, mmpretrain; downloads, no compile): the
#       stack and backbone tests (tests/test_stack.py, tests/test_models, tests/test_checkpoint);
#       what needs a missing package is skipped with its name
#   bash scripts/check_stack.sh --torch-only [--torch 2.14.1] [--timm SPEC]
#       torch, torchvision, numpy and timm (SPEC, e.g. ==1.0.3: the oldest mmrest supports) with
#       `pip install --no-deps -e .`: no OpenMMLab package at all; the stack tests and the
#       plain-PyTorch and timm faces (tests/test_stack.py, tests/test_models/test_faces.py,
#       tests/test_models/test_timm.py, tests/test_readme_faces.py)
#
# Environments live in .stacks/ (ignored) unless --venv says otherwise. numpy defaults to 1.x
# for torch < 2.3 (the first torch built for numpy 2) and to what pip picks otherwise. Exit status:
# that of the first step that failed.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

torch_version=2.14.1
torchvision_version=""
python="${MMREST_PYTHON:-python3.11}"
numpy_spec=""
light=0
torch_only=0
timm_spec=""
all_tests=0
venv=""
usage() { sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --torch) torch_version="$2"; shift 2 ;;
    --torchvision) torchvision_version="$2"; shift 2 ;;
    --python) python="$2"; shift 2 ;;
    --numpy) numpy_spec="$2"; shift 2 ;;
    --light) light=1; shift ;;
    --torch-only) torch_only=1; light=1; shift ;;
    --timm) timm_spec="$2"; shift 2 ;;
    --all-tests) all_tests=1; shift ;;
    --venv) venv="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "check_stack.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
log() { printf '[check_stack %(%H:%M:%S)T] %s\n' -1 "$*"; }
die() { log "error: $*" >&2; exit 1; }
# An interpreter that runs: as given, else pyenv's build of that Python version (its shims
# answer `command -v` for versions that are installed but not selected).
if ! "$python" -c '' >/dev/null 2>&1; then
  wanted="${python##*/}"; wanted="${wanted#python}"
  found="$(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$wanted"*/bin/python"$wanted" 2>/dev/null | tail -n 1 || true)"
  [ -n "$wanted" ] && [ -n "$found" ] || die "no interpreter $python (--python)"
  python="$found"
fi
py_version="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
if [ -z "$numpy_spec" ]; then
  # torch < 2.3 was built against numpy 1.x.
  numpy_spec="$("$python" - "$torch_version" <<'PY'
import re, sys
major, minor = map(int, re.match(r'(\d+)\.(\d+)', sys.argv[1]).groups())
print('numpy<2' if (major, minor) < (2, 3) else 'numpy')
PY
)"
fi
if [ "$torch_only" = 1 ]; then kind=torch-only; elif [ "$light" = 1 ]; then kind=light; else kind=full; fi
prefix=""
[ "$light" = 0 ] || prefix=light-
[ "$torch_only" = 0 ] || prefix=torchonly-
venv="${venv:-$repo/.stacks/${prefix}torch$torch_version-py$py_version}"
py="$venv/bin/python"
start=$SECONDS

# 1. The environment.
if [ "$light" = 1 ]; then
  if [ ! -x "$py" ]; then
    log "creating $venv with $python"
    "$python" -m venv "$venv"
  fi
  pip=("$py" -m pip --disable-pip-version-check)
  if [ "$torch_only" = 1 ]; then
    log "installing torch==$torch_version torchvision $numpy_spec timm$timm_spec (no OpenMMLab package)"
    "${pip[@]}" install -q "torch==$torch_version" torchvision "$numpy_spec" "timm$timm_spec" \
      pytest pytest-timeout
  else
    # mmengine, as the det / seg / cls extras name it.
    mmengine_req="$(grep -m 1 '^mmengine' requirements/det.txt)"
    log "installing torch==$torch_version $numpy_spec $mmengine_req (no mmcv, no mmdet / mmseg / mmpretrain)"
    # opencv (mmengine's) < 4.12: newer releases want numpy 2, which torch < 2.3 does not take.
    "${pip[@]}" install -q "torch==$torch_version" "$numpy_spec" "opencv-python<4.12" setuptools \
      "$mmengine_req" pytest pytest-timeout -c requirements/constraints.txt
  fi
  "${pip[@]}" install -q --no-deps -e . || die "could not install mmrest into $venv"
  if "$py" -c 'import mmcv' 2>/dev/null; then die "$venv has mmcv: a light stack must not"; fi
  if [ "$torch_only" = 1 ] && "$py" - <<'PY'
import importlib.util, sys
sys.exit(not any(importlib.util.find_spec(n) for n in
                 ('mmengine', 'mmcv', 'mmdet', 'mmseg', 'mmpretrain')))
PY
  then die "$venv has an OpenMMLab package: a torch-only stack must not"; fi
else
  MMREST_VENV="$venv" MMREST_PYTHON="$python" MMREST_TORCH="torch==$torch_version" \
    MMREST_TORCHVISION="torchvision${torchvision_version:+==$torchvision_version}" \
    bash scripts/setup_env.sh
  if [ "$numpy_spec" != numpy ] && ! "$py" -c "
import sys
from importlib.metadata import version
from packaging.specifiers import SpecifierSet
sys.exit(version('numpy') not in SpecifierSet('${numpy_spec#numpy}'))" 2>/dev/null; then
    "$py" -m pip install -q --disable-pip-version-check "$numpy_spec"
  fi
fi
setup_s=$((SECONDS - start))
versions="$("$py" - <<'PY'
import platform
from importlib.metadata import PackageNotFoundError, version
parts = [f'Python {platform.python_version()}']
for name in ('torch', 'torchvision', 'numpy', 'timm', 'mmengine', 'mmcv', 'mmdet',
             'mmsegmentation', 'mmpretrain'):
    try:
        parts.append(f'{name} {version(name)}')
    except PackageNotFoundError:
        pass
print(', '.join(parts))
PY
)"
log "stack: $versions"

# 2. The tests.
report="$(mktemp)"
trap 'rm -f "$report"' EXIT
if [ "$torch_only" = 1 ]; then
  tests=(tests/test_stack.py tests/test_models/test_faces.py tests/test_models/test_timm.py
         tests/test_readme_faces.py)
  what="stack, plain-PyTorch and timm tests"
elif [ "$light" = 1 ]; then
  tests=(tests/test_stack.py tests/test_models tests/test_checkpoint)
  what="stack, backbone and checkpoint tests"
elif [ "$all_tests" = 1 ]; then
  tests=(tests)
  what="all tests"
else
  tests=(tests -m "not slow")
  what='tests -m "not slow"'
fi
log "running $what"
tests_start=$SECONDS
status=0
"$py" -m pytest "${tests[@]}" -q -p no:cacheprovider -rs 2>&1 | tee "$report" || status=$?
tests_s=$((SECONDS - tests_start))
# pytest's closing line, with or without its ===== frame (-q drops it).
counts="$(grep -E '(passed|failed|error).* in [0-9.]+s' "$report" | tail -n 1 \
  | sed -E 's/^=+ //; s/ in [0-9.]+s.*//' || true)"

# 3. The demo (full stacks).
demo="not run ($kind stack)"
if [ "$light" = 0 ]; then
  log "running tools/demo.py --quick"
  demo_start=$SECONDS
  work="$(mktemp -d)"
  if "$py" tools/demo.py --quick --work-dir "$work/demo" --data-root "$work/data"; then
    demo="passed in $((SECONDS - demo_start)) s"
  else
    demo="FAILED"
    [ "$status" != 0 ] || status=1
  fi
  rm -rf "$work"
fi

log "summary ($kind): $versions | $what: ${counts:-no result} in $tests_s s | demo --quick: $demo | environment: $setup_s s"
exit "$status"
