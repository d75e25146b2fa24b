"""The skeleton_3d node with real rclpy publishers and subscribers.

Hand-made depth images (16UC1 and 32FC1), camera_info and skeletons go over real topics;
the 3D joints that come back are checked against values computed by hand.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from rclpy.exceptions import InvalidParameterValueException  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from ros_helpers import wait_for  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402
from skeleton_perception.msg import (  # noqa: E402
    SkeletonGraph,
    SkeletonGraph3D,
    SkeletonJoint,
    SkeletonLink,
)
from visualization_msgs.msg import Marker, MarkerArray  # noqa: E402

from skeleton_perception.nodes.conversions import (  # noqa: E402
    make_camera_info,
    ns_to_stamp,
    numpy_to_image,
)
from skeleton_perception.nodes.skeleton_3d_node import Skeleton3DNode  # noqa: E402

pytestmark = pytest.mark.ros

W, H = 16, 12
FX, FY, CX, CY = 100.0, 50.0, 7.5, 5.5
FRAME = "cam_optical"


def skeleton_msg(stamp_ns: int, pixels, width=W, height=H) -> SkeletonGraph:
    msg = SkeletonGraph(image_width=width, image_height=height)
    msg.header.stamp = ns_to_stamp(stamp_ns)
    msg.header.frame_id = FRAME
    msg.joints = [
        SkeletonJoint(id=10 + i, x=float(x), y=float(y), score=0.5)
        for i, (x, y) in enumerate(pixels)
    ]
    msg.links = [
        SkeletonLink(joint_a=10 + i, joint_b=11 + i, score=0.9) for i in range(len(pixels) - 1)
    ]
    return msg


def depth_msg(stamp_ns: int, depth: np.ndarray, encoding: str):
    msg = numpy_to_image(depth, encoding)
    msg.header.stamp = ns_to_stamp(stamp_ns)
    msg.header.frame_id = FRAME
    return msg


class Rig:
    """A skeleton_3d node and a peer node that feeds it and collects what it publishes."""

    def __init__(self, context, *params: str):
        args = ["--ros-args", "-p", "diagnostics_period:=0.2"]
        for p in params:
            args += ["-p", p]
        self.node = Skeleton3DNode(context=context, cli_args=args)
        self.peer = rclpy.create_node("skeleton_3d_test_peer", context=context)
        self.out: list[SkeletonGraph3D] = []
        self.markers: list[MarkerArray] = []
        self.diagnostics: list[DiagnosticArray] = []
        self.peer.create_subscription(SkeletonGraph3D, "skeleton_3d", self.out.append, 10)
        self.peer.create_subscription(MarkerArray, "skeleton_3d_markers", self.markers.append, 10)
        self.peer.create_subscription(DiagnosticArray, "/diagnostics", self.diagnostics.append, 10)
        self.skeleton_pub = self.peer.create_publisher(SkeletonGraph, "skeleton", 10)
        self.depth_pub = self.peer.create_publisher(Image, "depth", 10)
        self.info_pub = self.peer.create_publisher(CameraInfo, "camera_info", 10)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self.executor.add_node(self.peer)
        pubs = (self.skeleton_pub, self.depth_pub, self.info_pub)
        assert wait_for(
            lambda: (
                all(p.get_subscription_count() > 0 for p in pubs)
                and self.node.markers_pub.get_subscription_count() > 0
            ),
            self.executor,
        )

    def send_info(self, info: CameraInfo | None = None) -> None:
        info = info or make_camera_info(W, H, (FX, FY, CX, CY))
        self.info_pub.publish(info)
        assert wait_for(lambda: self.node._camera_info == info, self.executor)

    def send(self, skeleton, depth, expect_output=True):
        before = len(self.out)
        self.depth_pub.publish(depth)
        self.skeleton_pub.publish(skeleton)
        if expect_output:
            assert wait_for(lambda: len(self.out) > before, self.executor), self.node.problems
            return self.out[-1]
        return None

    def expect_problem(self, kind: str, skeleton, depth) -> None:
        before = self.node.problems[kind]
        self.depth_pub.publish(depth)
        self.skeleton_pub.publish(skeleton)
        assert wait_for(lambda: self.node.problems[kind] > before, self.executor), (
            self.node.problems
        )

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        self.peer.destroy_node()


@pytest.fixture
def rig(context):
    made = []

    def make(*params):
        made.append(Rig(context, *params))
        return made[-1]

    yield make
    for r in made:
        r.close()


def hand(u, v, z):
    return ((u - CX) / FX * z, (v - CY) / FY * z, z)


def test_16uc1_deprojection_sync_and_markers(rig):
    r = rig("depth_window:=3")
    r.send_info()
    depth = np.full((H, W), 1200, np.uint16)  # 1.2 m
    depth[0:3, 13:16] = [[0, 0, 0], [0, 0, 800], [0, 0, 0]]  # one valid pixel near (14, 1)
    depth[8:11, 2:5] = 0  # nothing around (3, 9)
    pixels = [(7.5, 5.5), (11.0, 2.0), (14.0, 1.0), (3.0, 9.0)]
    out = r.send(skeleton_msg(1_000_000_000, pixels), depth_msg(1_000_000_000, depth, "16UC1"))
    assert out.header.frame_id == FRAME and out.camera_frame_id == FRAME
    assert out.header.stamp.sec == 1 and (out.image_width, out.image_height) == (W, H)
    assert [j.id for j in out.joints] == [10, 11, 12, 13]
    assert [j.valid for j in out.joints] == [True, True, True, False]
    got = [(j.position.x, j.position.y, j.position.z) for j in out.joints[:3]]
    np.testing.assert_allclose(got, [hand(7.5, 5.5, 1.2), hand(11, 2, 1.2), hand(14, 1, 0.8)])
    assert [j.depth for j in out.joints[:3]] == pytest.approx([1.2, 1.2, 0.8])
    bad = out.joints[3]
    assert math.isnan(bad.position.x) and math.isnan(bad.position.z) and math.isnan(bad.depth)
    assert (bad.x, bad.y) == (3.0, 9.0) and len(out.links) == 3
    # Markers: the three valid joints, and the two links between valid joints.
    assert wait_for(lambda: r.markers, r.executor)
    links, joints = r.markers[-1].markers
    assert joints.type == Marker.SPHERE_LIST and len(joints.points) == 3
    assert links.type == Marker.LINE_LIST and len(links.points) == 4
    assert joints.points[2].z == pytest.approx(0.8)


def test_32fc1_near_stamps_and_invalid_depth(rig):
    r = rig("sync_tolerance:=0.01", "max_depth:=5.0")
    r.send_info()
    depth = np.full((H, W), 2.5, np.float32)
    depth[:, 8:] = np.nan
    depth[:, 12:] = 7.0  # beyond max_depth
    pixels = [(2.0, 3.0), (10.0, 3.0), (14.0, 3.0)]  # 5x5 windows: 2.5 m, NaN + 7 m, 7 m
    # Depth stamped 4 ms after the skeleton (within the tolerance): paired.
    out = r.send(skeleton_msg(2_000_000_000, pixels), depth_msg(2_004_000_000, depth, "32FC1"))
    assert [j.valid for j in out.joints] == [True, False, False]
    np.testing.assert_allclose(
        [out.joints[0].position.x, out.joints[0].position.y, out.joints[0].position.z],
        hand(2.0, 3.0, 2.5),
        rtol=1e-6,
    )
    # A skeleton whose depth is 30 ms away is not paired (counted as unmatched).
    r.expect_problem(
        "unmatched",
        skeleton_msg(3_000_000_000, pixels),
        depth_msg(3_030_000_000, depth, "32FC1"),
    )


def test_static_transform_into_target_frame_and_a_missing_one(rig):
    # The camera 1 m above the base, looking along the base's x axis (optical z -> base x,
    # optical x -> base -y, optical y -> base -z).
    q = (-0.5, 0.5, -0.5, 0.5)
    r = rig(
        "target_frame:=base_link",
        f"static_transform:=[0.0, 0.0, 1.0, {q[0]}, {q[1]}, {q[2]}, {q[3]}]",
        f"static_transform_frame:={FRAME}",
    )
    r.send_info()
    depth = np.full((H, W), 2.0, np.float32)
    out = r.send(
        skeleton_msg(4_000_000_000, [(12.5, 0.5)]), depth_msg(4_000_000_000, depth, "32FC1")
    )
    x, y, z = hand(12.5, 0.5, 2.0)  # (0.1, -0.2, 2.0) in the optical frame
    assert out.header.frame_id == "base_link" and out.camera_frame_id == FRAME
    p = out.joints[0].position
    np.testing.assert_allclose([p.x, p.y, p.z], [z, -x, 1.0 - y], atol=1e-9)
    # Another camera frame has no transform: counted, skipped, the node goes on.
    other = skeleton_msg(5_000_000_000, [(12.5, 0.5)])
    other.header.frame_id = "other_camera"
    r.expect_problem("transform_missing", other, depth_msg(5_000_000_000, depth, "32FC1"))
    assert r.send(
        skeleton_msg(6_000_000_000, [(1.0, 1.0)]), depth_msg(6_000_000_000, depth, "32FC1")
    )


def test_tf2_transform_present_and_missing(rig, context):
    tf2_ros = pytest.importorskip("tf2_ros", reason="tf2_ros is not installed (no PyPI wheel)")
    from geometry_msgs.msg import TransformStamped

    r = rig("target_frame:=world")
    broadcaster = tf2_ros.StaticTransformBroadcaster(r.peer)
    tf = TransformStamped()
    tf.header.frame_id, tf.child_frame_id = "world", FRAME
    tf.transform.translation.x = 1.0
    tf.transform.rotation.w = 1.0
    broadcaster.sendTransform(tf)
    r.send_info()
    depth = np.full((H, W), 2.0, np.float32)
    skeleton = skeleton_msg(7_000_000_000, [(12.5, 0.5)])
    assert wait_for(
        lambda: r.node._tf_buffer.can_transform("world", FRAME, rclpy.time.Time()), r.executor
    )
    out = r.send(skeleton, depth_msg(7_000_000_000, depth, "32FC1"))
    p = out.joints[0].position
    np.testing.assert_allclose([p.x, p.y, p.z], np.add(hand(12.5, 0.5, 2.0), [1.0, 0, 0]))
    other = skeleton_msg(8_000_000_000, [(12.5, 0.5)])
    other.header.frame_id = "unknown_frame"
    r.expect_problem("transform_missing", other, depth_msg(8_000_000_000, depth, "32FC1"))


def test_target_frame_without_a_transform_source_is_refused_at_start(context):
    try:
        import tf2_ros  # noqa: F401
    except ImportError:
        with pytest.raises(RuntimeError, match="needs tf2_ros"):
            Skeleton3DNode(context=context, cli_args=["--ros-args", "-p", "target_frame:=map"])
    else:
        pytest.skip("tf2_ros is installed: target_frame uses it")


def test_bad_inputs_are_counted_and_the_node_keeps_running(rig):
    r = rig("sync_tolerance:=0.01")
    depth = np.full((H, W), 1.0, np.float32)
    pixels = [(3.0, 3.0), (5.0, 4.0)]
    clock = [10_000_000_000]

    def pair(d=depth, encoding="32FC1", size=(W, H)):
        clock[0] += 100_000_000  # 10 Hz
        t = clock[0]
        return skeleton_msg(t, pixels, *size), depth_msg(t, d, encoding)

    # No camera_info yet.
    r.expect_problem("camera_info_missing", *pair())
    r.send_info()
    # A link to a joint the skeleton does not list.
    skeleton, d = pair()
    skeleton.links[0].joint_b = 99
    r.expect_problem("skeleton_malformed", skeleton, d)
    # Depth of another size than the colour image.
    r.expect_problem("depth_size_mismatch", *pair(size=(2 * W, 2 * H)))
    # Wrong encodings: colour, and mono8.
    r.expect_problem("depth_malformed", *pair(np.zeros((H, W, 3), np.uint8), "rgb8"))
    r.expect_problem("depth_malformed", *pair(np.zeros((H, W), np.uint8), "mono8"))
    # Stamps that never match: every depth image 0.5 s after its skeleton.
    before = r.node.problems["unmatched"]
    for _ in range(3):
        skeleton, d = pair()
        d.header.stamp.sec += 1  # the depth image 1 s after its skeleton
        r.send(skeleton, d, expect_output=False)
    assert wait_for(lambda: r.node.problems["unmatched"] >= before + 2, r.executor)
    clock[0] += 2_000_000_000  # past those depth images
    # All-zero depth: published, every joint invalid, counted.
    zero = np.zeros((H, W), np.uint16)
    before = len(r.out)
    r.expect_problem("depth_empty", *pair(zero, "16UC1"))
    assert wait_for(lambda: len(r.out) > before, r.executor)
    assert not any(j.valid for j in r.out[-1].joints)
    # camera_info with an unsupported distortion model.
    info = make_camera_info(W, H, (FX, FY, CX, CY))
    info.distortion_model, info.d = "fisheye_custom", [0.1, 0.0, 0.0, 0.0]
    r.send_info(info)
    r.expect_problem("camera_info_invalid", *pair())
    # Still running: a good pair is published; diagnostics report the counts as a warning.
    r.send_info()
    out = r.send(*pair())
    assert all(j.valid for j in out.joints)

    def latest() -> dict[str, str]:
        return {kv.key: kv.value for kv in r.diagnostics[-1].status[0].values}

    # The newest diagnostics, once they include the last pair (older ones may be queued).
    assert wait_for(lambda: r.diagnostics and int(latest()["skeletons_published"]) >= 2, r.executor)
    values = latest()
    assert values["depth_empty"] == "1"
    kinds = ("camera_info_missing", "skeleton_malformed", "depth_size_mismatch", "depth_malformed")
    for kind in (*kinds, "unmatched"):
        assert int(values[kind]) >= 1, kind


@pytest.mark.parametrize(
    ("arg", "reason"),
    [("depth_window:=4", "not a valid step"), ("static_transform:=[1.0, 2.0]", "7 numbers")],
)
def test_bad_parameters_are_refused(context, arg, reason):
    with pytest.raises(InvalidParameterValueException, match=reason):
        Skeleton3DNode(context=context, cli_args=["--ros-args", "-p", arg])


def test_depth_range_must_be_ordered(context):
    with pytest.raises(RuntimeError, match="min_depth < max_depth"):
        Skeleton3DNode(
            context=context, cli_args=["--ros-args", "-p", "min_depth:=5.0", "-p", "max_depth:=1.0"]
        )


def test_end_to_end_with_the_simulated_camera(context):
    """sim_camera's ground-truth pixels through skeleton_3d land on its ground-truth rays."""
    from skeleton_perception.nodes.sim_camera_node import SimCameraNode
    from skeleton_perception.skeleton_msg import stamp_to_ns

    camera = SimCameraNode(
        context=context,
        cli_args=["--ros-args", "-p", "width:=160", "-p", "height:=120", "-p", "rate_hz:=30.0"],
    )
    node = Skeleton3DNode(context=context, cli_args=["--ros-args", "-r", "skeleton:=ground_truth"])
    peer = rclpy.create_node("skeleton_3d_e2e_peer", context=context)
    out, truth = [], {}
    peer.create_subscription(SkeletonGraph3D, "skeleton_3d", out.append, 10)
    peer.create_subscription(
        SkeletonGraph3D,
        "ground_truth_3d",
        lambda m: truth.update({stamp_to_ns(m.header.stamp): m}),
        10,
    )
    executor = SingleThreadedExecutor(context=context)
    for n in (camera, node, peer):
        executor.add_node(n)
    try:
        assert wait_for(
            lambda: sum(stamp_to_ns(m.header.stamp) in truth for m in out) >= 5, executor, 30
        ), node.problems
        pairs = [
            (m, truth[stamp_to_ns(m.header.stamp)])
            for m in out
            if stamp_to_ns(m.header.stamp) in truth
        ]
        valid = 0
        for got, want in pairs:
            assert [j.id for j in got.joints] == [j.id for j in want.joints]
            for a, b in zip(got.joints, want.joints, strict=True):
                if not a.valid:
                    continue
                valid += 1
                pa = np.array([a.position.x, a.position.y, a.position.z])
                pb = np.array([b.position.x, b.position.y, b.position.z])
                # Same ray (the same pixel), the surface in front of the joint centre.
                assert np.linalg.norm(pa / pa[2] - pb / pb[2]) < 1e-3
                assert pb[2] - 0.5 < pa[2] <= pb[2] + 0.01
        assert valid >= 5
    finally:
        executor.shutdown()
        for n in (camera, node, peer):
            n.destroy_node()
