#!/usr/bin/env bash
# Distributed training with torchrun (mmengine DDP):
#   bash tools/dist_train.sh CONFIG GPUS [train.py options]
# Several machines: NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 bash tools/dist_train.sh ...
# On CPU-only machines it runs too (gloo backend), e.g. for testing.
set -euo pipefail
exec bash "$(dirname "$0")/torchrun.sh" "$2" train.py "$1" --launcher pytorch "${@:3}"
