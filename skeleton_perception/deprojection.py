"""Skeleton joints from pixels to 3D with an aligned depth image (numpy only, no ROS).

The ``skeleton_3d`` node and the offline 3D evaluation share this code. For every joint:

1. **Depth**: the median of the valid depths in a ``window`` x ``window`` pixel square
   centred on the joint's nearest pixel (clipped at the image border). A depth is valid
   when it is finite, above 0 and inside ``[min_depth, max_depth]``; 0 and NaN are how
   depth cameras mark "no data". A joint with no valid pixel in its window, or whose
   pixel lies off the image, is *invalid*: its position is NaN, never the origin.
2. **Ray**: the pixel is undistorted with the camera's distortion model
   (:class:`PinholeCamera`) into normalised coordinates ``(x_n, y_n)``.
3. **Point**: depth images hold z along the optical axis, so the point is
   ``z * (x_n, y_n, 1)`` in the camera's optical frame (x right, y down, z forward).
4. Optionally a rigid transform into another frame (:func:`transform_points`).

Pixel convention as everywhere in the package: x right, y down, origin at the centre of
the top-left pixel, so pixel ``(u, v)`` is the depth image's element ``[round(v), round(u)]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Depth encodings and the factor from a stored value to metres (REP 118 and the
# RealSense/ZED/Kinect drivers: 16-bit millimetres or 32-bit float metres).
DEPTH_ENCODINGS: dict[str, float] = {"16UC1": 1e-3, "32FC1": 1.0}

# Distortion models of sensor_msgs/CameraInfo that OpenCV's point undistortion covers:
# plumb_bob (k1 k2 p1 p2 k3) and rational_polynomial (k1 k2 p1 p2 k3 k4 k5 k6).
SUPPORTED_DISTORTION = ("plumb_bob", "rational_polynomial")


class DeprojectionError(ValueError):
    """Inputs that cannot be deprojected; the text names the problem."""


@dataclass(frozen=True)
class DepthWindow:
    """How a joint's depth is read from the depth image.

    Attributes:
        window: side in pixels of the square around the joint (odd, >= 1).
        min_depth: depths below this many metres are invalid.
        max_depth: depths above this many metres are invalid.
    """

    window: int = 5
    min_depth: float = 0.1
    max_depth: float = 10.0

    def __post_init__(self) -> None:
        if self.window < 1 or self.window % 2 == 0:
            raise DeprojectionError(f"window must be an odd number >= 1, not {self.window}")
        if not 0.0 <= self.min_depth < self.max_depth:
            raise DeprojectionError(
                f"need 0 <= min_depth < max_depth, got {self.min_depth}, {self.max_depth}"
            )


@dataclass(frozen=True)
class PinholeCamera:
    """A calibrated camera: the K matrix and distortion of ``sensor_msgs/CameraInfo``.

    Attributes:
        width: image width in pixels.
        height: image height in pixels.
        k: ``(3, 3)`` intrinsic matrix.
        d: distortion coefficients (may be empty).
        distortion_model: ``plumb_bob``, ``rational_polynomial`` or, with all-zero or no
            coefficients, any name (no distortion to undo).
    """

    width: int
    height: int
    k: np.ndarray
    d: np.ndarray
    distortion_model: str = "plumb_bob"

    @classmethod
    def from_camera_info(
        cls, width: int, height: int, k, d, distortion_model: str
    ) -> PinholeCamera:
        """Builds and checks a camera from CameraInfo's fields.

        Raises:
            DeprojectionError: K is not a calibrated pinhole matrix, or the distortion
                model is not supported while its coefficients are not all zero.
        """
        k = np.asarray(k, np.float64).reshape(3, 3)
        d = np.asarray(d, np.float64).reshape(-1)
        fx, fy = k[0, 0], k[1, 1]
        if not (np.isfinite(k).all() and fx > 0 and fy > 0):
            raise DeprojectionError(
                f"K = {k.reshape(-1).tolist()} is not a calibrated pinhole matrix "
                "(fx and fy must be > 0: is the camera calibrated?)"
            )
        if not np.isfinite(d).all():
            raise DeprojectionError(f"distortion coefficients D = {d.tolist()} are not finite")
        if np.any(d != 0.0):
            if distortion_model not in SUPPORTED_DISTORTION:
                raise DeprojectionError(
                    f"distortion model {distortion_model!r} is not supported (supported: "
                    f"{', '.join(SUPPORTED_DISTORTION)}, or any model with all-zero D)"
                )
            need = 5 if distortion_model == "plumb_bob" else 8
            if d.size != need:
                raise DeprojectionError(
                    f"distortion model {distortion_model!r} needs {need} coefficients, "
                    f"D has {d.size}"
                )
        if width <= 0 or height <= 0:
            raise DeprojectionError(f"image size {width}x{height} is empty")
        return cls(int(width), int(height), k, d, distortion_model)

    @property
    def distorted(self) -> bool:
        """Whether the camera has distortion to undo."""
        return bool(np.any(self.d != 0.0))

    def normalised(self, pixels: np.ndarray) -> np.ndarray:
        """Undistorted normalised image coordinates of pixels.

        Args:
            pixels: ``(K, 2)`` pixel xy.

        Returns:
            ``(K, 2)`` float64 ``(x_n, y_n)``: the ray through the pixel is
            ``(x_n, y_n, 1)`` in the optical frame.
        """
        pixels = np.asarray(pixels, np.float64).reshape(-1, 2)
        if not self.distorted or len(pixels) == 0:
            fx, fy, cx, cy = self.k[0, 0], self.k[1, 1], self.k[0, 2], self.k[1, 2]
            skew = self.k[0, 1]
            y = (pixels[:, 1] - cy) / fy
            x = (pixels[:, 0] - cx - skew * y) / fx
            return np.stack([x, y], axis=1)
        out = cv2.undistortPoints(pixels[:, None, :], self.k, self.d)  # (K, 1, 2)
        return out.reshape(-1, 2).astype(np.float64)


def depth_scale(encoding: str) -> float:
    """Metres per stored value of a depth image encoding.

    Raises:
        DeprojectionError: the encoding is not a depth encoding.
    """
    scale = DEPTH_ENCODINGS.get(encoding)
    if scale is None:
        raise DeprojectionError(
            f"encoding {encoding!r} is not a depth encoding (expected "
            f"{' or '.join(DEPTH_ENCODINGS)}: millimetres or metres)"
        )
    return scale


def valid_depth_mask(depth_m: np.ndarray, window: DepthWindow) -> np.ndarray:
    """Which depths (metres, any shape) are valid: finite, > 0, inside the range."""
    with np.errstate(invalid="ignore"):
        return (
            np.isfinite(depth_m)
            & (depth_m > 0.0)
            & (depth_m >= window.min_depth)
            & (depth_m <= window.max_depth)
        )


def window_depths(
    depth: np.ndarray, pixels: np.ndarray, window: DepthWindow, scale: float = 1.0
) -> np.ndarray:
    """The robust depth of each pixel: the median of the valid depths in its window.

    Only the windows are read and converted, never the whole image.

    Args:
        depth: ``(H, W)`` depth image as stored (uint16 or float32).
        pixels: ``(K, 2)`` pixel xy.
        window: window size and valid range.
        scale: metres per stored value (:func:`depth_scale`).

    Returns:
        ``(K,)`` float64 depths in metres; NaN where the pixel is off the image or its
        window holds no valid depth.
    """
    height, width = depth.shape
    pixels = np.asarray(pixels, np.float64).reshape(-1, 2)
    out = np.full(len(pixels), np.nan)
    with np.errstate(invalid="ignore"):
        cols = np.rint(pixels[:, 0])
        rows = np.rint(pixels[:, 1])
    on_image = (cols >= 0) & (cols < width) & (rows >= 0) & (rows < height)  # NaN: False
    if not on_image.any():
        return out
    # All windows at once: (K, w, w) indices, clipped at the border and masked there.
    half = window.window // 2
    offsets = np.arange(-half, half + 1)
    r = rows[on_image].astype(np.int64)[:, None, None] + offsets[None, :, None]  # (K, w, 1)
    c = cols[on_image].astype(np.int64)[:, None, None] + offsets[None, None, :]  # (K, 1, w)
    inside = (r >= 0) & (r < height) & (c >= 0) & (c < width)  # (K, w, w)
    metres = depth[np.clip(r, 0, height - 1), np.clip(c, 0, width - 1)] * np.float64(scale)
    valid = (inside & valid_depth_mask(metres, window)).reshape(len(metres), -1)  # (K, w*w)
    values = np.sort(np.where(valid, metres.reshape(valid.shape), np.inf), axis=1)
    n = valid.sum(axis=1)  # (K,) valid depths per window, sorted first
    lo = np.take_along_axis(values, np.maximum(n - 1, 0)[:, None] // 2, axis=1)[:, 0]
    hi = np.take_along_axis(values, np.minimum(n // 2, values.shape[1] - 1)[:, None], axis=1)
    out[on_image] = np.where(n > 0, 0.5 * (lo + hi[:, 0]), np.nan)
    return out


@dataclass
class Points3D:
    """Joints placed in 3D.

    Attributes:
        points: ``(K, 3)`` float64 metres (optical frame unless transformed); NaN rows
            for invalid joints.
        valid: ``(K,)`` bool, a depth was found.
        depth: ``(K,)`` float64 metres along the optical axis; NaN where invalid.
    """

    points: np.ndarray
    valid: np.ndarray
    depth: np.ndarray


def deproject(
    pixels: np.ndarray,
    depth: np.ndarray,
    camera: PinholeCamera,
    window: DepthWindow,
    scale: float = 1.0,
) -> Points3D:
    """Places pixels in the camera's optical frame with the depth image.

    Args:
        pixels: ``(K, 2)`` pixel xy of the image the depth is aligned to.
        depth: ``(H, W)`` aligned depth image as stored; ``(H, W)`` must equal the
            camera's ``(height, width)``.
        camera: the intrinsics of that image.
        window: how the depth is read.
        scale: metres per stored depth value.

    Returns:
        The points in the optical frame (x right, y down, z forward), metres.

    Raises:
        DeprojectionError: the depth image and the camera differ in size.
    """
    if depth.shape != (camera.height, camera.width):
        raise DeprojectionError(
            f"depth image is {depth.shape[1]}x{depth.shape[0]} but the camera_info is "
            f"{camera.width}x{camera.height}"
        )
    z = window_depths(depth, pixels, window, scale)  # (K,)
    valid = np.isfinite(z)
    rays = camera.normalised(pixels)  # (K, 2)
    points = np.full((len(z), 3), np.nan)
    points[valid] = np.column_stack([rays[valid] * z[valid, None], z[valid]])
    return Points3D(points=points, valid=valid, depth=z)


def quaternion_matrix(x: float, y: float, z: float, w: float) -> np.ndarray:
    """The ``(3, 3)`` rotation of a quaternion (normalised here).

    Raises:
        DeprojectionError: a zero or non-finite quaternion.
    """
    q = np.array([x, y, z, w], np.float64)
    norm = np.linalg.norm(q)
    if not np.isfinite(norm) or norm < 1e-12:
        raise DeprojectionError(f"quaternion {q.tolist()} is not a rotation")
    x, y, z, w = q / norm
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def transform_points(points: np.ndarray, rotation: np.ndarray, translation) -> np.ndarray:
    """Applies ``p' = R p + t`` to ``(K, 3)`` points (NaN rows stay NaN)."""
    return np.asarray(points, np.float64) @ np.asarray(rotation).T + np.asarray(translation)


def pinhole_camera_info(
    width: int, height: int, intrinsics: tuple[float, float, float, float]
) -> dict[str, int | str | list[float]]:
    """The ``sensor_msgs/CameraInfo`` fields of an undistorted pinhole camera.

    For any message class (rclpy's, a rosbags typestore's): ``CameraInfo(**fields, ...)``.

    Args:
        width: image width in pixels.
        height: image height in pixels.
        intrinsics: (fx, fy, cx, cy) in pixels.

    Returns:
        ``width``, ``height``, ``distortion_model`` (plumb_bob), ``d`` (5 zeros), ``k``,
        ``r`` (identity) and ``p``, the matrices as row-major lists of floats.
    """
    fx, fy, cx, cy = (float(v) for v in intrinsics)
    return {
        "width": int(width),
        "height": int(height),
        "distortion_model": "plumb_bob",
        "d": [0.0] * 5,
        "k": [fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0],
        "r": [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
        "p": [fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0],
    }


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
