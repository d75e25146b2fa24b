"""The launch file, the parameters YAML and the RViz configuration.

The launch file is loaded where the ROS 2 ``launch`` library is importable (a ROS 2
install); PyPI has no ``launch`` wheel, so on a plain machine that test skips. The data
files are checked everywhere.
"""

from __future__ import annotations

import importlib.util
import os
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


def test_launch_file_loads():
    launch = pytest.importorskip("launch", reason="the ROS 2 launch library is not installed")
    if not hasattr(launch, "LaunchDescription"):  # only the repository's launch/ folder
        pytest.skip("the ROS 2 launch library is not installed")
    pytest.importorskip("launch_ros", reason="the ROS 2 launch_ros library is not installed")
    from launch.actions import DeclareLaunchArgument
    from launch_ros.actions import Node

    from launch import LaunchDescription

    env_before = dict(os.environ)
    spec = importlib.util.spec_from_file_location("detector_launch", LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
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


def test_docs_list_every_parameter():
    from skeleton_perception.nodes import detector_node, sim_camera_node, skeleton_3d_node

    text = (ROOT / "docs" / "ros.md").read_text()
    for name in [
        *detector_node.PARAMETERS,
        *sim_camera_node.PARAMETERS,
        *skeleton_3d_node.PARAMETERS,
    ]:
        assert f"`{name}`" in text, name
