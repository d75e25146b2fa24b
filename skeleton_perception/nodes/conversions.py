"""Conversions between ROS messages and numpy arrays (no rclpy, no cv_bridge).

``sensor_msgs/Image`` <-> numpy for the common encodings (row padding through ``step``,
big-endian data), ``sensor_msgs/CompressedImage`` -> RGB, the rclpy classes of
``SkeletonGraph`` (:data:`GRAPH_TYPES`, for :mod:`skeleton_perception.skeleton_msg`, the
one Skeleton <-> SkeletonGraph mapping), 3D points -> ``SkeletonGraph3D`` and
``sensor_msgs/CameraInfo`` helpers. Pure functions on message objects: the nodes call
them, the tests build messages by hand. This module imports the ROS message packages, so
it lives beside the nodes; the core (``skeleton_perception`` outside ``nodes/``) does not.

The PyPI ``cv-bridge`` package is a broken ROS 1 repackaging; this module replaces the
two functions of it that a perception node needs.
"""

from __future__ import annotations

import array
import sys
from dataclasses import dataclass

import cv2
import numpy as np
from builtin_interfaces.msg import Time
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header

from skeleton_perception.deprojection import pinhole_camera_info
from skeleton_perception.msg import (
    SkeletonGraph,
    SkeletonGraph3D,
    SkeletonJoint,
    SkeletonJoint3D,
    SkeletonLink,
)
from skeleton_perception.skeleton_msg import (
    NS_PER_S,
    GraphTypes,
    ground_truth_skeleton,
    skeleton_to_msg,
)

# The rclpy message classes of a SkeletonGraph.
GRAPH_TYPES = GraphTypes(SkeletonGraph, SkeletonJoint, SkeletonLink)

# Default upper bound on width * height accepted from the wire (4096 x 4096).
DEFAULT_MAX_PIXELS = 4096 * 4096


class ImageConversionError(ValueError):
    """An image message that cannot be turned into an array; the text names the problem."""


@dataclass(frozen=True)
class _Encoding:
    channels: int
    dtype: np.dtype


# encoding -> (channels, element type). Multi-byte types honour ``is_bigendian``.
ENCODINGS: dict[str, _Encoding] = {
    "rgb8": _Encoding(3, np.dtype(np.uint8)),
    "bgr8": _Encoding(3, np.dtype(np.uint8)),
    "rgba8": _Encoding(4, np.dtype(np.uint8)),
    "bgra8": _Encoding(4, np.dtype(np.uint8)),
    "mono8": _Encoding(1, np.dtype(np.uint8)),
    "mono16": _Encoding(1, np.dtype(np.uint16)),
    "8UC1": _Encoding(1, np.dtype(np.uint8)),
    "8UC3": _Encoding(3, np.dtype(np.uint8)),
    "8UC4": _Encoding(4, np.dtype(np.uint8)),
    "16UC1": _Encoding(1, np.dtype(np.uint16)),
    "32FC1": _Encoding(1, np.dtype(np.float32)),
}

# Encodings the detector accepts (mapped to RGB uint8 by image_to_rgb).
RGB_ENCODINGS = ("rgb8", "bgr8", "rgba8", "bgra8", "mono8", "mono16")

_NATIVE_BIG_ENDIAN = sys.byteorder == "big"


# --------------------------------------------------------------------------- Image


