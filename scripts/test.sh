#!/usr/bin/env bash
# The whole test suite, set-up included: `bash scripts/test.sh [pytest args]`.
# Runs scripts/setup.sh (system packages, venv, message build; quick when nothing
# changed), lints with ruff, then runs pytest over test/ against the installed package.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
bash "$ROOT/scripts/setup.sh"
cd "$ROOT"
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .
# Large images over DDS need Fast DDS's large-data transport (see docs/ros.md, "Fast DDS and large images").
export FASTDDS_BUILTIN_TRANSPORTS="${FASTDDS_BUILTIN_TRANSPORTS:-LARGE_DATA}"
export MUJOCO_GL="${MUJOCO_GL:-egl}"
# Each test run gets its own DDS domain so parallel runs on one machine do not mix.
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-$(( (RANDOM % 100) + 1 ))}"
exec "$VENV/bin/pytest" -p no:cacheprovider "$@"
