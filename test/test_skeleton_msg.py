"""The one Skeleton <-> SkeletonGraph mapping, on rclpy's classes and a rosbags typestore's."""

from __future__ import annotations

import numpy as np
import pytest
from skeleton_perception.training.bags.writer import graph_types, header, make_typestore

from skeleton_perception.skeleton import Skeleton
from skeleton_perception.skeleton_msg import (
    ground_truth_skeleton,
    msg_to_skeleton,
    skeleton_to_msg,
    stamp_to_ns,
)

STAMP_NS = 1_700_000_000_123_456_789


def _rclpy():
    from std_msgs.msg import Header

    from skeleton_perception.nodes.conversions import GRAPH_TYPES, ns_to_stamp

    return GRAPH_TYPES, Header(frame_id="camera_optical", stamp=ns_to_stamp(STAMP_NS)), None


def _rosbags():
    store = make_typestore()
    return graph_types(store), header(store, STAMP_NS, "camera_optical"), store


FAMILIES = {"rclpy": _rclpy, "rosbags": _rosbags}


def _skeleton() -> Skeleton:
    return Skeleton(
        joints=np.array([[1.5, 2.5], [10.0, 20.0], [30.0, 5.0]], np.float32),
        joint_ids=np.array([4, 9, 2], np.int64),
        joint_scores=np.array([0.9, 0.8, 0.7], np.float32),
        links=np.array([[0, 1], [0, 2]], np.int64),
        link_scores=np.array([0.95, 0.6], np.float32),
        image_size=(640, 480),
    )


@pytest.mark.parametrize("family", FAMILIES)
def test_skeleton_graph_roundtrip(family):
    types, head, store = FAMILIES[family]()
    sk = _skeleton()
    msg = skeleton_to_msg(sk, types, head)
    if store is not None:  # a rosbags message must also serialise and come back
        name = "skeleton_perception/msg/SkeletonGraph"
        msg = store.deserialize_cdr(store.serialize_cdr(msg, name), name)
    assert msg.header.frame_id == "camera_optical"
    assert stamp_to_ns(msg.header.stamp) == STAMP_NS
    assert (msg.image_width, msg.image_height) == (640, 480)
    assert [j.id for j in msg.joints] == [4, 9, 2]
    assert [(lk.joint_a, lk.joint_b) for lk in msg.links] == [(4, 9), (2, 4)]  # ids, a < b
    back = msg_to_skeleton(msg)
    np.testing.assert_allclose(back.joints, sk.joints)
    np.testing.assert_array_equal(back.joint_ids, sk.joint_ids)
    np.testing.assert_allclose(back.joint_scores, sk.joint_scores)
    np.testing.assert_allclose(back.link_scores, sk.link_scores)
    assert sorted(map(sorted, back.link_ids.tolist())) == sorted(map(sorted, sk.link_ids.tolist()))
    assert back.image_size == (640, 480)


@pytest.mark.parametrize("family", FAMILIES)
def test_empty_skeleton_and_bad_link(family):
    types, head, _ = FAMILIES[family]()
    msg = skeleton_to_msg(Skeleton.empty((32, 16)), types, head)
    assert list(msg.joints) == [] and list(msg.links) == []
    assert msg_to_skeleton(msg).num_joints == 0
    msg = skeleton_to_msg(_skeleton(), types, head)
    msg.links[0].joint_b = 7
    with pytest.raises(ValueError, match="joint id 7"):
        msg_to_skeleton(msg)


def test_rclpy_header_is_optional():
    types, _, _ = _rclpy()
    assert skeleton_to_msg(_skeleton(), types).header.frame_id == ""


def test_ground_truth_keeps_visible_joints_and_their_links():
    joints = np.array([[0, 0], [1, 1], [2, 2], [3, 3]], np.float32)
    visible = np.array([True, True, False, True])
    adj = np.zeros((4, 4), bool)
    for a, b in [(0, 1), (1, 2), (1, 3)]:
        adj[a, b] = adj[b, a] = True
    sk = ground_truth_skeleton(joints, visible, adj, (64, 48))
    assert sk.joint_ids.tolist() == [0, 1, 3]
    assert {tuple(p) for p in sk.link_ids.tolist()} == {(0, 1), (1, 3)}
    assert (sk.joint_scores == 1).all() and (sk.link_scores == 1).all()
    np.testing.assert_array_equal(sk.joints, joints[[0, 1, 3]])
    assert sk.image_size == (64, 48)
