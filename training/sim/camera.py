"""Pinhole projection matching MuJoCo's renderer, and the per-episode camera plan.

Pixel convention (used for every ground-truth joint): x right, y down, origin at the centre
of the top-left pixel, so a point at ``u = (W - 1) / 2`` lies on the optical axis. This is
the convention of ``dm_control.mujoco.Camera.matrix``.

The camera plan keeps the whole object in view, yet moves its root body across the image:
the camera follows the root at a fixed per-episode orientation and distance, and its
lateral offset is chosen per frame so that the root's image position sweeps smoothly
between two random points (a random, time-varying offset). A root that never moves in the
image would be painted in by the model's background network, so the sweep is the point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Vertical field of view of every simulated camera, degrees.
FOVY = 45.0


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics of a rendered image, in pixels (for ``sensor_msgs/CameraInfo``)."""

    fx: float
    fy: float
    cx: float
    cy: float

    def as_tuple(self) -> tuple[float, float, float, float]:
        """Returns ``(fx, fy, cx, cy)``."""
        return (self.fx, self.fy, self.cx, self.cy)


def intrinsics(fovy_deg: float, width: int, height: int) -> Intrinsics:
    """Intrinsics of MuJoCo's camera model: square pixels, vertical field of view ``fovy``."""
    f = float((height / 2.0) / np.tan(np.deg2rad(fovy_deg) / 2.0))
    return Intrinsics(fx=f, fy=f, cx=(width - 1) / 2.0, cy=(height - 1) / 2.0)


def project(
    points: np.ndarray, cam_pos: np.ndarray, cam_mat: np.ndarray, fovy_deg: float, size: tuple
) -> np.ndarray:
    """Projects world points into pixels exactly as MuJoCo renders them.

    Args:
        points: World positions, shape ``(..., 3)``.
        cam_pos: Camera position in the world, ``(3,)``.
        cam_mat: Camera orientation, ``(3, 3)``: columns are the camera's x (right), y (up)
            and z (backwards: the camera looks along -z) axes in world coordinates, as in
            ``MjData.cam_xmat``.
        fovy_deg: Vertical field of view in degrees.
        size: Image ``(height, width)``.

    Returns:
        Pixel coordinates ``(..., 2)`` as ``(x right, y down)``.
    """
    height, width = size
    k = intrinsics(fovy_deg, width, height)
    pc = (np.asarray(points, np.float64) - cam_pos) @ cam_mat  # (..., 3) camera frame
    depth = -pc[..., 2]
    u = k.cx + k.fx * pc[..., 0] / depth
    v = k.cy - k.fy * pc[..., 1] / depth
    return np.stack([u, v], axis=-1)


def to_optical(points: np.ndarray, cam_pos: np.ndarray, cam_mat: np.ndarray) -> np.ndarray:
    """World points in the camera's optical frame (x right, y down, z forward), metres.

    MuJoCo's camera frame has y up and looks along -z; the optical frame of ROS cameras
    (REP 103, ``sensor_msgs/CameraInfo``) flips both, so ``project`` of a point is
    ``(cx + fx x / z, cy + fy y / z)`` of its optical coordinates.

    Args:
        points: World positions, ``(..., 3)``.
        cam_pos: Camera position, ``(3,)``.
        cam_mat: Camera orientation, ``(3, 3)`` (``cam_xmat`` layout, see :func:`project`).

    Returns:
        ``(..., 3)`` float64 optical-frame coordinates.
    """
    pc = (np.asarray(points, np.float64) - cam_pos) @ cam_mat
    return pc * np.array([1.0, -1.0, -1.0])


def inside(pixels: np.ndarray, size: tuple) -> np.ndarray:
    """Whether pixel positions ``(..., 2)`` fall on the image (pixel squares included)."""
    height, width = size
    u, v = pixels[..., 0], pixels[..., 1]
    return (u >= -0.5) & (u < width - 0.5) & (v >= -0.5) & (v < height - 0.5)


def look_rotation(forward: np.ndarray, up_hint: np.ndarray, roll: float = 0.0) -> np.ndarray:
    """Camera orientation (``cam_xmat`` layout) looking along ``forward``.

    Args:
        forward: Viewing direction in the world, ``(3,)``.
        up_hint: A world direction that should appear roughly up in the image.
        roll: Extra rotation about the viewing axis, radians.

    Returns:
        ``(3, 3)`` matrix whose columns are the camera x, y, z axes.
    """
    z = -np.asarray(forward, np.float64)
    z /= np.linalg.norm(z)
    x = np.cross(up_hint, z)
    if np.linalg.norm(x) < 1e-6:  # looking along the up hint: any perpendicular will do
        x = np.cross([1.0, 0.0, 0.0] if abs(z[0]) < 0.9 else [0.0, 1.0, 0.0], z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    c, s = np.cos(roll), np.sin(roll)
    x, y = c * x + s * y, -s * x + c * y
    return np.stack([x, y, z], axis=1)


def turn(rotation: np.ndarray, azimuth_deg: float, elevation_deg: float) -> np.ndarray:
    """A camera orientation turned about the world's vertical and tilted down.

    Args:
        rotation: ``(3, 3)`` orientation (``cam_xmat`` layout, see :func:`project`).
        azimuth_deg: Turn about the world z axis, degrees.
        elevation_deg: Tilt about the camera's own x axis, degrees; positive looks down.

    Returns:
        The new ``(3, 3)`` orientation.
    """
    a, e = np.deg2rad(azimuth_deg), np.deg2rad(-elevation_deg)
    rz = np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]])
    rx = np.array([[1.0, 0.0, 0.0], [0.0, np.cos(e), -np.sin(e)], [0.0, np.sin(e), np.cos(e)]])
    return rz @ rotation @ rx


