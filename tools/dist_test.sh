#!/usr/bin/env bash
# Distributed testing with torchrun, on one machine or many:
#   bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py options]
#   NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 PORT=29500 bash tools/dist_test.sh CONFIG CKPT 8
# Without GPUs it runs GPUS CPU processes on the gloo backend. PYTHON picks the interpreter.
set -euo pipefail
if [ $# -lt 3 ]; then
    echo "usage: bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py options]" >&2
    exit 2
fi
exec bash "$(dirname "${BASH_SOURCE[0]}")/_torchrun.sh" test.py "$3" "$1" "$2" "${@:4}"
