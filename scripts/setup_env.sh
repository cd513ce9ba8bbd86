#!/usr/bin/env bash
# Create (or reuse) the project virtual environment in .venv with the pinned OpenMMLab stack and
# mmrest in editable mode. Safe to run again: every step is skipped when already satisfied.
#
#   MMREST_VENV        where the environment lives           (default: <repo>/.venv)
#   MMREST_PYTHON      interpreter used to create it         (default: python3.11, else python3)
#   MMREST_TORCH       torch requirement                     (default: torch==2.14.1), or
#                      'system': reuse the torch (and torchvision) that MMREST_PYTHON already has,
#                      e.g. a cluster's CUDA build; the environment sees that interpreter's
#                      packages behind its own, as with --system-site-packages
#   MMREST_TORCHVISION torchvision requirement               (default: torchvision==0.29.1)
#   MMREST_WHEELHOUSE  install offline from this folder of scripts/make_wheelhouse.sh (no index)
#   MMREST_WHEELS      where built mmcv wheels are cached    (default: ~/.cache/mmrest/wheels)
#   FORCE_CUDA=1       build mmcv's CUDA ops without a visible GPU (set TORCH_CUDA_ARCH_LIST too);
#                      with a GPU they are built anyway, for the arch of the GPUs present
#   TORCH_CUDA_ARCH_LIST  CUDA archs of the mmcv build      (default: those of the GPUs present)
#   MAX_JOBS           parallel compile jobs for mmcv        (default: number of cores)
#   MMREST_MMCV_ONLY   'check': say whether a built mmcv wheel for this Python / torch / arch is
#                      cached (exit 0) or not (exit 3), then stop; '1': make sure it is (build it
#                      if not), print its path, then stop: nothing else is installed
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${MMREST_VENV:-$repo/.venv}"
torch_req="${MMREST_TORCH:-torch==2.14.1}"
torchvision_req="${MMREST_TORCHVISION:-torchvision==0.29.1}"
wheels="${MMREST_WHEELS:-${XDG_CACHE_HOME:-$HOME/.cache}/mmrest/wheels}"
wheelhouse="${MMREST_WHEELHOUSE:-}"
mmcv_req="$(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$repo/requirements/mmcv.txt" | head -n 1)"
mmcv_version="${mmcv_req#*==}"

log() { printf '[setup %(%H:%M:%S)T] %s\n' -1 "$*"; }
die() { log "error: $*" >&2; exit 1; }

if [ -z "${MMREST_PYTHON:-}" ]; then
  if command -v python3.11 >/dev/null 2>&1; then MMREST_PYTHON=python3.11; else MMREST_PYTHON=python3; fi
fi

# pip options of every install: the wheelhouse alone when one is given.
source_opts=()
if [ -n "$wheelhouse" ]; then
  wheelhouse="$(cd "$wheelhouse" 2>/dev/null && pwd)" || die "MMREST_WHEELHOUSE: no folder ${MMREST_WHEELHOUSE}"
  [ -f "$wheelhouse/wheelhouse.json" ] || die "$wheelhouse was not made by scripts/make_wheelhouse.sh (no wheelhouse.json)"
  source_opts=(--no-index --find-links "$wheelhouse")
  log "installing offline from the wheelhouse $wheelhouse"
fi

# 0. The environment. With MMREST_TORCH=system it also sees the packages of the interpreter whose
#    torch it reuses (appended to sys.path by a .pth file, after its own packages): this works
#    when that interpreter is itself in a venv or conda environment, where --system-site-packages
#    would only reach the base installation.
base_site=""
if [ "$torch_req" = system ]; then
  base_site="$("$MMREST_PYTHON" -c 'import os, torch; print(os.path.dirname(os.path.dirname(torch.__file__)))' 2>/dev/null)" \
    || die "MMREST_TORCH=system: $MMREST_PYTHON cannot import torch (set MMREST_PYTHON to the interpreter that has it)"
fi
if [ ! -x "$venv/bin/python" ]; then
  log "creating virtual environment $venv with $MMREST_PYTHON"
  "$MMREST_PYTHON" -m venv "$venv"
