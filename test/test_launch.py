"""The launch file, the parameters YAML and the RViz configuration.

The launch file is loaded where the ROS 2 ``launch`` library is importable (a ROS 2
install); PyPI has no ``launch`` wheel, so on a plain machine that test skips. The data
files are checked everywhere.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
LAUNCH_FILE = ROOT / "launch" / "detector.launch.py"


def test_params_file_matches_the_declared_parameters():
    from skeleton_perception.nodes.detector_node import PARAMETERS

    params = yaml.safe_load((ROOT / "config" / "detector.yaml").read_text())
    values = params["/**"]["ros__parameters"]
    declared = {k: v for k, v in values.items() if k != "qos_overrides"}
    assert set(declared) == set(PARAMETERS)
    for name, value in declared.items():
        assert type(value) is type(PARAMETERS[name][0]), name


def test_rviz_config_shows_the_detector_topics():
    config = yaml.safe_load((ROOT / "rviz" / "skeleton.rviz").read_text())
    topics = {
        (d["Class"], d["Topic"]["Value"])
        for d in config["Visualization Manager"]["Displays"]
        if "Topic" in d
    }
    assert topics == {
        ("rviz_default_plugins/Image", "/debug_image"),
        ("rviz_default_plugins/MarkerArray", "/skeleton_markers"),
        ("rviz_default_plugins/MarkerArray", "/skeleton_3d_markers"),
    }
    fixed = config["Visualization Manager"]["Global Options"]["Fixed Frame"]
    from skeleton_perception.nodes.sim_camera_node import PARAMETERS

    assert fixed == PARAMETERS["frame_id"][0]


def _require_launch():
    launch = pytest.importorskip("launch", reason="the ROS 2 launch library is not installed")
    if not hasattr(launch, "LaunchDescription"):  # only the repository's launch/ folder
        pytest.skip("the ROS 2 launch library is not installed")
    pytest.importorskip("launch_ros", reason="the ROS 2 launch_ros library is not installed")


def _load_launch_module():
    spec = importlib.util.spec_from_file_location("detector_launch", LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rviz2_installed() -> bool:
    from ament_index_python.packages import PackageNotFoundError, get_package_prefix

    try:
        get_package_prefix("rviz2")
    except PackageNotFoundError:
        return False
    return True


def test_launch_file_loads():
    _require_launch()
    from launch.actions import DeclareLaunchArgument
    from launch_ros.actions import Node

    from launch import LaunchDescription

    env_before = dict(os.environ)
    module = _load_launch_module()
    description = module.generate_launch_description()
    assert isinstance(description, LaunchDescription)
    assert dict(os.environ) == env_before  # no side effects when loading

    names = {a.name for a in description.entities if isinstance(a, DeclareLaunchArgument)}
    for expected in (
        "image",
        "model_path",
        "device",
        "use_sim_camera",
        "rviz",
        "namespace",
        "params_file",
        "fastdds_builtin_transports",
        "use_depth",
        "depth",
        "target_frame",
    ):
        assert expected in names
    nodes = [e for e in description.entities if isinstance(e, Node)]
    executables = {n.node_executable for n in nodes}
    assert {"detector", "sim_camera", "skeleton_3d", "rviz2"} <= executables


def test_launch_arguments_are_checked_before_anything_starts():
    _require_launch()
    from launch import LaunchContext

    module = _load_launch_module()

    def check(**arguments):
        context = LaunchContext()
        values = {name: "false" for name in module.BOOLEAN_ARGUMENTS} | {"sim_rate_hz": "20.0"}
        context.launch_configurations.update(values | arguments)
        return module.check_before_starting(context)

    assert check() == [] and check(use_sim_camera="True", use_depth="1") == []
    with pytest.raises(RuntimeError) as err:
        check(use_depth="maybe", sim_rate_hz="fast")
    assert "use_depth:=maybe is not true or false" in str(err.value)
    assert "sim_rate_hz:=fast is not a number" in str(err.value)
    if _rviz2_installed():
        assert check(rviz="true") == []
    else:
        with pytest.raises(RuntimeError, match="rviz:=true, but the rviz2 package"):
            check(rviz="true")


def _processes_with(marker: str) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmdline and int(pid) != os.getpid():
            found.append(int(pid))
    return found


def _launch_and_reap(script: str, namespace: str, cwd: Path, wait_s: float = 0.0):
    """Runs a launch ``script`` (argv: the launch file, ``namespace``) in a subprocess.

    Waits up to ``wait_s`` for the nodes started under ``namespace`` to stop, then kills
    any that are left (so that no test leaves them running, whatever its assertions say).

    Returns:
        The completed process and the pids that were left running.
    """
    cmd = [sys.executable, "-c", script, str(LAUNCH_FILE), namespace]
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120)
    deadline = time.monotonic() + wait_s
    while _processes_with(namespace) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = _processes_with(namespace)
    for pid in left:
        os.kill(pid, 9)
    return out, left


def test_failed_launch_leaves_no_node_running(tmp_path):
    """rviz:=true without rviz2 (the last action) fails the launch with no node left behind."""
    _require_launch()
    if _rviz2_installed():
        pytest.skip("rviz2 is installed here: that launch would not fail")
    namespace = f"orphan_check_{uuid.uuid4().hex[:8]}"  # in every started node's command line
    script = (
        "import sys\n"
        "from launch import LaunchService\n"
        "from launch.actions import IncludeLaunchDescription\n"
        "from launch.launch_description_sources import PythonLaunchDescriptionSource\n"
        "service = LaunchService()\n"
        "arguments = {'use_sim_camera': 'true', 'rviz': 'true', 'namespace': sys.argv[2]}\n"
        "source = PythonLaunchDescriptionSource(sys.argv[1])\n"
        "service.include_launch_description(\n"
        "    IncludeLaunchDescription(source, launch_arguments=arguments.items()))\n"
        "sys.exit(service.run())\n"
    )
    out, left = _launch_and_reap(script, namespace, tmp_path)
    assert left == [], f"nodes left running after the failed launch: {left}"
    assert out.returncode != 0
    assert "nothing was started" in out.stdout + out.stderr
    assert "rviz2" in out.stdout + out.stderr


def test_nodes_stop_when_a_later_action_fails(tmp_path):
    """The launch file included by one whose next action fails: no node is left running.

    ``launch`` exits on the failure without stopping the nodes it has just started (they
    ran on with parent pid 1 before run_node's ``exit_with_parent``); now each stops when
    the launch process is gone, even if that happened while it was still importing.
    """
    _require_launch()
    namespace = f"orphan_check_{uuid.uuid4().hex[:8]}"  # in every started node's command line
    script = (
        "import sys\n"
        "from launch import LaunchDescription, LaunchService\n"
        "from launch.actions import IncludeLaunchDescription, OpaqueFunction\n"
        "from launch.launch_description_sources import PythonLaunchDescriptionSource\n"
        "def fail(context):\n"
        "    raise RuntimeError('the last action fails')\n"
        "arguments = {'use_sim_camera': 'true', 'namespace': sys.argv[2]}\n"
        "source = PythonLaunchDescriptionSource(sys.argv[1])\n"
        "service = LaunchService()\n"
        "service.include_launch_description(LaunchDescription([\n"
        "    IncludeLaunchDescription(source, launch_arguments=arguments.items()),\n"
        "    OpaqueFunction(function=fail),\n"
        "]))\n"
        "sys.exit(service.run())\n"
    )
    # a node stops after its imports (torch: seconds)
    out, left = _launch_and_reap(script, namespace, tmp_path, wait_s=60)
    log = out.stdout + out.stderr
    assert out.returncode != 0 and "the last action fails" in log, log
    assert log.count("process started with pid") == 2, log  # detector and sim_camera
    assert left == [], f"nodes left running 60 s after the failed launch: {left}\n{log}"


def test_docs_list_every_parameter():
    from skeleton_perception.nodes import detector_node, sim_camera_node, skeleton_3d_node

    text = (ROOT / "docs" / "ros.md").read_text()
    for name in [
        *detector_node.PARAMETERS,
        *sim_camera_node.PARAMETERS,
        *skeleton_3d_node.PARAMETERS,
    ]:
        assert f"`{name}`" in text, name
