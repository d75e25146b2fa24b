"""Starts the skeleton detector, and optionally skeleton_3d, the simulated camera and RViz.

Examples:
    ros2 launch skeleton_perception detector.launch.py image:=/camera/color/image_raw \
        camera_info:=/camera/color/camera_info
    ros2 launch skeleton_perception detector.launch.py use_sim_camera:=true rviz:=true
    ros2 launch skeleton_perception detector.launch.py use_depth:=true \
        image:=/camera/color/image_raw camera_info:=/camera/color/camera_info \
        depth:=/camera/aligned_depth_to_color/image_raw target_frame:=base_link

Every node started here gets FASTDDS_BUILTIN_TRANSPORTS (default LARGE_DATA, or the
value already in the environment; override with fastdds_builtin_transports:=...), which
Fast DDS needs to move camera-size images reliably. Nothing else is changed: the launch
file has no side effects beyond the processes it starts.

A launch that cannot be carried out whole starts nothing: rviz:=true without the rviz2
package, or an argument that is not a boolean or a number where one is needed, is
refused with one message before the first node starts (launch stops at the first action
that fails, and does not stop the nodes it had started). Should a later action fail all
the same (this file included by another one), or launch be killed, the nodes stop on
their own when the launch process is gone.
"""

import os

from ament_index_python.packages import PackageNotFoundError, get_package_prefix
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
from launch.conditions import IfCondition
from launch.substitutions import EnvironmentVariable, LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription
from skeleton_perception.nodes.runner import PARENT_PID_VARIABLE

PACKAGE = "skeleton_perception"
BOOLEAN_ARGUMENTS = ("use_compressed", "use_sim_camera", "use_depth", "rviz")