def image_to_numpy(msg: Image, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Returns the pixels of an Image as an array in native byte order.

    Row padding (``step`` larger than ``width * bytes_per_pixel``) is removed and
    big-endian data is swapped. The result is a view into ``msg.data`` when no copy is
    needed (8-bit encodings): copy it before modifying.

    Args:
        msg: the message; one of :data:`ENCODINGS`.
        max_pixels: refuse images with more than this many pixels (``None``: no limit).

    Returns:
        (H, W) for one-channel encodings, else (H, W, C); dtype from :data:`ENCODINGS`.

    Raises:
        ImageConversionError: unknown encoding, zero or too large size, ``step`` smaller
            than a row, or ``data`` shorter than ``step * height``.
    """
    enc = ENCODINGS.get(msg.encoding)
    if enc is None:
        raise ImageConversionError(
            f"unknown encoding {msg.encoding!r} (supported: {', '.join(ENCODINGS)})"
        )
    width, height, step = int(msg.width), int(msg.height), int(msg.step)
    if width <= 0 or height <= 0:
        raise ImageConversionError(f"empty image: width={width}, height={height}")
    if max_pixels is not None and width * height > max_pixels:
        raise ImageConversionError(
            f"image too large: {width}x{height} = {width * height} pixels > {max_pixels}"
        )
    row_bytes = width * enc.channels * enc.dtype.itemsize
    if step < row_bytes:
        raise ImageConversionError(
            f"step {step} is smaller than one row of {width} {msg.encoding} pixels "
            f"({row_bytes} bytes)"
        )
    if step % enc.dtype.itemsize:
        raise ImageConversionError(
            f"step {step} is not a multiple of the {enc.dtype.itemsize}-byte element size"
        )
    data = np.frombuffer(msg.data, dtype=np.uint8)
    if data.size < step * height:
        raise ImageConversionError(
            f"data has {data.size} bytes, expected step*height = {step}*{height} = {step * height}"
        )
    rows = data[: step * height].reshape(height, step)[:, :row_bytes]
    dtype = enc.dtype
    if dtype.itemsize > 1:
        dtype = dtype.newbyteorder(">" if msg.is_bigendian else "<")
        # Reinterpreting a strided byte view needs contiguous rows of whole elements.
        rows = np.ascontiguousarray(rows)
    pixels = rows.view(dtype).reshape(height, width, enc.channels)
    if dtype.itemsize > 1 and dtype.byteorder not in ("=", "|"):
        pixels = pixels.astype(enc.dtype.newbyteorder("="))
    return pixels[:, :, 0] if enc.channels == 1 else pixels


def image_to_rgb(msg: Image, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Returns an Image as an (H, W, 3) uint8 RGB array (a new, writable array).

    ``mono16`` is scaled to 8 bits (the high byte); alpha is dropped.

    Raises:
        ImageConversionError: as :func:`image_to_numpy`, or an encoding the detector
            does not take (not in :data:`RGB_ENCODINGS`).
    """
    if msg.encoding in ENCODINGS and msg.encoding not in RGB_ENCODINGS:
        raise ImageConversionError(
            f"encoding {msg.encoding!r} is not a colour or grey image "
            f"(supported: {', '.join(RGB_ENCODINGS)})"
        )
    pixels = image_to_numpy(msg, max_pixels)
    return to_rgb(pixels, msg.encoding)


def to_rgb(pixels: np.ndarray, encoding: str, copy: bool = True) -> np.ndarray:
    """Converts an array in one of :data:`RGB_ENCODINGS` to an (H, W, 3) uint8 RGB array.

    Args:
        pixels: the array (e.g. from :func:`image_to_numpy`).
        encoding: its encoding.
        copy: always return a new array. False: ``rgb8`` pixels are returned as they are
            (possibly a view into the message, not contiguous: do not modify it); the other
            encodings are converted into a new array either way.
    """
    if encoding == "rgb8":
        return np.ascontiguousarray(pixels).copy() if copy else pixels
    if encoding == "bgr8":
        return cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_BGR2RGB)
    if encoding == "rgba8":
        return cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_RGBA2RGB)
    if encoding == "bgra8":
        return cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_BGRA2RGB)
    if encoding == "mono8":
        return cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_GRAY2RGB)
    if encoding == "mono16":
        return cv2.cvtColor((pixels >> 8).astype(np.uint8), cv2.COLOR_GRAY2RGB)
    raise ImageConversionError(f"cannot convert encoding {encoding!r} to RGB")


