"""The package installs as a ROS 2 package should, and never as a top-level `training`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import skeleton_perception.training

REPO = Path(__file__).resolve().parents[1]
PREFIX = Path(sys.prefix)
PIP_WHEEL = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]


def test_training_is_under_the_project_namespace(tmp_path):
    path = Path(skeleton_perception.training.__file__)
    assert path.parent.name == "training" and path.parent.parent.name == "skeleton_perception"
    # From a neutral directory (not the repository root, which holds the training/ sources).
    probe = "import importlib.util as u; print(u.find_spec('training') is None)"
    cmd = [sys.executable, "-c", probe]
    out = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "True", "a top-level `training` module is installed"


def test_colcon_install_layout_in_prefix():
    """What `ros2 run` / `ros2 launch` look up: lib/<pkg>, share/<pkg>, the ament index."""
    index = PREFIX / "share/ament_index/resource_index/packages/skeleton_perception"
    assert index.is_file()
    assert (PREFIX / "share/skeleton_perception/package.xml").is_file()
    for exe in ("detector", "sim_camera", "skeleton_3d", "skeleton-perception"):
        path = PREFIX / "lib/skeleton_perception" / exe
        assert path.is_file() and os.access(path, os.X_OK), path
        assert path.read_text().startswith(f"#!{sys.executable}") or path.read_text().startswith(
            "#!"
        )
    for folder in ("launch", "config", "rviz"):
        assert (PREFIX / "share/skeleton_perception" / folder).is_dir()


def test_venv_finds_the_package_without_sourcing(tmp_path):
    """After scripts/setup.sh the venv's interpreter sets AMENT_PREFIX_PATH itself.

    ament_index_python is how the ros2 CLI and launch files find a package; a fresh
    interpreter with no such variable must find this one, and one started under a sourced
    ROS install must keep that install's prefixes after the venv's.
    """
    probe = (
        "import os; from ament_index_python.packages import get_package_share_directory; "
        "print(get_package_share_directory('skeleton_perception')); "
        "print(os.environ['AMENT_PREFIX_PATH'])"
    )
    env = {k: v for k, v in os.environ.items() if k != "AMENT_PREFIX_PATH"}
    for given, expected in ((None, sys.prefix), ("/opt/ros/x", f"{sys.prefix}:/opt/ros/x")):
        if given is not None:
            env["AMENT_PREFIX_PATH"] = given
        cmd = [sys.executable, "-c", probe]
        out = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        share, prefixes = out.stdout.split()
        assert Path(share) == PREFIX / "share/skeleton_perception"
        assert prefixes == expected
    # A shell that builds against the venv sources .venv/setup.bash (colcon's setup.sh and
    # AMENT_PREFIX_PATH).
    env.pop("AMENT_PREFIX_PATH")
    cmd = ["bash", "-c", f'source "{PREFIX}/setup.bash" && echo "$AMENT_PREFIX_PATH"']
    out = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == str(PREFIX), out.stderr


def test_command_line_help_runs():
    exe = shutil.which("skeleton-perception", path=str(PREFIX / "bin"))
    assert exe is not None
    out = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    for command in ("generate", "train", "evaluate", "demo"):
        assert command in out.stdout
    bad = subprocess.run([exe, "no-such-command"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "unknown command 'no-such-command'" in bad.stderr


def test_wheel_maps_training_into_namespace(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("setup.py", "requirements.txt", "README.md", "package.xml"):
        if (REPO / name).exists():
            shutil.copy(REPO / name, src / name)
    for name in ("skeleton_perception", "training", "resource", "launch", "config", "rviz"):
        shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    out = subprocess.run(
        [*PIP_WHEEL, "-w", str(tmp_path / "dist"), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "skeleton_perception/cli.py" in names
    assert "skeleton_perception/training/train.py" in names
    assert not any(n.startswith("training/") for n in names)
    entry_points = zipfile.ZipFile(wheel).read(
        next(n for n in names if n.endswith("entry_points.txt"))
    )
    assert b"skeleton-perception = skeleton_perception.cli:main" in entry_points
