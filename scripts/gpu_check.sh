#!/usr/bin/env bash
# Everything mmrest wants to know from a GPU node, in one bounded command:
#
#   bash scripts/gpu_check.sh --out DIR [--wheelhouse DIR --wheels DIR] [--budget SECONDS]
#                             [--device cuda|cpu] [--quick]
#
# 1. the conditions (nvidia-smi, GPU, driver, Python, torch, CUDA, cuDNN, TF32, cudnn.benchmark);
# 2. with --wheelhouse/--wheels: an offline install onto the node's own torch (MMREST_TORCH=system,
#    no index) from the prebuilt mmcv wheel; if none fits the node's Python / torch / arch, only
#    the mmcv build runs (every core, bounded), its wheel goes to DIR in parts of at most 15 MiB
#    with the command that joins them, and the run stops. Without them: the current environment
#    (PYTHON, default: python);
# 3. the CUDA tests (pytest -m cuda; JUnit XML, each test bounded by pytest-timeout);
# 4. the speed suite, fp32 and AMP, within what is left of the budget (papers' comparisons first);
# 5. torch.profiler tables of one inference of the ResTv2-T and Swin-T backbones and Mask R-CNNs;
# 6. a summary (gpu_check.md).
# A failing step is reported and the rest runs; each step writes its results as it ends, so a
# run cut short still returns what it finished. DIR holds at most 8 flat files of at most 15 MiB:
# gpu_check.md, gpu_check.log, conditions.json, cuda_tests.xml, speed.md, speed.json,
# speed_accuracy.png, profile.md. --device cpu --quick rehearses every step on the CPU (the
# CUDA-only cases skip, and say so). Default budget: 420 s on a GPU, 300 s on the CPU.
set -uo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
usage() { sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

out="" wheelhouse="" wheels_dir="" budget="" device=cuda quick=0
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="${2:-}"; shift 2 ;;
    --wheelhouse) wheelhouse="${2:-}"; shift 2 ;;
    --wheels) wheels_dir="${2:-}"; shift 2 ;;
    --budget) budget="${2:-}"; shift 2 ;;
    --device) device="${2:-}"; shift 2 ;;
    --quick) quick=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "gpu_check.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done
[ -n "$out" ] || { echo "gpu_check.sh: --out DIR is required" >&2; usage >&2; exit 2; }
case "$device" in cuda|cpu) ;; *) echo "gpu_check.sh: --device is cuda or cpu" >&2; exit 2 ;; esac
if [ -n "$wheelhouse$wheels_dir" ] && { [ -z "$wheelhouse" ] || [ -z "$wheels_dir" ]; }; then
  echo "gpu_check.sh: --wheelhouse and --wheels go together" >&2; exit 2
fi
[ -n "$budget" ] || budget=$([ "$device" = cuda ] && echo 420 || echo 300)
case "$budget" in ''|*[!0-9]*) echo "gpu_check.sh: --budget takes whole seconds" >&2; exit 2 ;; esac

mkdir -p "$out" || exit 2
out="$(cd "$out" && pwd)"
log_file="$out/gpu_check.log"
: > "$log_file"
exec > >(tee -a "$log_file") 2>&1
steps="$(mktemp)"
trap 'rm -f "$steps"' EXIT
start=$SECONDS
left() { echo $(( budget - (SECONDS - start) )); }
say() { printf '[gpu_check %(%H:%M:%S)T, %4ds left] %s\n' -1 "$(left)" "$*"; }
# step NAME STATUS SECONDS NOTE: one row of the summary
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "${4:-}" >> "$steps"; }
# bounded CMD...: run it within what is left of the budget less $reserve seconds
bounded() {
  local limit=$(( $(left) - reserve ))
  [ "$limit" -gt 5 ] || { say "no time left for: $*"; return 124; }
  timeout --kill-after=10 "$limit" "$@"
}
py="${PYTHON:-python}"
reserve=10

summarise() {
  "$py" "$repo/scripts/gpu_check.py" summary "$out" "$steps" >/dev/null 2>&1 \
    || python3 "$repo/scripts/gpu_check.py" summary "$out" "$steps" >/dev/null 2>&1
  # what comes back from the node: at most 15 MiB a file
  local limit=$((15 * 1024 * 1024))
  if [ "$(stat -c %s "$log_file")" -gt "$limit" ]; then
    tail -c "$limit" "$log_file" > "$log_file.tail" && mv "$log_file.tail" "$log_file"
  fi
  say "written: $(cd "$out" && ls | tr '\n' ' ')"
  cat "$out/gpu_check.md" 2>/dev/null
}

