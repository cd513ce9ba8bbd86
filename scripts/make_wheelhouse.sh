#!/usr/bin/env bash
# Fetch every package mmrest's environment needs except torch/torchvision, as wheels for a target
# Python and platform, plus the mmcv source, for an offline install on a GPU node:
#
#   bash scripts/make_wheelhouse.sh DIR [--python-version 3.12] [--platform TAG ...]
#       [--have target-pip-freeze.txt]
#   # then, on the node (no internet), with its own CUDA build of torch:
#   MMREST_WHEELHOUSE=DIR MMREST_TORCH=system bash scripts/setup_env.sh
#
# Runs on a machine with index access. pip resolves for another Python version correctly only in
# recent releases (23.2 checks Requires-Python against the running interpreter), so the work
# (scripts/wheelhouse.py) runs in a small cached environment with the current pip:
#   MMREST_PYTHON   interpreter for that environment (default python3.11, else python3)
#   MMREST_TOOLS    where it lives (default ~/.cache/mmrest/wheelhouse-tool)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -z "${MMREST_PYTHON:-}" ]; then
  if command -v python3.11 >/dev/null 2>&1; then MMREST_PYTHON=python3.11; else MMREST_PYTHON=python3; fi
fi
if [ $# -eq 0 ] || [ "$1" = -h ] || [ "$1" = --help ]; then
  exec "$MMREST_PYTHON" "$repo/scripts/wheelhouse.py" --help
fi
tools="${MMREST_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/mmrest/wheelhouse-tool}"
if [ ! -x "$tools/bin/python" ] || [ -n "$(find "$tools/bin/python" -mtime +7 2>/dev/null)" ]; then
  echo "[wheelhouse] preparing $tools (the current pip)"
  "$MMREST_PYTHON" -m venv --clear "$tools"
  "$tools/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip packaging
  touch "$tools/bin/python"
fi
exec "$tools/bin/python" "$repo/scripts/wheelhouse.py" "$@"
