#!/usr/bin/env bash
# The inference-option tables (tools/analysis/gpu_benchmark.py) and the CUDA tests of the
# options, in one command of at most 10 minutes, from the repository root of a GPU machine:
#
#   bash tools/analysis/gpu_benchmark.sh [gpu_benchmark.py arguments, e.g. --light CFG --twin CFG]
#
# Where python3 lacks mmcv's ops or mmdet (a bare machine with torch and torchvision), it first
# installs the wheels in .whl/ (shared/device/fetch_wheels.sh downloads them on a machine with
# a network) into /tmp/site and builds mmcv 2.1.0's CUDA ops for this GPU in /tmp/b (about 4
# minutes on 16 cores), as shared/device/gpu_env.sh does. Then it writes into $GPU_BENCH_OUT
# (default: $OUT, else /tmp/gpu_benchmark): gpu.txt (nvidia-smi), gpu_benchmark.md (the tables,
# rewritten after each group of rows, so a run cut short keeps what it measured),
# gpu_benchmark.log (progress), pytest.log; and prints the tables last.
# Time (seconds, environment): the whole stays within BUDGET=570; the tests get TEST_TIMEOUT=90
# of it, the tables what the setup leaves before them (at most BENCH_TIMEOUT=300). The tables
# take 5 warm-up and 20 timed runs per row unless the arguments say otherwise.
set -uo pipefail
out=${GPU_BENCH_OUT:-${OUT:-/tmp/gpu_benchmark}}
mkdir -p "$out"
root=$(pwd)
started=$SECONDS

if ! python3 -c 'import mmcv.ops, mmdet' >/dev/null 2>&1; then
  if [ ! -f /tmp/b/mmcv-2.1.0/mmcv/_ext.done ]; then
    ls "$root"/.whl/*.whl "$root"/.whl/mmcv-2.1.0.tar.gz >/dev/null 2>&1 || {
      echo "error: python3 lacks mmcv's ops or mmdet, and .whl/ holds no wheels to install" \
           "them from (run shared/device/fetch_wheels.sh where there is a network)"; exit 1; }
    arch=$(python3 -c 'import torch; print("%d.%d" % torch.cuda.get_device_capability())') \
      || { echo 'error: torch sees no CUDA device'; exit 1; }
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/site "$root"/.whl/*.whl || exit 1
    mkdir -p /tmp/b && tar xzf "$root"/.whl/mmcv-2.1.0.tar.gz -C /tmp/b || exit 1
    ( cd /tmp/b/mmcv-2.1.0 && export PYTHONPATH=/tmp/site MMCV_WITH_OPS=1 FORCE_CUDA=1 \
        TORCH_CUDA_ARCH_LIST="$arch" MAX_JOBS=$(nproc) \
        && python3 setup.py build_ext --inplace > "$out/mmcv_build.log" 2>&1 ) \
      || { tail -40 "$out/mmcv_build.log"; exit 1; }
    touch /tmp/b/mmcv-2.1.0/mmcv/_ext.done
    echo "mmcv built for sm_${arch/./} in $((SECONDS - started)) s"
  fi
  export PYTHONPATH=/tmp/b/mmcv-2.1.0:/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$root${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
python3 -c "import torch, mmcv.ops, mmdet; print('ready:', torch.__version__, \
torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no CUDA device', \
'mmcv', mmcv.__version__, 'mmdet', mmdet.__version__)" || exit 1
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm \
  --format=csv > "$out/gpu.txt" 2>&1

left=$(( ${BUDGET:-570} - (SECONDS - started) - ${TEST_TIMEOUT:-90} ))
limit=$(( left < ${BENCH_TIMEOUT:-300} ? left : ${BENCH_TIMEOUT:-300} ))
echo "gpu_benchmark.py: $limit s at most"
timeout "$(( limit > 30 ? limit : 30 ))" python3 tools/analysis/gpu_benchmark.py \
  --runs 20 --warmup 5 --out "$out/gpu_benchmark.md" "$@" > /dev/null \
  2> "$out/gpu_benchmark.log"
bench=$?
echo "gpu_benchmark.py: exit $bench after $((SECONDS - started)) s (124: stopped by its limit)"
grep -E '^(error|Traceback)|Error' "$out/gpu_benchmark.log" | head -5

timeout "${TEST_TIMEOUT:-90}" python3 -m pytest -q -p no:cacheprovider \
  tests/test_models/test_inference_options.py tests/test_study/test_options_speed.py \
  tests/test_analysis/test_latency.py -k 'cuda or fp16_with_graphs' > "$out/pytest.log" 2>&1
echo "pytest: exit $? after $((SECONDS - started)) s"
tail -15 "$out/pytest.log"
cat "$out/gpu.txt"
cat "$out/gpu_benchmark.md" 2>/dev/null || tail -30 "$out/gpu_benchmark.log"
exit $bench
