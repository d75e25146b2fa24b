#!/usr/bin/env bash
# The CUDA checks, on a machine with an NVIDIA GPU and PyTorch but without ROS or this
# project's venv (e.g. a lent GPU machine; docs/gpu.md): the CUDA tests
# (test/test_cuda.py, with the shipped-model and training tests they build on) and
# bench/bench_gpu.py. Logs go to the folder given as $1 (default: build/gpu_check).
#
#   bash scripts/gpu_check.sh [LOG_DIR]
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOGS="${1:-$ROOT/build/gpu_check}"
mkdir -p "$LOGS"
cd "$ROOT"
PY="${PYTHON:-python3}"

# skeleton_perception.training is installed from training/ by colcon; without an install,
# a folder on the path that holds skeleton_perception/training -> training/ does the same
# (skeleton_perception/__init__.py extends its package path).
SHIM="$(mktemp -d)"
mkdir -p "$SHIM/skeleton_perception"
ln -s "$ROOT/training" "$SHIM/skeleton_perception/training"
export PYTHONPATH="$ROOT:$SHIM${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1

status=0
{ nvidia-smi -L; "$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available())"; } 2>&1 | tee "$LOGS/device.log"
"$PY" -m pytest -q -p no:cacheprovider -rs test/test_cuda.py test/test_default_model.py \
  test/test_train.py 2>&1 | tee "$LOGS/test_cuda.log" || status=1
"$PY" bench/bench_gpu.py "${@:2}" 2>&1 | tee "$LOGS/bench_gpu.log" || status=1
rm -rf "$SHIM"
exit $status