fi
py="$venv/bin/python"
pip=("$py" -m pip --disable-pip-version-check)
site_dir="$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
base_pth="$site_dir/_mmrest_base_environment.pth"
if [ -n "$base_site" ]; then
  if [ "$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" != \
       "$("$MMREST_PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" ]; then
    die "$venv was made with another Python than $MMREST_PYTHON; remove it first"
  fi
  echo "import site; site.addsitedir('$base_site')" > "$base_pth"
  log "reusing the torch of $MMREST_PYTHON ($base_site)"
elif [ -f "$base_pth" ]; then
  die "$venv reuses the packages of $(sed -e "s/.*addsitedir('//" -e "s/')//" "$base_pth") (MMREST_TORCH=system); set MMREST_TORCH=system again, or remove the environment"
fi

# True when every requirement given is installed in a version that satisfies it (no index).
have() { "$py" - "$@" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version, PackageNotFoundError
try:
    from packaging.requirements import Requirement
except ImportError:  # pip always carries a copy
    from pip._vendor.packaging.requirements import Requirement
for spec in sys.argv[1:]:
    req = Requirement(spec)
    try:
        if not req.specifier.contains(version(req.name), prereleases=True):
            sys.exit(1)
    except PackageNotFoundError:
        sys.exit(1)
PY
}
# The requirement lines of a file, without comments.
requirements_of() { sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$@"; }

# 1. torch first, so that nothing later pulls in another build of it.
if [ "$torch_req" = system ]; then
  "$py" -c 'import torch' 2>/dev/null || die "the environment does not see the torch of $MMREST_PYTHON"
  "$py" -c 'import torchvision' 2>/dev/null \
    || log "note: $MMREST_PYTHON has no torchvision; parts of mmdet and mmpretrain need it"
elif ! have "$torch_req" "$torchvision_req"; then
  log "installing $torch_req $torchvision_req (several GB the first time)"
  hint=""
  [ -z "$wheelhouse" ] || hint=" offline: a wheelhouse holds no torch; reuse the torch of MMREST_PYTHON with MMREST_TORCH=system, or add torch wheels to $wheelhouse"
  "${pip[@]}" install "${source_opts[@]}" "$torch_req" "$torchvision_req" \
    || die "could not install $torch_req $torchvision_req$hint"
fi
log "torch $("$py" -c 'import torch; print(torch.__version__, "(CUDA", torch.version.cuda, end=")")')"

# 2. mmcv with its C++ (and, with a GPU, CUDA) ops (RoIAlign, NMS, ...). PyPI has it only as
#    source, and its setup.py forces -std=c++17 while torch >= 2.10 headers need C++20: build from
#    the unpacked sdist with the flag raised, and keep the wheel so that the next environment with
#    the same Python, torch and GPU arch installs in seconds.
mmcv_ok() { "$py" -c "import mmcv, mmcv.ops; from mmcv.ops import nms, roi_align; assert mmcv.__version__ == '$mmcv_version'" >/dev/null 2>&1; }

# CUDA_HOME for a build of mmcv's CUDA ops, and what a toolkit made of the nvidia wheels (pip's
# nvidia-cuda-nvcc & co., no system toolkit) lacks: their CCCL headers (nv/target) come in
# nvidia-cuda-cccl, pinned like crt and nvvm to nvcc's release (pip would bring a newer one);
# the link step asks for -lcudart where the wheel ships only libcudart.so.<major>.
prepare_cuda_build() {
  # torch takes CUDA_HOME as the folder above `which nvcc`, wrong where nvcc is a wrapper or
  # link outside the toolkit (/usr/local/bin/nvcc): then take the toolkit nvcc reports.
  cuda_home="$("$py" -c 'from torch.utils.cpp_extension import CUDA_HOME; print(CUDA_HOME or "")')"
  if [ ! -f "$cuda_home/include/cuda_runtime_api.h" ] && command -v nvcc >/dev/null 2>&1; then
    top="$(nvcc --dryrun -x cu -c /dev/null -o /dev/null 2>&1 | sed -n 's/^#\$ TOP=//p' | head -n 1)"
    [ -z "$top" ] || cuda_home="$(cd "$top" && pwd)"  # TOP is <toolkit>/bin/..
  fi
  [ -f "$cuda_home/include/cuda_runtime_api.h" ] \
    || die "building mmcv's CUDA ops needs the CUDA toolkit (nvcc and its headers; set CUDA_HOME)"
  export CUDA_HOME="$cuda_home"
  cuda_mm="$("$py" -c 'import torch; print(torch.version.cuda)')"
  wheel_includes() { "$py" -c 'import glob, os, sys
dirs = {p for s in sys.path for p in glob.glob(os.path.join(s, "nvidia", "*", "include"))}
dirs |= {os.path.join(p, "cccl") for p in dirs if os.path.isdir(os.path.join(p, "cccl"))}
print(":".join(sorted(dirs)))'; }
  has_cccl() {
    local dir
    for dir in "$CUDA_HOME/include" "$CUDA_HOME/include/cccl" $(wheel_includes | tr ':' ' '); do
      [ -e "$dir/nv/target" ] && return 0
    done
    return 1
  }
  if ! has_cccl; then
    log "the CUDA headers lack CCCL (nv/target): installing nvidia-cuda-cccl $cuda_mm"
    "${pip[@]}" install -q "${source_opts[@]}" "nvidia-cuda-cccl==$cuda_mm.*" \
      -c <(printf 'nvidia-cuda-crt==%s.*\nnvidia-nvvm==%s.*\n' "$cuda_mm" "$cuda_mm") \
      || die "no CCCL headers for CUDA $cuda_mm (nvidia-cuda-cccl==$cuda_mm.*)${wheelhouse:+ in $wheelhouse}"
  fi
  # torch's headers include cuSPARSE, cuBLAS, ... headers that a toolkit with nvcc alone
  # lacks; the nvidia-* wheels of a pip-installed torch carry them. After the toolkit's own.
  local includes
  includes="$(wheel_includes)"
  [ -z "$includes" ] || export CPATH="${CPATH:+$CPATH:}$includes"
  local lib so
  for lib in "$CUDA_HOME/lib64" "$CUDA_HOME/lib" $("$py" -c 'import glob, os, sys
print(" ".join(sorted({p for s in sys.path for p in glob.glob(os.path.join(s, "nvidia", "*", "lib"))})))'); do
    so="$(ls "$lib"/libcudart.so.[0-9]* 2>/dev/null | head -n 1 || true)"
    if [ -n "$so" ] && [ ! -e "$lib/libcudart.so" ]; then
      ln -s "$(basename "$so")" "$lib/libcudart.so" 2>/dev/null \
        && log "linked $lib/libcudart.so -> $(basename "$so") (the link step asks for -lcudart)"
    fi
  done
}

if [ -n "${MMREST_MMCV_ONLY:-}" ] || ! mmcv_ok; then
  # CUDA ops when a GPU is visible (mmcv's own rule) or FORCE_CUDA=1, for the archs of the GPUs
  # present unless TORCH_CUDA_ARCH_LIST says otherwise; they name the cache entry. A cached
  # wheel needs no toolkit: only a build does.
  if [ "${FORCE_CUDA:-0}" = 1 ] || [ "$("$py" -c 'import torch; print(int(torch.cuda.is_available()))')" = 1 ]; then
    if [ -z "${TORCH_CUDA_ARCH_LIST:-}" ]; then
      TORCH_CUDA_ARCH_LIST="$("$py" -c 'import torch
print(";".join(sorted({"%d.%d" % torch.cuda.get_device_capability(i) for i in range(torch.cuda.device_count())})))')"
      [ -n "$TORCH_CUDA_ARCH_LIST" ] || die "FORCE_CUDA=1 without a visible GPU: set TORCH_CUDA_ARCH_LIST (e.g. 9.0)"
    fi
    export FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST
    ops_tag="cuda$("$py" -c 'import torch; print(torch.version.cuda)')-sm$(echo "$TORCH_CUDA_ARCH_LIST" | tr -d '.' | tr ' ;' '__')"
  else
    ops_tag=cpu
  fi
  build_id="$("$py" -c 'import sys, torch; print("torch%s-cp%d%d" % (torch.__version__.replace("+", "_"), *sys.version_info[:2]))')-$ops_tag"
  cache_dir="$wheels/mmcv-$mmcv_version-$build_id"
  wheel_file="$(ls "$cache_dir"/mmcv-"$mmcv_version"-*.whl 2>/dev/null | head -n 1 || true)"
  if [ "${MMREST_MMCV_ONLY:-}" = check ]; then
    if [ -n "$wheel_file" ]; then log "mmcv wheel cached: $wheel_file"; exit 0; fi
    log "no mmcv wheel cached for $build_id (looked in $cache_dir)"
    exit 3
  fi
  if [ -z "$wheel_file" ]; then
    [ "$ops_tag" = cpu ] || prepare_cuda_build
    log "installing mmcv's build tools"
    if [ -n "$wheelhouse" ]; then
      "${pip[@]}" install -q "${source_opts[@]}" --no-deps -r "$wheelhouse/build.lock"
    else
      "${pip[@]}" install -q -r "$repo/requirements/build.txt"
    fi
    # The source tree and its compiled objects live beside the cache until the wheel is
    # built: a build that fails (or is killed) keeps them, and the next run goes on from there.
    build="$wheels/build-mmcv-$mmcv_version-$build_id"
    src="$build/mmcv-$mmcv_version"
    mkdir -p "$build"
    if [ ! -f "$src/setup.py" ]; then
      if [ -n "$wheelhouse" ]; then
        [ -f "$wheelhouse/mmcv-$mmcv_version.tar.gz" ] || die "$wheelhouse has no mmcv-$mmcv_version.tar.gz"
        cp "$wheelhouse/mmcv-$mmcv_version.tar.gz" "$build/"
      else
        log "downloading the mmcv $mmcv_version source"
        "${pip[@]}" download --no-deps --no-binary :all: --no-build-isolation "$mmcv_req" -d "$build" -q
      fi
      tar -xzf "$build"/mmcv-"$mmcv_version".tar.gz -C "$build"
      sed -i 's/-std=c++17/-std=c++20/g' "$src/setup.py"
    else
      log "resuming the mmcv build in $src (objects of an earlier attempt are reused)"
    fi
    jobs="${MAX_JOBS:-$(nproc)}"
    log "building mmcv $mmcv_version with ops ($ops_tag${TORCH_CUDA_ARCH_LIST:+, archs $TORCH_CUDA_ARCH_LIST}; $jobs jobs; measured on 2 cores: 9-29 min for the CPU ops, 46 min with the CUDA ops for one arch; compiler output in $build/mmcv-build.log)"
    (
      cd "$src"
      # pip builds a local folder in place: the objects stay in $src/build
      MMCV_WITH_OPS=1 MAX_JOBS="$jobs" "${pip[@]}" wheel --no-build-isolation --no-deps -v . -w "$cache_dir" \
        >>"$build/mmcv-build.log" 2>&1
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
      log "mmcv build failed; the log above is the end of $build/mmcv-build.log; its objects stay in $src for the next attempt"
      exit 1
    fi
    wheel_file="$(ls "$cache_dir"/mmcv-"$mmcv_version"-*.whl | head -n 1)"
    rm -rf "$build"
    log "mmcv built in $(( (SECONDS - start) / 60 )) min: $wheel_file"
  else
    log "using cached mmcv wheel $wheel_file"
  fi
  if [ "${MMREST_MMCV_ONLY:-}" = 1 ]; then
    echo "$wheel_file"
    exit 0
  fi
  "${pip[@]}" install --no-deps "$wheel_file"
  # mmcv's own runtime requirements (addict, yapf, ...) come with mmengine below.
fi

# 3. The rest of the stack and mmrest itself. Online, pip resolves requirements/env.txt under the
#    tested versions; offline, the wheelhouse's lock lists exactly what the target lacked when it
#    was made (resolved there with the same constraints), installed as it is.
if [ -n "$wheelhouse" ]; then
  mapfile -t requirements < <(requirements_of "$wheelhouse/requirements.lock")
  install_stack=("${pip[@]}" install "${source_opts[@]}" --no-deps -r "$wheelhouse/requirements.lock")
else
  constraints=("$repo/requirements/constraints.txt")
  # Its own torch comes with the pinned numpy 1.x stack; a reused torch keeps the machine's numpy.
  [ "$torch_req" = system ] || constraints+=("$repo/requirements/pinned.txt")
  mapfile -t requirements < <(requirements_of "$repo"/requirements/{runtime,det,seg,cls,tests}.txt \
    "${constraints[@]}")
  install_stack=("${pip[@]}" install -r "$repo/requirements/env.txt" "$mmcv_req")
  for file in "${constraints[@]}"; do install_stack+=(-c "$file"); done
fi
if ! have "${requirements[@]}" mmrest; then
  log "installing the OpenMMLab stack and mmrest (editable)"
  "${install_stack[@]}"
  # PEP 660 with the environment's setuptools: offline too (setuptools >= 80 turns a legacy
  # `setup.py develop` into an isolated build that needs the index).
  "${pip[@]}" install "${source_opts[@]}" --no-deps --no-build-isolation --use-pep517 -e "$repo"
fi
mmcv_ok || die "mmcv $mmcv_version with ops is not importable in $venv"
"$py" -c 'import mmdet, mmseg, mmpretrain, mmrest' \
  || die "the stack does not import in $venv (the error is above)"
log "environment ready: $venv ($("$py" -c 'import mmrest, numpy, torch; print("mmrest", mmrest.__version__, "| torch", torch.__version__, "| numpy", numpy.__version__, end="")'))"
