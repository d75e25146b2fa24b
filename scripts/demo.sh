#!/usr/bin/env bash
# The main job: sets everything up (as scripts/test.sh does), then runs
# `skeleton-perception demo`: a simulated camera and the detector in one process over
# real DDS topics, printing rate, latency and live accuracy, and writing demo.gif.
# Extra arguments go to the demo command (see `skeleton-perception demo --help`).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
bash "$ROOT/scripts/setup.sh"
export FASTDDS_BUILTIN_TRANSPORTS="${FASTDDS_BUILTIN_TRANSPORTS:-LARGE_DATA}"
export MUJOCO_GL="${MUJOCO_GL:-egl}"
exec "$VENV/bin/skeleton-perception" demo "$@"
