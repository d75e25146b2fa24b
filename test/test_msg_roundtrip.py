"""SkeletonGraph crosses a real DDS link between two processes unchanged."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

rclpy = pytest.importorskip("rclpy")
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402
from ros_helpers import make_graph, wait_for  # noqa: E402
from skeleton_perception.msg import SkeletonGraph  # noqa: E402

QOS = QoSProfile(
    depth=10, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE
)

PUBLISHER = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {test_dir!r})
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from ros_helpers import make_graph
    from skeleton_perception.msg import SkeletonGraph

    rclpy.init()
    node = rclpy.create_node("graph_publisher")
    qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    pub = node.create_publisher(SkeletonGraph, "skeleton_roundtrip", qos)
    msg = make_graph(30, 40)
    deadline = time.monotonic() + 60
    while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.05)
    # Publish until the subscriber (the test) goes away.
    while pub.get_subscription_count() > 0 and time.monotonic() < deadline:
        pub.publish(msg)
        rclpy.spin_once(node, timeout_sec=0.1)
    node.destroy_node()
    rclpy.shutdown()
    """
)


def test_graph_message_fields_and_defaults():
    msg = SkeletonGraph()
    assert msg.joints == [] and msg.links == []
    assert msg.image_width == 0 and msg.header.frame_id == ""
    graph = make_graph(30, 40)
    assert len(graph.joints) == 30 and len(graph.links) == 40
    assert graph != make_graph(30, 39)


def test_roundtrip_between_processes():
    proc = subprocess.Popen(
        [sys.executable, "-c", PUBLISHER.format(test_dir=str(Path(__file__).parent))],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    rclpy.init()
    try:
        node = rclpy.create_node("graph_subscriber")
        received: list[SkeletonGraph] = []
        node.create_subscription(SkeletonGraph, "skeleton_roundtrip", received.append, QOS)
        executor = rclpy.executors.SingleThreadedExecutor()
        executor.add_node(node)
        got = wait_for(lambda: len(received) >= 3, executor, timeout=60)
        out = b""
        if not got:
            proc.kill()
            out = proc.communicate()[0]
        assert got, f"no SkeletonGraph arrived from the publisher process: {out.decode()[-2000:]}"
        expected = make_graph(30, 40)
        assert received[0] == expected
        assert len(received[0].joints) == 30 and len(received[0].links) == 40
        assert received[0].header.stamp.nanosec == 123_456_789
        executor.shutdown()
        node.destroy_node()
    finally:
        rclpy.shutdown()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    assert proc.returncode == 0
