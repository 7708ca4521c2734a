#!/usr/bin/env bash
# What dist_train.sh and dist_test.sh share: run a tool in GPUS processes with torchrun.
#   bash tools/torchrun.sh GPUS TOOL [TOOL's arguments]
# Several machines: NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1; PORT (default 29500);
# PYTHON (default python).
set -euo pipefail
GPUS=$1
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
PYTHON=${PYTHON:-python}
cd "$(dirname "$0")/.."
exec "$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" --master_port="$PORT" "${@:2}"