def numpy_to_image(
    pixels: np.ndarray,
    encoding: str,
    header: Header | None = None,
    *,
    is_bigendian: bool = False,
) -> Image:
    """Builds an Image from an array (tightly packed rows, ``step = width * pixel bytes``).

    Args:
        pixels: (H, W) or (H, W, C) array whose shape and dtype match ``encoding``.
        encoding: one of :data:`ENCODINGS`.
        header: copied into the message (default: an empty header).
        is_bigendian: write multi-byte data big-endian (default: little-endian).

    Raises:
        ValueError: the array does not match the encoding.
    """
    enc = ENCODINGS.get(encoding)
    if enc is None:
        raise ValueError(f"unknown encoding {encoding!r} (supported: {', '.join(ENCODINGS)})")
    arr = np.asarray(pixels)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] != enc.channels or arr.dtype != enc.dtype:
        raise ValueError(
            f"array of shape {pixels.shape} and dtype {pixels.dtype} does not match "
            f"{encoding} ({enc.channels} channel(s) of {enc.dtype})"
        )
    height, width = arr.shape[:2]
    if enc.dtype.itemsize > 1:
        arr = arr.astype(enc.dtype.newbyteorder(">" if is_bigendian else "<"), copy=False)
    msg = Image()
    if header is not None:
        msg.header = header
    msg.height, msg.width = int(height), int(width)
    msg.encoding = encoding
    msg.is_bigendian = int(bool(is_bigendian) and enc.dtype.itemsize > 1)
    msg.step = int(width * enc.channels * enc.dtype.itemsize)
    # An array.array skips the message's per-element type check (fast for large images).
    msg.data = array.array("B", np.ascontiguousarray(arr).tobytes())
    return msg


def rgb_to_image(rgb: np.ndarray, header: Header | None = None, encoding: str = "rgb8") -> Image:
    """Builds an Image from an (H, W, 3) uint8 RGB array, as ``rgb8`` or ``bgr8``."""
    if encoding == "bgr8":
        rgb = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR)
    elif encoding != "rgb8":
        raise ValueError(f"rgb_to_image writes rgb8 or bgr8, not {encoding!r}")
    return numpy_to_image(rgb, encoding, header)


# ------------------------------------------------------------------ CompressedImage


def compressed_to_rgb(
    msg: CompressedImage, max_pixels: int | None = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """Decodes a CompressedImage (JPEG or PNG, as image_transport writes) to RGB uint8.

    Raises:
        ImageConversionError: empty data, undecodable data, or too many pixels.
    """
    data = np.frombuffer(msg.data, dtype=np.uint8)
    if data.size == 0:
        raise ImageConversionError(f"compressed image ({msg.format!r}) has no data")
    decoded = cv2.imdecode(data, cv2.IMREAD_COLOR)  # BGR, 8 bit
    if decoded is None:
        raise ImageConversionError(
            f"compressed image ({msg.format!r}, {data.size} bytes) could not be decoded"
        )
    height, width = decoded.shape[:2]
    if max_pixels is not None and width * height > max_pixels:
        raise ImageConversionError(
            f"image too large: {width}x{height} = {width * height} pixels > {max_pixels}"
        )
    return cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)


def rgb_to_compressed(
    rgb: np.ndarray, header: Header | None = None, fmt: str = "jpeg", quality: int = 90
) -> CompressedImage:
    """Encodes an (H, W, 3) uint8 RGB array as a CompressedImage (``jpeg`` or ``png``)."""
    bgr = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR)
    if fmt == "jpeg":
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
        fmt_field = "rgb8; jpeg compressed bgr8"
    elif fmt == "png":
        ok, buf = cv2.imencode(".png", bgr)
        fmt_field = "rgb8; png compressed bgr8"
    else:
        raise ValueError(f"format must be 'jpeg' or 'png', not {fmt!r}")
    if not ok:
        raise ValueError(f"OpenCV could not encode a {rgb.shape} image as {fmt}")
    msg = CompressedImage()
    if header is not None:
        msg.header = header
    msg.format = fmt_field
    msg.data = array.array("B", buf.tobytes())
    return msg


# ------------------------------------------------------------------- SkeletonGraph


def ground_truth_to_msg(
    joints: np.ndarray,
    visible: np.ndarray,
    adjacency: np.ndarray,
    image_size: tuple[int, int],
    header: Header | None = None,
) -> SkeletonGraph:
    """Builds the ground-truth SkeletonGraph of a simulated frame (see ground_truth_skeleton).

    Args:
        joints: (J, 2) pixel xy.
        visible: (J,) bool.
        adjacency: (J, J) bool, symmetric.
        image_size: (width, height) of the image.
        header: copied into the message.
    """
    skeleton = ground_truth_skeleton(joints, visible, adjacency, image_size)
    return skeleton_to_msg(skeleton, GRAPH_TYPES, header)


