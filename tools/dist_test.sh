#!/usr/bin/env bash
# Distributed testing with torchrun (mmengine DDP), each process testing its share of the images:
#   bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py options, e.g. --out r.pkl]
# Several machines: NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 bash tools/dist_test.sh ...
# On CPU-only machines it runs too (gloo backend), e.g. for testing.
set -euo pipefail
exec bash "$(dirname "$0")/torchrun.sh" "$3" test.py "$1" "$2" --launcher pytorch "${@:4}"
