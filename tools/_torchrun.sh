#!/usr/bin/env bash
# torchrun of one of the tools, for dist_train.sh and dist_test.sh:
#   bash tools/_torchrun.sh SCRIPT GPUS [SCRIPT arguments]
# On one machine or many (NNODES, NODE_RANK, MASTER_ADDR, PORT); PYTHON picks the interpreter.
# Without GPUs it runs GPUS CPU processes on the gloo backend.
set -euo pipefail
SCRIPT=$1
GPUS=$2
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHON=${PYTHON:-python}  # e.g. PYTHON=.venv/bin/python

PYTHONPATH="$(dirname "$HERE")${PYTHONPATH:+:$PYTHONPATH}" \
"$PYTHON" -m torch.distributed.run \
    --nnodes="${NNODES:-1}" \
    --node_rank="${NODE_RANK:-0}" \
    --master_addr="${MASTER_ADDR:-127.0.0.1}" \
    --nproc_per_node="$GPUS" \
    --master_port="${PORT:-29500}" \
    "$HERE/$SCRIPT" "${@:3}" --launcher pytorch
