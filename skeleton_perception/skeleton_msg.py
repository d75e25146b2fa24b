"""The one mapping between ``SkeletonGraph`` messages and :class:`Skeleton` (no ROS import).

rclpy's generated message classes and those of a ``rosbags`` typestore have the same field
names, so reading a message is plain attribute access and works on both. Building one needs
the classes: :class:`GraphTypes` names them (``skeleton_perception.nodes.conversions``
holds rclpy's, ``skeleton_perception.training.bags.writer.graph_types`` a typestore's).

A ``SkeletonGraph`` lists joints by id and links as pairs of joint ids; a :class:`Skeleton`
keeps the ids in ``joint_ids`` and its links as row indices.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from skeleton_perception.skeleton import Skeleton

NS_PER_S = 1_000_000_000


@dataclass(frozen=True)
class GraphTypes:
    """The message classes (or factories taking their fields as keywords) of a SkeletonGraph.

    Attributes:
        graph: ``skeleton_perception/msg/SkeletonGraph``.
        joint: ``skeleton_perception/msg/SkeletonJoint``.
        link: ``skeleton_perception/msg/SkeletonLink``.
    """

    graph: Callable[..., Any]
    joint: Callable[..., Any]
    link: Callable[..., Any]


def skeleton_to_msg(skeleton: Skeleton, types: GraphTypes, header: Any = None) -> Any:
    """Builds a SkeletonGraph from a Skeleton (links are written as joint ids, a < b).

    Args:
        skeleton: the skeleton.
        types: the message classes to build with.
        header: a ``std_msgs/Header`` of the same message family (None: the class's
            default, which rclpy has and a rosbags typestore does not).
    """
    width, height = skeleton.image_size
    ids = np.asarray(skeleton.joint_ids, np.int64).reshape(-1)
    joints = np.asarray(skeleton.joints, np.float64).reshape(-1, 2)
    scores = np.asarray(skeleton.joint_scores, np.float64).reshape(-1)
    link_ids = np.sort(np.asarray(skeleton.link_ids, np.int64).reshape(-1, 2), axis=1)
    link_scores = np.asarray(skeleton.link_scores, np.float64).reshape(-1)
    fields = {} if header is None else {"header": header}
    return types.graph(
        **fields,
        image_width=int(width),
        image_height=int(height),
        joints=[
            types.joint(id=int(i), x=float(x), y=float(y), score=float(s))
            for i, (x, y), s in zip(ids.tolist(), joints.tolist(), scores.tolist(), strict=True)
        ],
        links=[
            types.link(joint_a=int(a), joint_b=int(b), score=float(s))
            for (a, b), s in zip(link_ids.tolist(), link_scores.tolist(), strict=True)
        ],
    )


def msg_to_skeleton(msg: Any) -> Skeleton:
    """Builds a Skeleton from a SkeletonGraph (rclpy or rosbags).

    Raises:
        ValueError: a link names a joint id that is not in ``msg.joints``.
    """
    ids = np.array([j.id for j in msg.joints], np.int64)
    row_of = {int(i): r for r, i in enumerate(ids.tolist())}
    links = np.zeros((len(msg.links), 2), np.int64)
    for k, link in enumerate(msg.links):
        try:
            links[k] = (row_of[link.joint_a], row_of[link.joint_b])
        except KeyError as err:
            raise ValueError(
                f"SkeletonGraph link {k} ({link.joint_a}, {link.joint_b}) names joint id "
                f"{err.args[0]}, which is not among its joints"
            ) from None
    return Skeleton(
        joints=np.array([(j.x, j.y) for j in msg.joints], np.float32).reshape(-1, 2),
        joint_ids=ids,
        joint_scores=np.array([j.score for j in msg.joints], np.float32),
        links=links,
        link_scores=np.array([lk.score for lk in msg.links], np.float32),
        image_size=(int(msg.image_width), int(msg.image_height)),
    )


def ground_truth_skeleton(
    joints: np.ndarray,
    visible: np.ndarray,
    adjacency: np.ndarray,
    image_size: tuple[int, int],
) -> Skeleton:
    """The ground truth of a simulated frame as a Skeleton (what ``ground_truth`` publishes).

    Joint ids are the ground-truth joint indices; only visible joints are listed, links
    join two visible joints of the adjacency matrix; every score is 1.

    Args:
        joints: (J, 2) pixel xy.
        visible: (J,) bool.
        adjacency: (J, J) bool, symmetric.
        image_size: (width, height) of the image.
    """
    joints = np.asarray(joints, np.float32).reshape(-1, 2)
    visible = np.asarray(visible, bool).reshape(-1)
    keep = np.flatnonzero(visible)
    adj = np.asarray(adjacency, bool)[np.ix_(keep, keep)]
    a, b = np.nonzero(np.triu(adj, k=1))
    return Skeleton(
        joints=joints[keep],
        joint_ids=keep.astype(np.int64),
        joint_scores=np.ones(len(keep), np.float32),
        links=np.stack([a, b], axis=1).astype(np.int64),
        link_scores=np.ones(len(a), np.float32),
        image_size=(int(image_size[0]), int(image_size[1])),
    )


def stamp_to_ns(stamp: Any) -> int:
    """Converts a ``builtin_interfaces/Time`` (rclpy or rosbags) to integer nanoseconds."""
    return int(stamp.sec) * NS_PER_S + int(stamp.nanosec)
