"""The simulated camera node with real MuJoCo renders and real rclpy subscribers."""

from __future__ import annotations

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")
from rclpy.exceptions import InvalidParameterValueException  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from ros_helpers import wait_for  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402
from skeleton_perception.msg import SkeletonGraph  # noqa: E402

from skeleton_perception.nodes.conversions import image_to_rgb  # noqa: E402
from skeleton_perception.nodes.sim_camera_node import SimCameraNode  # noqa: E402
from skeleton_perception.skeleton_msg import stamp_to_ns  # noqa: E402

pytestmark = pytest.mark.ros

BEST_EFFORT = QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT)


def test_publishes_image_camera_info_and_ground_truth(context):
    peer = rclpy.create_node("sim_camera_test_peer", context=context)
    got: dict[str, list] = {"image": [], "camera_info": [], "ground_truth": []}
    # Subscribe first: the camera publishes from its first frame on.
    peer.create_subscription(Image, "image", got["image"].append, BEST_EFFORT)
    peer.create_subscription(CameraInfo, "camera_info", got["camera_info"].append, BEST_EFFORT)
    peer.create_subscription(SkeletonGraph, "ground_truth", got["ground_truth"].append, 10)
    node = SimCameraNode(
        context=context,
        cli_args=[
            "--ros-args",
            "-p", "width:=96", "-p", "height:=64", "-p", "rate_hz:=50.0",
            "-p", "frame_id:=sim_optical", "-p", "encoding:=bgr8", "-p", "seed:=3",
        ],
    )  # fmt: skip
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    executor.add_node(peer)
    try:
        assert wait_for(lambda: all(len(v) >= 3 for v in got.values()), executor, 30)
        image = got["image"][-1]
        assert (image.width, image.height, image.encoding) == (96, 64, "bgr8")
        assert image.header.frame_id == "sim_optical"
        assert image_to_rgb(image).std() > 0  # a real render, not a blank frame

        info = got["camera_info"][-1]
        assert (info.width, info.height) == (96, 64)
        assert (
            info.k[0] > 0 and info.k[2] == pytest.approx(47.5) and info.k[5] == pytest.approx(31.5)
        )
        assert node.intrinsics == pytest.approx((info.k[0], info.k[4], info.k[2], info.k[5]))

        # One header per frame: every ground truth has an image with the same stamp.
        image_stamps = {stamp_to_ns(m.header.stamp) for m in got["image"]}
        truth = got["ground_truth"]
        assert any(stamp_to_ns(t.header.stamp) in image_stamps for t in truth)
        gt = truth[-1]
        assert (gt.image_width, gt.image_height) == (96, 64)
        assert gt.header.frame_id == "sim_optical"
        assert gt.joints and gt.links
        ids = {j.id for j in gt.joints}
        assert all(lk.joint_a in ids and lk.joint_b in ids for lk in gt.links)
        assert all(lk.joint_a < lk.joint_b and lk.score == 1.0 for lk in gt.links)
        xy = np.array([(j.x, j.y) for j in gt.joints])
        assert (xy > -1).all() and (xy[:, 0] < 97).all() and (xy[:, 1] < 65).all()
    finally:
        executor.shutdown()
        node.destroy_node()
        peer.destroy_node()


def test_max_frames_stops_publishing(context):
    node = SimCameraNode(
        context=context,
        parameter_overrides=[
            rclpy.parameter.Parameter("max_frames", value=3),
            rclpy.parameter.Parameter("rate_hz", value=100.0),
            rclpy.parameter.Parameter("width", value=32),
            rclpy.parameter.Parameter("height", value=32),
        ],
    )
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    try:
        assert wait_for(lambda: node.done, executor, 30)
        executor.spin_once(timeout_sec=0.1)
        assert node.frames_published == 3
    finally:
        executor.shutdown()
        node.destroy_node()


