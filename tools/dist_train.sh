#!/usr/bin/env bash
# Distributed training with torchrun, on one machine or many:
#   bash tools/dist_train.sh CONFIG GPUS [train.py options]
#   NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 PORT=29500 bash tools/dist_train.sh CONFIG 8
# Without GPUs it runs GPUS CPU processes on the gloo backend. PYTHON picks the interpreter.
set -euo pipefail
if [ $# -lt 2 ]; then
    echo "usage: bash tools/dist_train.sh CONFIG GPUS [train.py options]" >&2
    exit 2
fi
exec bash "$(dirname "${BASH_SOURCE[0]}")/_torchrun.sh" train.py "$2" "$1" "${@:3}"
