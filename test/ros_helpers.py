"""Helpers for tests that use real ROS 2 publishers and subscribers."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(predicate: Callable[[], bool], executor, timeout: float = 20.0) -> bool:
    """Spins ``executor`` until ``predicate()`` is true or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        executor.spin_once(timeout_sec=0.05)
    return predicate()


def make_graph(num_joints: int = 30, num_links: int = 40):
    """A deterministic SkeletonGraph with ``num_joints`` joints and ``num_links`` links."""
    from skeleton_perception.msg import SkeletonGraph, SkeletonJoint, SkeletonLink

    msg = SkeletonGraph()
    msg.header.stamp.sec = 1_700_000_000
    msg.header.stamp.nanosec = 123_456_789
    msg.header.frame_id = "camera_optical_frame"
    msg.image_width = 640
    msg.image_height = 480
    msg.joints = [
        SkeletonJoint(id=3 * i + 1, x=10.5 + 19.25 * i, y=470.0 - 13.125 * i, score=(i + 1) / 31)
        for i in range(num_joints)
    ]
    msg.links = [
        SkeletonLink(
            joint_a=msg.joints[i % num_joints].id,
            joint_b=msg.joints[(7 * i + 1) % num_joints].id,
            score=0.5 + i / (2 * num_links),
        )
        for i in range(num_links)
    ]
    return msg