say "mmrest GPU check: device $device, budget ${budget} s$([ "$quick" = 1 ] && echo ', quick'), results in $out"

# 1. conditions, with the node's own Python (before anything is installed)
t=$SECONDS
node_python="${PYTHON:-python3}"
if bounded "$node_python" "$repo/scripts/gpu_check.py" conditions "$out"; then
  record conditions ok $((SECONDS - t)) "conditions.json"
else
  record conditions FAILED $((SECONDS - t))
fi

# 2. install
if [ -n "$wheelhouse" ]; then
  t=$SECONDS
  install_env=(env MMREST_WHEELHOUSE="$wheelhouse" MMREST_WHEELS="$(cd "$wheels_dir" && pwd)"
               MMREST_TORCH=system MMREST_PYTHON="$node_python" PIP_NO_INDEX=1)
  if bounded "${install_env[@]}" MMREST_MMCV_ONLY=check bash "$repo/scripts/setup_env.sh"; then
    say "installing offline onto the node's torch from $wheelhouse"
    if bounded "${install_env[@]}" bash "$repo/scripts/setup_env.sh"; then
      record install ok $((SECONDS - t)) "offline, prebuilt mmcv wheel"
      py="$repo/.venv/bin/python"
    else
      record install FAILED $((SECONDS - t)) "see gpu_check.log"
      summarise
      exit 1
    fi
  else
    say "no prebuilt mmcv wheel fits this node: building it only (every core), then stopping"
    reserve=30
    wheel="$(bounded "${install_env[@]}" MMREST_MMCV_ONLY=1 MAX_JOBS="$(nproc)" \
             bash "$repo/scripts/setup_env.sh" | tail -n 1)"
    if [ -f "$wheel" ]; then
      name="$(basename "$wheel")"
      split -b 15M -d "$wheel" "$out/$name.part"
      join="cat $name.part* > $name"
      record mmcv-build ok $((SECONDS - t)) "built $name; in parts: $join, then put it in the wheels folder's $(basename "$(dirname "$wheel")")/"
    else
      record mmcv-build FAILED $((SECONDS - t)) "no wheel within the budget (its objects stay on the node: a rerun goes on)"
    fi
    reserve=10
    summarise
    exit 0
  fi
else
  record install skipped 0 "the current environment ($py)"
fi

# 3. CUDA tests
t=$SECONDS
cuda_reserve=$(( $(left) * 55 / 100 ))  # the speed suite's share of what is left
[ "$quick" = 1 ] && cuda_reserve=$(( $(left) * 75 / 100 ))
reserve=$cuda_reserve
say "CUDA tests (pytest -m cuda${device:+; on a machine without a GPU they skip})"
bounded "$py" -m pytest "$repo/tests" -m cuda -p no:cacheprovider -q -rs --timeout=120 \
  --junitxml="$out/cuda_tests.xml" -o junit_family=xunit2
status=$?
reserve=10
case $status in
  0) record cuda-tests ok $((SECONDS - t)) "cuda_tests.xml" ;;
  5) record cuda-tests "none selected" $((SECONDS - t)) "no test is marked cuda here" ;;
  124|137) record cuda-tests "cut short" $((SECONDS - t)) "budget" ;;
  *) record cuda-tests FAILED $((SECONDS - t)) "cuda_tests.xml, gpu_check.log" ;;
esac

# 4-5. speed suite, fp32 and AMP, with the profile, in what is left: its own plan gets 80%
# less 20 s (its start-up, and model builds, which run past a part's share)
t=$SECONDS
suite_budget=$(( $(left) * 8 / 10 - 20 ))
if [ "$suite_budget" -gt 20 ]; then
  extra=()
  [ "$quick" = 1 ] && extra+=(--quick)
  bounded "$py" "$repo/tools/analysis/speed_suite.py" --device "$device" --amp --profile \
    --budget "$suite_budget" --out "$out" "${extra[@]}"
  status=$?
  case $status in
    0) record speed-suite ok $((SECONDS - t)) "speed.md, speed.json, speed_accuracy.png, profile.md" ;;
    124|137) record speed-suite "cut short" $((SECONDS - t)) "what finished is in speed.md" ;;
    *) record speed-suite "parts failed" $((SECONDS - t)) "see speed.md" ;;
  esac
else
  record speed-suite skipped 0 "no budget left"
fi

# 6. summary
summarise
exit 0