@dataclass(frozen=True)
class CameraTrack:
    """A camera for every frame of an episode."""

    positions: np.ndarray  # (T, 3) world
    rotation: np.ndarray  # (3, 3) cam_xmat layout, fixed over the episode
    fovy: float  # degrees


def _offset_interval(q: np.ndarray, depth: np.ndarray, half: float, f: float) -> np.ndarray:
    """Allowed lateral camera offsets keeping every point within ``half`` px of the centre.

    Args:
        q: Root-relative coordinates along one camera axis, ``(T, J)``.
        depth: Depth of every point, ``(T, J)``.
        half: Half extent allowed, pixels.
        f: Focal length, pixels.

    Returns:
        ``(T, 2)`` lower and upper bounds of the offset.
    """
    slack = half * depth / f
    return np.stack([(q - slack).max(axis=1), (q + slack).min(axis=1)], axis=1)


def plan_camera(
    keypoints: np.ndarray,
    root: np.ndarray,
    rotation: np.ndarray,
    fovy: float,
    size: tuple,
    rng: np.random.Generator,
    roam: float,
    margin_px: float = 1.5,
) -> CameraTrack:
    """Plans a camera that keeps every keypoint in view while the root sweeps the image.

    The distance is the smallest at which the root could still move over a ``roam``
    fraction of the image in every frame (so ``roam`` also sets the object's size); the
    root's image position then follows a smooth random path inside each frame's feasible
    interval, between two random points that are at least 40% of that interval apart.

    Args:
        keypoints: World keypoints, ``(T, J, 3)``.
        root: World position the camera follows, ``(T, 3)``.
        rotation: Camera orientation, ``(3, 3)`` (``cam_xmat`` layout).
        fovy: Vertical field of view, degrees.
        size: Image ``(height, width)``.
        rng: Random generator of the episode.
        roam: Fraction of the image, in (0, 1), over which the root may move.
        margin_px: Keypoints stay at least this far inside the image border.

    Returns:
        The camera track.
    """
    height, width = size
    k = intrinsics(fovy, width, height)
    half = np.array([(width - 1) / 2.0 - margin_px, (height - 1) / 2.0 - margin_px])
    q = (keypoints - root[:, None, :]) @ rotation  # (T, J, 3) root-relative camera axes
    q = np.concatenate([q, np.zeros_like(q[:, :1])], axis=1)  # the root itself is a point

    def feasible(dist: float) -> tuple[np.ndarray, np.ndarray]:
        depth = dist - q[..., 2]
        ix = _offset_interval(q[..., 0], depth, half[0], k.fx)  # (T, 2)
        iy = _offset_interval(q[..., 1], depth, half[1], k.fy)
        return ix, iy

    def ok(dist: float) -> bool:
        if np.min(dist - q[..., 2]) < 0.05 * dist:
            return False
        ix, iy = feasible(dist)
        wx = (ix[:, 1] - ix[:, 0]) * k.fx / dist  # feasible root range, pixels
        wy = (iy[:, 1] - iy[:, 0]) * k.fy / dist
        return bool(wx.min() >= roam * 2 * half[0] and wy.min() >= roam * 2 * half[1])

    lo, hi = 1e-3, 1.0
    while not ok(hi):
        lo, hi = hi, hi * 2.0
        if hi > 1e6:
            raise ValueError(f"plan_camera: roam {roam} cannot be met at any distance")
    for _ in range(30):
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    dist = hi
    ix, iy = feasible(dist)

    steps = keypoints.shape[0]
    s = np.linspace(0.0, 1.0, steps)
    s = s * s * (3.0 - 2.0 * s)  # smoothstep

    def sweep() -> list[np.ndarray]:
        offsets = []
        for interval in (ix, iy):
            a = rng.uniform(0.0, 1.0)
            b = rng.uniform(0.0, 1.0)
            while abs(b - a) < 0.4:
                b = rng.uniform(0.0, 1.0)
            wobble = 0.08 * np.sin(2 * np.pi * (rng.uniform(0.5, 1.5) * s + rng.uniform()))
            frac = np.clip(a + (b - a) * s + wobble, 0.0, 1.0)
            offsets.append(interval[:, 0] + frac * (interval[:, 1] - interval[:, 0]))
        return offsets

    # The root must travel: keep the first sweep whose image path spans a quarter of the
    # image (feasible intervals that drift against the sweep could cancel it), else the best.
    best, best_span = None, -1.0
    for _ in range(8):
        offsets = sweep()
        span = float(np.hypot(np.ptp(offsets[0]) * k.fx, np.ptp(offsets[1]) * k.fy) / dist)
        if span > best_span:
            best, best_span = offsets, span
        if span >= 0.25 * min(width, height):
            break
    offsets = best
    local = np.stack([offsets[0], offsets[1], np.full(steps, dist)], axis=1)  # (T, 3)
    positions = root + local @ rotation.T
    return CameraTrack(positions=positions, rotation=rotation, fovy=fovy)