@pytest.mark.parametrize(
    ("arg", "reason"),
    [
        ("encoding:=yuv422", "encoding must be rgb8 or bgr8"),
        ("depth_encoding:=mono16", "depth_encoding must be 32FC1, 16UC1 or none"),
        ("width:=5", "out of range"),
        ("rate_hz:=0.0", "out of range"),
        ("frame_id:=''", "must not be empty"),
    ],
)
def test_bad_parameters_are_refused(context, arg, reason):
    with pytest.raises(InvalidParameterValueException, match=reason):
        SimCameraNode(context=context, cli_args=["--ros-args", "-p", arg])


def test_unknown_family_fails_at_start(context):
    with pytest.raises(RuntimeError, match="no_such_family"):
        SimCameraNode(context=context, cli_args=["--ros-args", "-p", "family:=no_such_family"])


def test_aligned_depth_and_ground_truth_3d(context):
    from skeleton_perception.msg import SkeletonGraph3D

    from skeleton_perception.nodes.conversions import image_to_numpy

    peer = rclpy.create_node("sim_camera_depth_peer", context=context)
    got: dict[str, list] = {"depth": [], "info": [], "truth": []}
    peer.create_subscription(Image, "depth", got["depth"].append, BEST_EFFORT)
    peer.create_subscription(CameraInfo, "camera_info", got["info"].append, BEST_EFFORT)
    peer.create_subscription(SkeletonGraph3D, "ground_truth_3d", got["truth"].append, 10)
    node = SimCameraNode(
        context=context,
        cli_args=["--ros-args", "-p", "width:=96", "-p", "height:=64", "-p", "rate_hz:=50.0",
                  "-p", "depth_encoding:=16UC1", "-p", "seed:=1"],
    )  # fmt: skip
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    executor.add_node(peer)
    try:
        assert wait_for(lambda: all(len(v) >= 3 for v in got.values()), executor, 30)
        depths = {stamp_to_ns(m.header.stamp): m for m in got["depth"]}
        truth = next(t for t in got["truth"] if stamp_to_ns(t.header.stamp) in depths)
        depth_msg = depths[stamp_to_ns(truth.header.stamp)]
        assert (depth_msg.width, depth_msg.height, depth_msg.encoding) == (96, 64, "16UC1")
        assert truth.header.frame_id == depth_msg.header.frame_id == "camera_optical_frame"
        depth = image_to_numpy(depth_msg)  # millimetres, 0 on the background
        assert (depth == 0).any() and (depth > 0).any()
        k = got["info"][-1].k
        for joint in truth.joints:
            p = joint.position
            assert joint.valid and joint.depth == p.z
            # The 3D joint projects onto its pixel with camera_info's intrinsics...
            assert k[0] * p.x / p.z + k[2] == pytest.approx(joint.x, abs=1e-3)
            assert k[4] * p.y / p.z + k[5] == pytest.approx(joint.y, abs=1e-3)
            # ... and the depth camera sees a surface at most a body's width before it.
            seen = depth[round(joint.y), round(joint.x)] / 1000.0
            assert p.z - 0.5 < seen <= p.z + 0.01
    finally:
        executor.shutdown()
        node.destroy_node()
        peer.destroy_node()


def test_heldout_appearance_publishes_its_episodes_camera(context):
    with pytest.raises(RuntimeError, match="no depth images with appearance 'heldout'"):
        SimCameraNode(context=context, cli_args=["--ros-args", "-p", "appearance:=heldout"])
    peer = rclpy.create_node("sim_camera_look_peer", context=context)
    infos: list = []
    peer.create_subscription(CameraInfo, "camera_info", infos.append, BEST_EFFORT)
    node = SimCameraNode(
        context=context,
        cli_args=["--ros-args", "-p", "width:=64", "-p", "height:=48", "-p", "rate_hz:=50.0",
                  "-p", "appearance:=heldout", "-p", "depth_encoding:=none"],
    )  # fmt: skip
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    executor.add_node(peer)
    try:
        assert wait_for(lambda: len(infos) >= 2, executor, 30)
        fovy = np.degrees(2 * np.arctan(24.0 / infos[-1].k[4]))
        assert 60.0 <= fovy <= 72.0  # the held-out camera, not the plain 45 degrees
    finally:
        executor.shutdown()
        node.destroy_node()
        peer.destroy_node()