def skeleton_3d_to_msg(
    graph: SkeletonGraph,
    points: np.ndarray,
    valid: np.ndarray,
    depth: np.ndarray,
    header: Header,
) -> SkeletonGraph3D:
    """Builds the SkeletonGraph3D of a SkeletonGraph whose joints were placed in 3D.

    Joints keep the source's order, ids, pixels and scores; links are copied. Invalid
    joints get NaN positions and depth.

    Args:
        graph: the source skeleton (its header's frame_id is the camera frame).
        points: (K, 3) metres in ``header.frame_id``, one row per ``graph.joints``.
        valid: (K,) bool.
        depth: (K,) metres along the camera's optical axis.
        header: stamp and the frame of ``points``.
    """
    msg = SkeletonGraph3D(header=header, camera_frame_id=graph.header.frame_id)
    msg.image_width, msg.image_height = graph.image_width, graph.image_height
    nan = float("nan")
    joints = []
    for joint, p, ok, z in zip(
        graph.joints, np.asarray(points).tolist(), valid.tolist(), depth.tolist(), strict=True
    ):
        out = SkeletonJoint3D(id=joint.id, valid=bool(ok), x=joint.x, y=joint.y, score=joint.score)
        out.position.x, out.position.y, out.position.z = p if ok else (nan, nan, nan)
        out.depth = float(z) if ok else nan
        joints.append(out)
    msg.joints = joints
    msg.links = list(graph.links)
    return msg


def ground_truth_3d_to_msg(
    joints: np.ndarray,
    joints_3d: np.ndarray,
    visible: np.ndarray,
    adjacency: np.ndarray,
    image_size: tuple[int, int],
    header: Header | None = None,
) -> SkeletonGraph3D:
    """Builds the ground-truth SkeletonGraph3D of a simulated frame.

    The joints and links of :func:`ground_truth_to_msg` (visible joints, id = joint
    index), each with its true position in the optical frame, valid, depth = its z.

    Args:
        joints: (J, 2) pixel xy.
        joints_3d: (J, 3) metres in the optical frame ``header.frame_id``.
        visible: (J,) bool.
        adjacency: (J, J) bool, symmetric.
        image_size: (width, height) of the image.
        header: copied into the message.
    """
    graph = ground_truth_to_msg(joints, visible, adjacency, image_size, header)
    keep = np.flatnonzero(np.asarray(visible, bool).reshape(-1))
    points = np.asarray(joints_3d, np.float64).reshape(-1, 3)[keep]
    valid = np.isfinite(points).all(axis=1)
    return skeleton_3d_to_msg(graph, points, valid, points[:, 2], graph.header)


# ---------------------------------------------------------------------- CameraInfo


def make_camera_info(
    width: int,
    height: int,
    intrinsics: tuple[float, float, float, float],
    header: Header | None = None,
) -> CameraInfo:
    """Builds a CameraInfo for an undistorted pinhole camera.

    Args:
        width: image width in pixels.
        height: image height in pixels.
        intrinsics: (fx, fy, cx, cy) in pixels.
        header: copied into the message.
    """
    msg = CameraInfo(**pinhole_camera_info(width, height, intrinsics))
    if header is not None:
        msg.header = header
    return msg


def camera_info_intrinsics(msg: CameraInfo) -> tuple[float, float, float, float] | None:
    """Returns (fx, fy, cx, cy) from a CameraInfo's K matrix, or None if uncalibrated."""
    k = [float(v) for v in msg.k]
    fx, fy, cx, cy = k[0], k[4], k[2], k[5]
    if not (fx > 0 and fy > 0 and np.isfinite([fx, fy, cx, cy]).all()):
        return None
    return fx, fy, cx, cy


def ns_to_stamp(ns: int) -> Time:
    """Converts integer nanoseconds to a builtin_interfaces/Time."""
    return Time(sec=int(ns // NS_PER_S), nanosec=int(ns % NS_PER_S))
