#!/usr/bin/env bash
# Create (or reuse) the environment ghostdet runs in: a virtualenv at $GHOSTDET_VENV (default .venv)
# holding torch 2.13.0 (CPU), mmengine 0.10.7, mmcv 2.1.0 built with its ops, mmdet 3.3.0,
# pycocotools, onnx + onnxruntime (requirements/deploy.txt) and ghostdet itself (editable).
#
#   tools/install_env.sh                         # what `make env` runs
#   GHOSTDET_SKIP_TORCH=1 tools/install_env.sh   # keep the torch your python already has (e.g. CUDA)
#   GHOSTDET_PYTHON=/opt/conda/bin/python ...    # the interpreter the venv is made from
#
# The first run builds mmcv from its sdist (about 15 min on 2 cores, progress printed every 30 s);
# pip caches the wheel it builds, and a stamp in the venv makes a second run take seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
venv=${GHOSTDET_VENV:-$root/.venv}
python=${GHOSTDET_PYTHON:-python3}
skip_torch=${GHOSTDET_SKIP_TORCH:-0}

say() { printf '[install_env] %s\n' "$*"; }
# this machine's pip.conf names local index folders that may be absent: hide pip's noise about them
run_pip() { "${pip[@]}" "$@" 2>&1 | { grep -v 'is ignored: it is neither a file nor a directory' || true; }; }

stamp_key=$(cat tools/install_env.sh requirements.txt requirements/*.txt setup.py | sha1sum | cut -c1-12)
stamp="$venv/.ghostdet-env-$stamp_key-torch$skip_torch"
if [ -f "$stamp" ] && "$venv/bin/python" -c 'import ghostdet' 2>/dev/null; then
  say "environment up to date: $venv"
  exit 0
fi

if [ ! -x "$venv/bin/python" ]; then
  if [ "$skip_torch" = 1 ]; then
    "$python" -c 'import torch' 2>/dev/null || {
      say "GHOSTDET_SKIP_TORCH=1 but $python cannot import torch: install your torch first"; exit 1; }
    say "creating $venv from $python, seeing its site-packages (your torch)"
    "$python" -m venv --system-site-packages "$venv"
  else
    say "creating $venv from $python"
    "$python" -m venv "$venv"
  fi
fi
py="$venv/bin/python"
pip=("$py" -m pip install --disable-pip-version-check)
[ -d /opt/wheels ] && pip+=(--find-links /opt/wheels)

say "build tools (setuptools >=77.0.3,<81, wheel, ninja)"
run_pip -q -r requirements/build.txt

if [ "$skip_torch" = 1 ]; then
  say "keeping torch $("$py" -c 'import torch; print(torch.__version__)')"
else
  say "torch 2.13.0 (CPU)"
  run_pip -q -r requirements/torch.txt
fi
# Pin what is installed now so that no later requirement can replace torch or setuptools.
constraints="$venv/ghostdet-constraints.txt"
"$py" - > "$constraints" <<'EOF'
import importlib.metadata as m
for name in ('torch', 'setuptools'):
    print(f'{name}=={m.version(name)}')
for name in ('torchvision', 'timm', 'mmpretrain'):
    print(f'{name}<0')  # unsatisfiable: nothing may pull them in
EOF
pip+=(-c "$constraints")

say "mmengine 0.10.7, the pure-python requirements, onnx and onnxruntime"
run_pip -q mmengine==0.10.7 pycocotools numpy opencv-python matplotlib -r requirements/tests.txt \
  -r requirements/deploy.txt

if "$py" -c 'import mmcv, mmcv.ops; assert mmcv.__version__ == "2.1.0"' 2>/dev/null; then
  say "mmcv 2.1.0 with ops already installed"
else
  log="$venv/mmcv-build.log"
  say "mmcv 2.1.0 with its C++ ops, from the sdist (a cached wheel installs in seconds;"
  say "a cold build takes about 15 min on 2 cores). Log: $log"
  start=$SECONDS
  MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} "${pip[@]}" -v --no-build-isolation mmcv==2.1.0 > "$log" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -0 "$pid" 2>/dev/null || break
    step=$(grep -oE '^ *\[[0-9]+/[0-9]+\]' "$log" | tr -d ' ' | tail -n 1 || true)
    say "  building mmcv: $((SECONDS - start)) s elapsed ${step:+(compiled $step)}"
  done
  if ! wait "$pid"; then
    tail -n 40 "$log"
    say "mmcv build failed; full log: $log"
    exit 1
  fi
  say "mmcv installed in $((SECONDS - start)) s"
fi

say "mmdet 3.3.0 and ghostdet (editable)"
run_pip -q mmdet==3.3.0 -r requirements.txt
run_pip -q --no-build-isolation --no-deps -e .

"$py" -c 'import ghostdet, torch, mmcv, mmengine, mmdet; print("[install_env] ready: ghostdet", ghostdet.__version__, "torch", torch.__version__, "mmcv", mmcv.__version__, "mmengine", mmengine.__version__, "mmdet", mmdet.__version__)'
rm -f "$venv"/.ghostdet-env-*
touch "$stamp"
