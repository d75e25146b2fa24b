"""Drawing skeletons: the debug image (OpenCV) and RViz markers (message construction).

Pure numpy/OpenCV and message building, no rclpy. Joint colours depend only on the joint
id, so a physical joint keeps its colour from frame to frame in the image and in RViz.
"""

from __future__ import annotations

import colorsys

import cv2
import numpy as np
from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Point
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from skeleton_perception.skeleton import Skeleton

# Marker ids inside the namespace.
LINKS_MARKER_ID = 0
JOINTS_MARKER_ID = 1

_GOLDEN = 0.618033988749895


def id_colors(ids: np.ndarray) -> np.ndarray:
    """Returns a distinct, stable colour per joint id.

    Args:
        ids: (K,) integer ids.

    Returns:
        (K, 3) float32 RGB in [0, 1]; hues spaced by the golden ratio.
    """
    ids = np.asarray(ids, np.int64).reshape(-1)
    colors = [colorsys.hsv_to_rgb((0.1 + i * _GOLDEN) % 1.0, 0.85, 1.0) for i in ids.tolist()]
    return np.asarray(colors, np.float32).reshape(-1, 3)


def draw_skeleton(
    rgb: np.ndarray,
    skeleton: Skeleton,
    *,
    radius: int | None = None,
    thickness: int | None = None,
    ground_truth: Skeleton | None = None,
) -> np.ndarray:
    """Draws links (lines) and joints (filled discs, coloured by id) on a copy of ``rgb``.

    Args:
        rgb: (H, W, 3) uint8 RGB image; not modified.
        skeleton: the prediction, in ``rgb``'s pixels.
        radius: joint disc radius in pixels (default: scaled with the image size).
        thickness: link line width in pixels (default: scaled with the image size).
        ground_truth: optional ground truth, drawn first as thin white lines and rings.

    Returns:
        (H, W, 3) uint8 RGB image.
    """
    out = np.ascontiguousarray(rgb, dtype=np.uint8).copy()
    scale = max(out.shape[0], out.shape[1]) / 320.0
    radius = radius if radius is not None else max(2, round(4 * scale))
    thickness = thickness if thickness is not None else max(1, round(2 * scale))
    shift = 4  # sub-pixel drawing: coordinates in 1/16 pixel
    to_px = lambda xy: tuple(round(v * (1 << shift)) for v in xy)  # noqa: E731

    if ground_truth is not None and ground_truth.num_joints:
        white = (255, 255, 255)
        for a, b in ground_truth.links.tolist():
            p, q = ground_truth.joints[a], ground_truth.joints[b]
            cv2.line(out, to_px(p), to_px(q), white, 1, cv2.LINE_AA, shift)
        for p in ground_truth.joints:
            cv2.circle(out, to_px(p), (radius + 2) << shift, white, 1, cv2.LINE_AA, shift)

    if skeleton.num_joints:
        colors = (id_colors(skeleton.joint_ids) * 255).astype(np.int32)
        for (a, b), s in zip(skeleton.links.tolist(), skeleton.link_scores.tolist(), strict=True):
            mix = ((colors[a] + colors[b]) // 2).tolist()
            width = max(1, round(thickness * (0.5 + 0.5 * float(s))))
            cv2.line(
                out, to_px(skeleton.joints[a]), to_px(skeleton.joints[b]), mix, width,
                cv2.LINE_AA, shift,
            )  # fmt: skip
        for p, c in zip(skeleton.joints, colors.tolist(), strict=True):
            cv2.circle(out, to_px(p), radius << shift, c, -1, cv2.LINE_AA, shift)
            cv2.circle(out, to_px(p), radius << shift, (0, 0, 0), 1, cv2.LINE_AA, shift)
    return out


def default_intrinsics(width: int, height: int) -> tuple[float, float, float, float]:
    """Pinhole intrinsics assumed when no ``camera_info`` arrived: fx = fy = width.

    A focal length equal to the image width is a horizontal field of view of about 53
    degrees, typical of webcams and RGB-D cameras.
    """
    return float(width), float(width), (width - 1) / 2.0, (height - 1) / 2.0


def pixels_to_plane(
    pixels: np.ndarray, intrinsics: tuple[float, float, float, float], depth: float
) -> np.ndarray:
    """Back-projects pixels onto the plane ``z = depth`` of the camera's optical frame.

    Args:
        pixels: (K, 2) pixel xy (x right, y down).
        intrinsics: (fx, fy, cx, cy) in pixels.
        depth: distance of the plane in metres.

    Returns:
        (K, 3) float64 xyz in metres (optical frame: x right, y down, z forward).
    """
    fx, fy, cx, cy = intrinsics
    pixels = np.asarray(pixels, np.float64).reshape(-1, 2)
    x = (pixels[:, 0] - cx) / fx * depth
    y = (pixels[:, 1] - cy) / fy * depth
    return np.stack([x, y, np.full_like(x, depth)], axis=1)


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
        intrinsics: (fx, fy, cx, cy); None: :func:`default_intrinsics` of the image size.
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
    lifetime = Duration(sec=int(lifetime_s), nanosec=round((lifetime_s % 1.0) * 1e9))

    def base(marker_id: int, marker_type: int) -> Marker:
        m = Marker(header=header, ns=namespace, id=marker_id, type=marker_type)
        m.lifetime = lifetime
        m.pose.orientation.w = 1.0
        m.frame_locked = False
        return m

    links = base(LINKS_MARKER_ID, Marker.LINE_LIST)
    joints = base(JOINTS_MARKER_ID, Marker.SPHERE_LIST)
    if skeleton.num_joints == 0:
        links.action = joints.action = Marker.DELETE
        return MarkerArray(markers=[links, joints])

    xyz = pixels_to_plane(skeleton.joints, intrinsics, depth)
    points = [Point(x=float(x), y=float(y), z=float(z)) for x, y, z in xyz.tolist()]
    colors = [
        ColorRGBA(r=float(r), g=float(g), b=float(b), a=1.0)
        for r, g, b in id_colors(skeleton.joint_ids).tolist()
    ]

    # A link list without links is deleted rather than sent empty.
    links.action = Marker.ADD if len(skeleton.links) else Marker.DELETE
    links.scale.x = link_px * metres_per_px
    links.color = ColorRGBA(r=1.0, g=1.0, b=1.0, a=1.0)
    for a, b in skeleton.links.tolist():
        links.points += [points[a], points[b]]
        links.colors += [colors[a], colors[b]]

    joints.action = Marker.ADD
    joints.scale.x = joints.scale.y = joints.scale.z = joint_px * metres_per_px
    joints.color = ColorRGBA(r=1.0, g=1.0, b=1.0, a=1.0)
    joints.points = points
    joints.colors = colors
    return MarkerArray(markers=[links, joints])


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

    The same two markers as :func:`skeleton_markers` (id 0 a LINE_LIST of the links, id
    1 a SPHERE_LIST of the joints coloured by joint id) at the joints' positions in
    ``header.frame_id``. Invalid joints (no depth) and their links are left out; a
    marker with nothing to show is sent as a DELETE.

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