def check_before_starting(context) -> list:
    """Refuses, before any node starts, what would stop the launch half-way.

    Args:
        context: the launch context (its launch configurations are the arguments).

    Returns:
        No actions (an ``OpaqueFunction`` body).

    Raises:
        RuntimeError: one message listing every problem; launch prints it and exits 1.
    """
    problems = []
    for name in BOOLEAN_ARGUMENTS:
        value = LaunchConfiguration(name).perform(context)
        if value.lower() not in ("true", "false", "1", "0"):  # what IfCondition accepts
            problems.append(f"{name}:={value} is not true or false")
    rate = LaunchConfiguration("sim_rate_hz").perform(context)
    try:
        float(rate)
    except ValueError:
        problems.append(f"sim_rate_hz:={rate} is not a number")
    if not problems and IfCondition(LaunchConfiguration("rviz")).evaluate(context):
        try:
            get_package_prefix("rviz2")
        except PackageNotFoundError:
            problems.append(
                "rviz:=true, but the rviz2 package is not installed (not found in "
                "AMENT_PREFIX_PATH): install it (apt install ros-$ROS_DISTRO-rviz2) or "
                "launch without rviz:=true"
            )
    if problems:
        raise RuntimeError("nothing was started: " + "; ".join(problems))
    return []


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare(PACKAGE)
    arg = LaunchConfiguration
    arguments = [
        DeclareLaunchArgument(
            "image",
            default_value="image",
            description="Input image topic (sensor_msgs/Image); with use_compressed:=true "
            "the detector subscribes <image>/compressed instead.",
        ),
        DeclareLaunchArgument(
            "camera_info",
            default_value="camera_info",
            description="CameraInfo topic of that camera (places the RViz markers).",
        ),
        DeclareLaunchArgument(
            "use_compressed",
            default_value="false",
            description="Subscribe the compressed transport (sensor_msgs/CompressedImage).",
        ),
        DeclareLaunchArgument(
            "model_path",
            default_value="",
            description="Model checkpoint (.pt); empty: the model shipped in the package.",
        ),
        DeclareLaunchArgument(
            "device", default_value="auto", description="auto, cpu, cuda or cuda:N."
        ),
        DeclareLaunchArgument(
            "params_file",
            default_value=PathJoinSubstitution([share, "config", "detector.yaml"]),
            description="Parameters YAML of the detector node.",
        ),
        DeclareLaunchArgument(
            "namespace", default_value="", description="Namespace of the started nodes."
        ),
        DeclareLaunchArgument(
            "use_sim_camera",
            default_value="false",
            description="Also start sim_camera (a simulated camera publishing on the image, "
            "camera_info and ground_truth topics).",
        ),
        DeclareLaunchArgument(
            "sim_family", default_value="cartpoles", description="Object family of sim_camera."
        ),
        DeclareLaunchArgument(
            "sim_rate_hz", default_value="20.0", description="Frame rate of sim_camera."
        ),
        DeclareLaunchArgument(
            "use_depth",
            default_value="false",
            description="Also start skeleton_3d: the skeletons in 3D from the aligned depth "
            "image (SkeletonGraph3D on skeleton_3d).",
        ),
        DeclareLaunchArgument(
            "depth",
            default_value="depth",
            description="Aligned depth image topic (16UC1 mm or 32FC1 m, aligned to image).",
        ),
        DeclareLaunchArgument(
            "target_frame",
            default_value="",
            description="Frame of the 3D joints (tf2); empty: the camera's optical frame.",
        ),
        DeclareLaunchArgument(
            "rviz",
            default_value="false",
            description="Also start RViz with rviz/skeleton.rviz (debug image and markers).",
        ),
        DeclareLaunchArgument(
            "fastdds_builtin_transports",
            default_value=EnvironmentVariable(
                "FASTDDS_BUILTIN_TRANSPORTS", default_value="LARGE_DATA"
            ),
            description="Fast DDS builtin transports for the started nodes (LARGE_DATA "
            "moves large images without loss; DEFAULT is Fast DDS's own default).",
        ),
    ]

    remappings = [("image", arg("image")), ("camera_info", arg("camera_info"))]
    # This process (launch) starts the nodes; each stops when it dies, even if it died
    # before the node could ask for that (skeleton_perception.nodes.runner.exit_with_parent).
    started_by = {PARENT_PID_VARIABLE: str(os.getpid())}
    detector = Node(
        package=PACKAGE,
        executable="detector",
        name="skeleton_detector",
        namespace=arg("namespace"),
        parameters=[
            arg("params_file"),
            {
                "model_path": ParameterValue(arg("model_path"), value_type=str),
                "device": ParameterValue(arg("device"), value_type=str),
                "use_compressed": ParameterValue(arg("use_compressed"), value_type=bool),
            },
        ],
        remappings=remappings,
        output="screen",
        emulate_tty=True,
        additional_env=started_by,
    )
    sim_camera = Node(
        package=PACKAGE,
        executable="sim_camera",
        name="sim_camera",
        namespace=arg("namespace"),
        parameters=[
            {
                "family": ParameterValue(arg("sim_family"), value_type=str),
                "rate_hz": ParameterValue(arg("sim_rate_hz"), value_type=float),
            }
        ],
        remappings=[*remappings, ("depth", arg("depth"))],
        output="screen",
        emulate_tty=True,
        additional_env=started_by,
        condition=IfCondition(arg("use_sim_camera")),
    )
    skeleton_3d = Node(
        package=PACKAGE,
        executable="skeleton_3d",
        name="skeleton_3d",
        namespace=arg("namespace"),
        parameters=[{"target_frame": ParameterValue(arg("target_frame"), value_type=str)}],
        remappings=[*remappings, ("depth", arg("depth"))],
        output="screen",
        emulate_tty=True,
        additional_env=started_by,
        condition=IfCondition(arg("use_depth")),
    )
    rviz = Node(
        package="rviz2",
        executable="rviz2",
        name="rviz2",
        arguments=["-d", PathJoinSubstitution([share, "rviz", "skeleton.rviz"])],
        output="screen",
        condition=IfCondition(arg("rviz")),
    )
    return LaunchDescription(
        [
            *arguments,
            SetEnvironmentVariable("FASTDDS_BUILTIN_TRANSPORTS", arg("fastdds_builtin_transports")),
            OpaqueFunction(function=check_before_starting),
            detector,
            sim_camera,
            skeleton_3d,
            rviz,
        ]
    )
