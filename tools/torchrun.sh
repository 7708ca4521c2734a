#!/usr/bin/env bash
# What dist_train.sh and dist_test.sh share: run a tool of this folder in GPUS processes with
# torchrun, from where you stand (relative paths are yours, as with `python tools/train.py`).
#   bash tools/torchrun.sh GPUS TOOL [TOOL's arguments]      (TOOL: train.py, test.py, ...)
# Several machines: NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1; PORT (default 29500);
# PYTHON (default python).
set -euo pipefail
GPUS=$1
TOOLS=$(cd "$(dirname "$0")" && pwd)
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
PYTHON=${PYTHON:-python}
# ghostdet importable from a plain checkout too (configs import it through custom_imports)
export PYTHONPATH="$(dirname "$TOOLS")${PYTHONPATH:+:$PYTHONPATH}"
exec "$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" --master_port="$PORT" "$TOOLS/$2" "${@:3}"
