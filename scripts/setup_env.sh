#!/usr/bin/env bash
# Create (or reuse) the project virtual environment in .venv with the pinned OpenMMLab stack and
# mmrest in editable mode. Safe to run again: every step is skipped when already satisfied.
#
#   MMREST_VENV       where the environment lives           (default: <repo>/.venv)
#   MMREST_PYTHON     interpreter used to create it         (default: python3.11, else python3)
#   MMREST_TORCH      torch requirement                     (default: torch==2.14.1)
#   MMREST_TORCHVISION torchvision requirement              (default: torchvision==0.29.1)
#   MMREST_WHEELS     where the locally built mmcv wheel is cached (default: ~/.cache/mmrest/wheels)
#   FORCE_CUDA=1      build mmcv's CUDA ops too (GPU clusters; needs nvcc matching torch's CUDA)
#   MAX_JOBS          parallel compile jobs for mmcv        (default: number of cores)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${MMREST_VENV:-$repo/.venv}"
torch_req="${MMREST_TORCH:-torch==2.14.1}"
torchvision_req="${MMREST_TORCHVISION:-torchvision==0.29.1}"
wheels="${MMREST_WHEELS:-${XDG_CACHE_HOME:-$HOME/.cache}/mmrest/wheels}"
mmcv_version=2.1.0

log() { printf '[setup %(%H:%M:%S)T] %s\n' -1 "$*"; }

if [ -z "${MMREST_PYTHON:-}" ]; then
  if command -v python3.11 >/dev/null 2>&1; then MMREST_PYTHON=python3.11; else MMREST_PYTHON=python3; fi
fi

if [ ! -x "$venv/bin/python" ]; then
  log "creating virtual environment $venv with $MMREST_PYTHON"
  "$MMREST_PYTHON" -m venv "$venv"
fi
py="$venv/bin/python"
pip=("$py" -m pip --disable-pip-version-check)

# True when every requirement given is already installed (cheap: no index look-up).
have() { "$py" - "$@" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version, PackageNotFoundError
from packaging.requirements import Requirement
for spec in sys.argv[1:]:
    req = Requirement(spec)
    try:
        if not req.specifier.contains(version(req.name), prereleases=True):
            sys.exit(1)
    except PackageNotFoundError:
        sys.exit(1)
PY
}
"${pip[@]}" -q install 'packaging' >/dev/null 2>&1 || true

# 1. torch first, so that nothing later pulls in another build of it.
if ! have "$torch_req" "$torchvision_req"; then
  log "installing $torch_req $torchvision_req (several GB the first time)"
  "${pip[@]}" install "$torch_req" "$torchvision_req"
fi

# 2. mmcv 2.1.0 with its C++ ops (RoIAlign, NMS, ...). PyPI has it only as source, and its
#    setup.py forces -std=c++17 while torch >= 2.10 headers need C++20: build from the unpacked
#    sdist with the flag raised, and keep the wheel so that the next environment installs in seconds.
mmcv_ok() { "$py" -c "import mmcv, mmcv.ops; from mmcv.ops import nms, roi_align; assert mmcv.__version__ == '$mmcv_version'" >/dev/null 2>&1; }
if ! mmcv_ok; then
  mkdir -p "$wheels"
  cuda_tag=cpu; [ "${FORCE_CUDA:-0}" = 1 ] && cuda_tag=cuda
  torch_tag="$("$py" -c 'import torch; print(torch.__version__.replace("+", "_"))')"
  cache_dir="$wheels/mmcv-$mmcv_version-torch$torch_tag-$cuda_tag"
  wheel_file="$(ls "$cache_dir"/mmcv-"$mmcv_version"-*.whl 2>/dev/null | head -n 1 || true)"
  if [ -z "$wheel_file" ]; then
    # Build tools mmcv's setup.py needs (it imports pkg_resources, gone in setuptools 70).
    log "installing mmcv's build tools"
    "${pip[@]}" install -q 'setuptools<70' wheel ninja psutil 'numpy<2'
    build="$(mktemp -d)"
    trap 'rm -rf "$build"' EXIT
    log "downloading the mmcv $mmcv_version source"
    "${pip[@]}" download --no-deps --no-binary :all: --no-build-isolation "mmcv==$mmcv_version" -d "$build" -q
    tar -xzf "$build"/mmcv-"$mmcv_version".tar.gz -C "$build"
    src="$build/mmcv-$mmcv_version"
    sed -i 's/-std=c++17/-std=c++20/g' "$src/setup.py"
    log "building mmcv $mmcv_version with ops (about 25 minutes on 2 cores; compiler output in $build/mmcv-build.log)"
    (
      cd "$src"
      MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" "${pip[@]}" wheel --no-build-isolation --no-deps -v . -w "$cache_dir" \
        >"$build/mmcv-build.log" 2>&1
    ) &
    builder=$!
    start=$SECONDS
    while kill -0 "$builder" 2>/dev/null; do
      sleep 60
      kill -0 "$builder" 2>/dev/null || break
      last="$(grep -o -E '^ *\[[0-9]+/[0-9]+\]' "$build/mmcv-build.log" 2>/dev/null | tail -n 1 | tr -d ' []' || true)"
      log "  mmcv build running for $(( (SECONDS - start) / 60 )) min${last:+, compiled $last objects}"
    done
    if ! wait "$builder"; then
      tail -n 60 "$build/mmcv-build.log" >&2
      log "mmcv build failed; the log above is the end of $build/mmcv-build.log"
      trap - EXIT
      exit 1
    fi
    wheel_file="$(ls "$cache_dir"/mmcv-"$mmcv_version"-*.whl | head -n 1)"
    log "mmcv built in $(( (SECONDS - start) / 60 )) min: $wheel_file"
  else
    log "using cached mmcv wheel $wheel_file"
  fi
  "${pip[@]}" install --no-deps "$wheel_file"
  # mmcv's own runtime requirements (addict, yapf, ...) come with mmengine below.
fi

# 3. The rest of the stack and mmrest itself.
mapfile -t requirements < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' \
  "$repo/requirements/runtime.txt" "$repo/requirements/tests.txt")
if ! have "${requirements[@]}" mmrest; then
  log "installing the OpenMMLab stack and mmrest (editable)"
  "${pip[@]}" install -r "$repo/requirements/runtime.txt" -r "$repo/requirements/tests.txt" "mmcv==$mmcv_version"
  "${pip[@]}" install --no-deps --no-build-isolation -e "$repo"
fi
mmcv_ok || { log "mmcv $mmcv_version with ops is not importable in $venv"; exit 1; }
log "environment ready: $venv"
