#!/usr/bin/env bash
# Sets up everything skeleton_perception needs on a plain Linux machine, idempotently:
#   1. system packages for headless MuJoCo rendering (apt-get, only when missing);
#   2. a virtual environment in .venv with PyTorch, MuJoCo, the ROS 2 PyPI wheels, colcon;
#   3. the rosidl message build with colcon (the same CMake path a ROS 2 workspace runs),
#      installed into the venv prefix, so `from skeleton_perception.msg import SkeletonGraph`
#      works and no environment variables are needed at run time;
#   4. a .pth file that puts the venv in front of AMENT_PREFIX_PATH in every program of
#      the venv (ament_index: the ros2 CLI, launch files), and .venv/setup.bash for a
#      shell that builds other ROS 2 packages against the venv.
# Every step is skipped when its inputs did not change, so a second run takes seconds.
#
# Environment:
#   VENV=path        where the venv lives (default: <repo>/.venv)
#   PYTHON=python3.X interpreter that creates it (default: python3.11, else python3)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
cd "$ROOT"

log() { printf '[setup] %s\n' "$*" >&2; }

# Serialise concurrent runs (two terminals, parallel test sessions).
mkdir -p "$ROOT/build"
exec 9>"$ROOT/build/.setup.lock"
flock 9

hash_of() { cat "$@" 2>/dev/null | sha256sum | cut -d' ' -f1; }

# --- 1. System packages -------------------------------------------------------
APT_PACKAGES=(libegl1 libegl-mesa0 libgl1-mesa-dri libgles2 cmake g++ python3-dev)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# python3-dev / cmake / g++ may come from elsewhere (pyenv, a toolchain): only ask apt
# for the ones whose tools are really absent.
need=()
for p in "${missing[@]}"; do
  case "$p" in
    cmake) command -v cmake >/dev/null || need+=("$p") ;;
    g++) command -v g++ >/dev/null || need+=("$p") ;;
    python3-dev) ;;  # headers come with the interpreter that creates the venv
    *) need+=("$p") ;;
  esac
done
if [ ${#need[@]} -gt 0 ]; then
  log "installing system packages: ${need[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

# --- 2. Virtual environment ---------------------------------------------------
if [ -z "${PYTHON:-}" ]; then
  if command -v python3.11 >/dev/null; then PYTHON=python3.11; else PYTHON=python3; fi
fi
if [ ! -x "$VENV/bin/python" ]; then
  log "creating virtual environment $VENV ($("$PYTHON" --version))"
  "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check -q)

req_hash=$(hash_of requirements.txt requirements-ros.txt requirements-dev.txt)
if [ "$(cat "$VENV/.requirements.sha256" 2>/dev/null)" != "$req_hash" ]; then
  log "installing Python dependencies (first run takes a minute)"
  # Without a GPU, take the CPU build of PyTorch (2.13.0 lies on this machine's disk and
  # installs offline); with one, the range in requirements.txt admits a CUDA build.
  if ! "$PY" -c "import torch" 2>/dev/null; then
    if ! command -v nvidia-smi >/dev/null && "${PIP[@]}" download --no-deps -d "$VENV/.torchcheck" torch==2.13.0 >/dev/null 2>&1; then
      "${PIP[@]}" install torch==2.13.0
    fi
    rm -rf "$VENV/.torchcheck"
  fi
  "${PIP[@]}" install -r requirements.txt -r requirements-ros.txt -r requirements-dev.txt
  echo "$req_hash" > "$VENV/.requirements.sha256"
fi

# --- 3. Make the ROS wheels' CMake exports point at this venv -------------------
# The wheels' *_rosidl_generator_pyExport.cmake files name the wheel build host's
# Python and numpy include directories (/opt/python/cpXY-cpXY/...).
PYINC=$("$PY" -c "import sysconfig; print(sysconfig.get_paths()['include'])")
NPINC=$("$PY" -c "import numpy; print(numpy.get_include())")
{ grep -rl --include='*.cmake' '/opt/python/cp' "$VENV/share" 2>/dev/null || true; } | while read -r f; do
  sed -i -E \
    -e "s#/opt/python/cp[0-9]+-cp[0-9]+/include/python3\.[0-9]+#${PYINC}#g" \
    -e "s#/opt/python/cp[0-9]+-cp[0-9]+/lib/python3\.[0-9]+/site-packages/numpy/_core/include#${NPINC}#g" \
    "$f"
done

# --- 4. Build and install the package with colcon ------------------------------
# Inputs: the build files, the messages and the list of Python/data files (installed as
# symlinks, so edits to existing files need no rebuild; new files do).
build_hash=$( { cat CMakeLists.txt package.xml scripts/entry_point.py.in msg/*.msg;
  git ls-files -co --exclude-standard skeleton_perception training launch config rviz 2>/dev/null \
    || find skeleton_perception training launch config rviz -type f; } | sha256sum | cut -d' ' -f1)
if [ "$(cat "$VENV/.build.sha256" 2>/dev/null)" != "$build_hash" ] \
   || ! "$PY" -c "import skeleton_perception.msg" 2>/dev/null; then
  log "building messages and installing the package (colcon build)"
  export AMENT_PREFIX_PATH="$VENV" CMAKE_PREFIX_PATH="$VENV"
  export PATH="$VENV/bin:$PATH"
  if ! colcon --log-base build/colcon-log build \
      --merge-install --symlink-install \
      --install-base "$VENV" --build-base build/colcon --base-paths "$ROOT" \
      --cmake-args -DPython3_EXECUTABLE="$PY" -DPython3_FIND_VIRTUALENV=ONLY -DBUILD_TESTING=OFF \
      > build/colcon.log 2>&1; then
    tail -n 60 build/colcon.log >&2
    log "colcon build failed; full log: build/colcon.log"
    exit 1
  fi
  echo "$build_hash" > "$VENV/.build.sha256"
fi

# --- 5. No sourcing for the venv's programs ------------------------------------
# ament_index_python (ros2 CLI, launch's FindPackageShare) reads AMENT_PREFIX_PATH;
# Python's site module runs scripts/ament_prefix.pth at every start of the venv's
# interpreter, and it puts the venv in front of that variable (the ROS wheels' own
# ros_wheels_bootstrapper.pth sets LD_LIBRARY_PATH the same way).
SITE=$("$PY" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
# A symlink install keeps the links of source files since moved or deleted: drop them, so
# that no stale module (pointing nowhere) remains importable by name.
find "$SITE/skeleton_perception" -xtype l -delete 2>/dev/null || true
install -m 644 scripts/ament_prefix.pth "$SITE/skeleton_perception_ament_prefix.pth"
# For a shell that builds other ROS 2 packages against the venv (colcon, CMake): colcon's
# setup.sh (CMAKE_PREFIX_PATH, PATH, ...) plus AMENT_PREFIX_PATH, which it does not set.
cat > "$VENV/setup.bash.tmp" <<'SETUP_BASH'
# Generated by scripts/setup.sh. Not needed to run anything in this venv (its interpreter
# sets AMENT_PREFIX_PATH itself); source it to build other ROS 2 packages against it.
_sp_venv="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$_sp_venv/setup.sh"
export AMENT_PREFIX_PATH="$_sp_venv${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
export PATH="$_sp_venv/bin:$PATH"
unset _sp_venv
SETUP_BASH
mv "$VENV/setup.bash.tmp" "$VENV/setup.bash"
log "ready: $VENV"
