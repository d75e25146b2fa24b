"""RViz markers of skeletons (``visualization_msgs/MarkerArray`` construction, no rclpy).

Joints are coloured by :func:`skeleton_perception.drawing.id_colors`, the debug image's
colours, so a physical joint keeps its colour in the image and in RViz. This module imports
the ROS message packages, so it lives beside the nodes.
"""

from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Point
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from skeleton_perception.deprojection import default_intrinsics, pixels_to_plane
from skeleton_perception.drawing import id_colors
from skeleton_perception.skeleton import Skeleton

# Marker ids inside the namespace.
LINKS_MARKER_ID = 0
JOINTS_MARKER_ID = 1


def skeleton_markers(
    skeleton: Skeleton,
    header: Header,
    intrinsics: tuple[float, float, float, float] | None,
    *,
    depth: float = 1.0,
    namespace: str = "skeleton",
    lifetime_s: float = 0.5,
    joint_px: float = 8.0,
    link_px: float = 3.0,
) -> MarkerArray:
    """Builds the RViz markers of a skeleton on a plane ``depth`` metres from the camera.

    Two markers in ``header.frame_id`` (the camera's optical frame) with the source stamp:
    id 0 a LINE_LIST of the links, id 1 a SPHERE_LIST of the joints, coloured by joint
    id. A marker with nothing to show is sent as a DELETE, so stale markers vanish at
    once rather than at the end of their lifetime.

    Args:
        skeleton: the prediction, in the pixels of the image ``intrinsics`` describe.
        header: stamp and frame of the source image.
        intrinsics: (fx, fy, cx, cy); None: :func:`~skeleton_perception.deprojection.
            default_intrinsics` of the image size.
        depth: distance of the drawing plane in metres.
        namespace: marker namespace.
        lifetime_s: marker lifetime in seconds (0: forever).
        joint_px: sphere diameter, in pixels at that depth.
        link_px: line width, in pixels at that depth.
    """
    width, height = skeleton.image_size
    if intrinsics is None:
        intrinsics = default_intrinsics(max(int(width), 1), max(int(height), 1))
    metres_per_px = depth / intrinsics[0]
    return skeleton_3d_markers(
        pixels_to_plane(skeleton.joints, intrinsics, depth),
        np.ones(skeleton.num_joints, bool),
        skeleton.joint_ids,
        skeleton.links,
        header,
        namespace=namespace,
        lifetime_s=lifetime_s,
        joint_diameter=joint_px * metres_per_px,
        link_width=link_px * metres_per_px,
    )


def skeleton_3d_markers(
    points: np.ndarray,
    valid: np.ndarray,
    ids: np.ndarray,
    links: np.ndarray,
    header: Header,
    *,
    namespace: str = "skeleton_3d",
    lifetime_s: float = 0.5,
    joint_diameter: float = 0.04,
    link_width: float = 0.015,
) -> MarkerArray:
    """Builds the RViz markers of a skeleton placed in 3D.

    Two markers (id 0 a LINE_LIST of the links, id 1 a SPHERE_LIST of the joints coloured
    by joint id) at the joints' positions in ``header.frame_id``. Invalid joints (no
    depth) and their links are left out; a marker with nothing to show is sent as a
    DELETE.

    Args:
        points: (K, 3) metres in ``header.frame_id``.
        valid: (K,) bool.
        ids: (K,) joint ids (colours).
        links: (E, 2) row indices into ``points``.
        header: stamp and frame of the points.
        namespace: marker namespace.
        lifetime_s: marker lifetime in seconds (0: forever).
        joint_diameter: sphere diameter in metres.
        link_width: line width in metres.
    """
    valid = np.asarray(valid, bool).reshape(-1)
    lifetime = Duration(sec=int(lifetime_s), nanosec=round((lifetime_s % 1.0) * 1e9))
    markers = []
    for marker_id, marker_type in (
        (LINKS_MARKER_ID, Marker.LINE_LIST),
        (JOINTS_MARKER_ID, Marker.SPHERE_LIST),
    ):
        m = Marker(header=header, ns=namespace, id=marker_id, type=marker_type)
        m.lifetime = lifetime
        m.pose.orientation.w = 1.0
        m.color = ColorRGBA(r=1.0, g=1.0, b=1.0, a=1.0)
        m.action = Marker.DELETE
        markers.append(m)
    link_marker, joint_marker = markers
    if not valid.any():
        return MarkerArray(markers=markers)
    pts = [Point(x=float(x), y=float(y), z=float(z)) for x, y, z in np.asarray(points).tolist()]
    colors = [
        ColorRGBA(r=float(r), g=float(g), b=float(b), a=1.0) for r, g, b in id_colors(ids).tolist()
    ]
    for a, b in np.asarray(links, np.int64).reshape(-1, 2).tolist():
        if valid[a] and valid[b]:
            link_marker.points += [pts[a], pts[b]]
            link_marker.colors += [colors[a], colors[b]]
    if link_marker.points:
        link_marker.action = Marker.ADD
        link_marker.scale.x = float(link_width)
    joint_marker.action = Marker.ADD
    joint_marker.scale.x = joint_marker.scale.y = joint_marker.scale.z = float(joint_diameter)
    keep = np.flatnonzero(valid).tolist()
    joint_marker.points = [pts[i] for i in keep]
    joint_marker.colors = [colors[i] for i in keep]
    return MarkerArray(markers=markers)
