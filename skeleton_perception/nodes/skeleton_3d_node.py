"""The ``skeleton_3d`` node: skeletons in 3D from an aligned depth image and camera_info.

A thin ROS adapter around :mod:`skeleton_perception.deprojection`: each ``skeleton``
(from the detector) is paired by stamp with the aligned ``depth`` image
(:mod:`skeleton_perception.stamp_sync`), every joint is placed in the camera's optical
frame with the median depth of a small window and the pinhole model of the latest
``camera_info``, and the result is optionally transformed into ``target_frame`` (tf2, or
a fixed ``static_transform``).

Topics (all relative):
    skeleton (SkeletonGraph) in;
    depth (sensor_msgs/Image, 16UC1 millimetres or 32FC1 metres, aligned to the colour
        image the skeleton came from) in;
    camera_info (sensor_msgs/CameraInfo of that image) in;
    skeleton_3d (SkeletonGraph3D) out;
    skeleton_3d_markers (visualization_msgs/MarkerArray) out, while subscribed;
    /diagnostics (diagnostic_msgs/DiagnosticArray) out.

Bad input (a depth image of another size, a wrong encoding, no camera_info, stamps that
never match, a depth image with no valid pixel, a missing transform) is counted and
reported by a warning per kind, throttled; the node keeps running.

Run: ``ros2 run skeleton_perception skeleton_3d --ros-args -r depth:=/camera/aligned_depth``.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    SetParametersResult,
)
from rclpy.exceptions import ParameterUninitializedException
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.qos_overriding_options import QoSOverridingOptions
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from skeleton_perception.deprojection import (
    DeprojectionError,
    DepthWindow,
    PinholeCamera,
    deproject,
    depth_scale,
    quaternion_matrix,
    transform_points,
    valid_depth_mask,
)
from skeleton_perception.msg import SkeletonGraph, SkeletonGraph3D
from skeleton_perception.nodes.conversions import (
    ImageConversionError,
    image_to_numpy,
    skeleton_3d_to_msg,
)
from skeleton_perception.nodes.markers import skeleton_3d_markers
from skeleton_perception.nodes.runner import declare_parameter_table, run_node
from skeleton_perception.nodes.stats import LatencyWindow, RateMeter
from skeleton_perception.skeleton_msg import msg_to_skeleton, stamp_to_ns
from skeleton_perception.stamp_sync import NearestStampSync, SyncResult

try:  # a ROS 2 install has tf2_ros; PyPI's ROS 2 wheels do not
    import tf2_ros
except ImportError:  # pragma: no cover - depends on the install
    tf2_ros = None

NODE_NAME = "skeleton_3d"
WARN_THROTTLE_S = 5.0

# Inputs: best effort (matches reliable and best-effort publishers), a few kept so that a
# depth image can wait for its skeleton, which comes later (after the detector).
INPUT_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST, depth=5, reliability=ReliabilityPolicy.BEST_EFFORT
)
OUTPUT_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE
)

# The kinds of bad input, each counted and warned about on its own.
PROBLEMS = (
    "skeleton_malformed",  # a link naming a joint id the skeleton does not list
    "depth_malformed",  # unknown/wrong encoding, step/data inconsistent
    "depth_size_mismatch",  # depth image of another size than the skeleton's image
    "camera_info_missing",  # no camera_info received yet
    "camera_info_invalid",  # uncalibrated K, unsupported distortion, another size
    "unmatched",  # skeletons with no depth image within sync_tolerance
    "depth_empty",  # a depth image with no valid pixel at all
    "transform_missing",  # no transform from the camera frame into target_frame
    "processing_failed",  # anything else that went wrong with a pair (a bug)
)


def _range(lo: float, hi: float) -> list[FloatingPointRange]:
    return [FloatingPointRange(from_value=float(lo), to_value=float(hi), step=0.0)]


# name -> (default, description, extra descriptor fields). Read-only ones are fixed at start.
PARAMETERS: dict[str, tuple[Any, str, dict[str, Any]]] = {
    "sync_tolerance": (
        0.02,
        "Largest stamp difference in seconds between a skeleton and its depth image.",
        {"read_only": True, "floating_point_range": _range(0.0, 10.0)},
    ),
    "queue_size": (
        10,
        "Skeletons and depth images kept while waiting for their pair.",
        {"read_only": True, "integer_range": [IntegerRange(from_value=1, to_value=1000, step=1)]},
    ),
    "depth_window": (
        DepthWindow.window,
        "Side in pixels (odd) of the square around each joint whose valid depths' median "
        "is the joint's depth.",
        {"integer_range": [IntegerRange(from_value=1, to_value=101, step=2)]},
    ),
    "min_depth": (
        DepthWindow.min_depth,
        "Depths below this many metres are invalid (besides 0 and NaN).",
        {"floating_point_range": _range(0.0, 1000.0)},
    ),
    "max_depth": (
        DepthWindow.max_depth,
        "Depths above this many metres are invalid.",
        {"floating_point_range": _range(0.0, 1000.0)},
    ),
    "target_frame": (
        "",
        "Frame to publish the joints in (tf2 transform from the camera's frame at the "
        "skeleton's stamp); empty: the camera's optical frame.",
        {"read_only": True},
    ),
    "transform_timeout": (
        0.05,
        "Seconds a skeleton may wait for the tf2 transform at its stamp when it has not "
        "arrived yet (retried every 10 ms without blocking the node).",
        {"read_only": True, "floating_point_range": _range(0.0, 10.0)},
    ),
    "static_transform": (
        Parameter.Type.DOUBLE_ARRAY,
        "x y z qx qy qz qw: a fixed transform from static_transform_frame into "
        "target_frame, used instead of tf2 (a camera fixed on the robot, no TF tree).",
        {"read_only": True},
    ),
    "static_transform_frame": (
        "camera_optical_frame",
        "The source frame of static_transform.",
        {"read_only": True},
    ),
    "marker_lifetime": (
        0.5,
        "Lifetime of the markers in seconds (0: forever).",
        {"floating_point_range": _range(0.0, 3600.0)},
    ),
    "marker_namespace": ("skeleton_3d", "Namespace (ns) of the markers.", {}),
    "joint_diameter": (
        0.04,
        "Diameter of the joint spheres in metres.",
        {"floating_point_range": _range(0.001, 10.0)},
    ),
    "link_width": (
        0.015,
        "Width of the link lines in metres.",
        {"floating_point_range": _range(0.001, 10.0)},
    ),
    "diagnostics_period": (
        1.0,
        "Seconds between two /diagnostics messages.",
        {"read_only": True, "floating_point_range": _range(0.1, 60.0)},
    ),
}


@dataclass
class _Placed:
    """A skeleton placed in the optical frame, before any transform."""

    skeleton: SkeletonGraph
    points: np.ndarray  # (K, 3) metres, optical frame, NaN rows where invalid
    valid: np.ndarray  # (K,) bool
    depth: np.ndarray  # (K,) metres
    start: float  # time.perf_counter() when its processing started


def check_parameter(name: str, value: Any) -> str | None:
    """Returns why ``value`` is not acceptable for parameter ``name``, or None if it is."""
    if name == "depth_window" and int(value) % 2 == 0:
        return f"depth_window must be odd, not {value}"
    if name == "marker_namespace" and not str(value):
        return "marker_namespace must not be empty"
    if name == "static_transform" and value is not None and len(value) not in (0, 7):
        return f"static_transform needs 7 numbers (x y z qx qy qz qw), got {len(value)}"
    if name == "static_transform" and value is not None and len(value) == 7:
        try:
            quaternion_matrix(*value[3:])
        except DeprojectionError as err:
            return f"static_transform: {err}"
    return None


class Skeleton3DNode(Node):
    """Places the joints of each skeleton in 3D with the aligned depth image.

    Args:
        **kwargs: passed to :class:`rclpy.node.Node`.

    Raises:
        rclpy.exceptions.InvalidParameterValueException: a parameter value is refused.
        RuntimeError: target_frame is set without a transform source.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(kwargs.pop("node_name", NODE_NAME), **kwargs)
        try:
            self._setup()
        except BaseException:
            super().destroy_node()
            raise

    # ------------------------------------------------------------------ setup
    def _setup(self) -> None:
        self.add_on_set_parameters_callback(self._on_set_parameters)
        declare_parameter_table(self, PARAMETERS)
        p = {name: self._value(name) for name in PARAMETERS}
        try:
            self.window = DepthWindow(
                int(p["depth_window"]), float(p["min_depth"]), float(p["max_depth"])
            )
        except DeprojectionError as err:
            raise RuntimeError(f"bad depth parameters: {err}") from err
        self._marker_lifetime = float(p["marker_lifetime"])
        self._marker_ns = str(p["marker_namespace"])
        self._joint_diameter = float(p["joint_diameter"])
        self._link_width = float(p["link_width"])

        self.target_frame = str(p["target_frame"])
        self._static: tuple[str, np.ndarray, np.ndarray] | None = None
        self._tf_buffer = None
        if p["static_transform"]:
            values = [float(v) for v in p["static_transform"]]
            self._static = (
                str(p["static_transform_frame"]),
                quaternion_matrix(*values[3:]),
                np.array(values[:3]),
            )
            if not self.target_frame:
                raise RuntimeError("static_transform is set but target_frame is empty")
        elif self.target_frame:
            if tf2_ros is None:
                raise RuntimeError(
                    f"target_frame {self.target_frame!r} needs tf2_ros, which is not "
                    "installed (PyPI's ROS 2 wheels have none): run in a ROS 2 install, or "
                    "give the camera's fixed pose as static_transform"
                )
            self._tf_buffer = tf2_ros.Buffer()
            self._tf_listener = tf2_ros.TransformListener(self._tf_buffer, self)
        self._tf_timeout = float(p["transform_timeout"])
        self._tf_waiting: deque[_Placed] = deque(maxlen=int(p["queue_size"]))
        if self._tf_buffer is not None:
            self._tf_timer = self.create_timer(0.01, self._retry_transforms)

        # Counters (all touched by the executor thread only).
        self.skeleton_rate = RateMeter()
        self.depth_rate = RateMeter()
        self.output_rate = RateMeter()
        self.processing = LatencyWindow()  # seconds per published skeleton
        self.problems = dict.fromkeys(PROBLEMS, 0)
        self._reported = dict.fromkeys(PROBLEMS, 0)
        self._warned_at = dict.fromkeys(PROBLEMS, -np.inf)
        self._last_problem = ""
        self.joints_total = 0
        self.joints_valid = 0
        self.markers_published = 0
        self._camera_info: CameraInfo | None = None
        self._camera: PinholeCamera | None = None
        self._camera_error: str | None = None

        tolerance_ns = round(float(p["sync_tolerance"]) * 1e9)
        self.sync = NearestStampSync(tolerance_ns, int(p["queue_size"]))
        overrides = QoSOverridingOptions.with_default_policies()
        self._skeleton_sub = self.create_subscription(
            SkeletonGraph,
            "skeleton",
            self._on_skeleton,
            INPUT_QOS,
            qos_overriding_options=overrides,
        )
        self._depth_sub = self.create_subscription(
            Image, "depth", self._on_depth, INPUT_QOS, qos_overriding_options=overrides
        )
        self._info_sub = self.create_subscription(
            CameraInfo, "camera_info", self._on_camera_info, INPUT_QOS
        )
        self.skeleton_pub = self.create_publisher(SkeletonGraph3D, "skeleton_3d", OUTPUT_QOS)
        self.markers_pub = self.create_publisher(MarkerArray, "skeleton_3d_markers", OUTPUT_QOS)
        self.diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", OUTPUT_QOS)
        self._diag_timer = self.create_timer(float(p["diagnostics_period"]), self._diagnostics)
        self.topics = {
            "skeleton": self._skeleton_sub.topic_name,
            "depth": self._depth_sub.topic_name,
            "camera_info": self._info_sub.topic_name,
        }
        where = self.target_frame or "the camera's optical frame"
        self.get_logger().info(
            f"pairing {self.topics['skeleton']} with {self.topics['depth']} "
            f"(tolerance {p['sync_tolerance']} s) and {self.topics['camera_info']}, "
            f"publishing {self.skeleton_pub.topic_name} in {where}"
        )

    def _value(self, name: str) -> Any:
        """A parameter's value; None for a typed parameter left unset (static_transform)."""
        try:
            return self.get_parameter(name).value
        except ParameterUninitializedException:
            return None

    def _on_set_parameters(self, params: list) -> SetParametersResult:
        for param in params:
            reason = check_parameter(param.name, param.value)
            if reason:
                return SetParametersResult(successful=False, reason=reason)
        if not hasattr(self, "window"):  # declarations at start: checked in _setup
            return SetParametersResult(successful=True)
        values = {
            "depth_window": self.window.window,
            "min_depth": self.window.min_depth,
            "max_depth": self.window.max_depth,
        }
        values.update({p.name: p.value for p in params if p.name in values})
        try:
            window = DepthWindow(
                int(values["depth_window"]), float(values["min_depth"]), float(values["max_depth"])
            )
        except DeprojectionError as err:
            return SetParametersResult(successful=False, reason=str(err))
        self.window = window
        for param in params:
            if param.name == "marker_lifetime":
                self._marker_lifetime = float(param.value)
            elif param.name == "marker_namespace":
                self._marker_ns = str(param.value)
            elif param.name == "joint_diameter":
                self._joint_diameter = float(param.value)
            elif param.name == "link_width":
                self._link_width = float(param.value)
        return SetParametersResult(successful=True)

    # -------------------------------------------------------------- callbacks
    def _problem(self, kind: str, text: str) -> None:
        """Counts a bad input and warns, at most once per WARN_THROTTLE_S per kind."""
        self.problems[kind] += 1
        self._last_problem = text
        now = time.monotonic()
        if now - self._warned_at[kind] >= WARN_THROTTLE_S:
            self._warned_at[kind] = now
            self.get_logger().warning(f"{text} ({self.problems[kind]} so far)")

    def _on_camera_info(self, msg: CameraInfo) -> None:
        self._camera_info = msg
        self._camera = None  # built on use, once per new message
        self._camera_error = None

    def _on_skeleton(self, msg: SkeletonGraph) -> None:
        self.skeleton_rate.tick()
        self._handle(self.sync.add_main(stamp_to_ns(msg.header.stamp), msg))

    def _on_depth(self, msg: Image) -> None:
        self.depth_rate.tick()
        self._handle(self.sync.add_other(stamp_to_ns(msg.header.stamp), msg))

    def _handle(self, result: SyncResult) -> None:
        for skeleton, offset in result.unmatched:
            if offset is None:
                text = f"no depth image received on {self.topics['depth']} yet"
            else:
                text = (
                    f"no depth image on {self.topics['depth']} within "
                    f"{self.sync.tolerance_ns * 1e-9:.3f} s of the skeleton stamped "
                    f"{stamp_to_ns(skeleton.header.stamp) * 1e-9:.3f} (nearest: "
                    f"{offset * 1e-9:+.3f} s); check that both come from one camera clock"
                )
            self._problem("unmatched", text)
        for skeleton, depth in result.pairs:
            try:
                self.process(skeleton, depth)
            except Exception as err:  # keep serving: one bad pair must not end the node
                self._problem("processing_failed", f"placing a skeleton in 3D failed: {err!r}")

    # ------------------------------------------------------------- processing
    def _current_camera(self, width: int, height: int) -> PinholeCamera | None:
        info = self._camera_info
        if info is None:
            self._problem(
                "camera_info_missing",
                f"no camera_info received on {self.topics['camera_info']}: cannot deproject",
            )
            return None
        if self._camera is None and self._camera_error is None:
            try:
                self._camera = PinholeCamera.from_camera_info(
                    int(info.width), int(info.height), info.k, info.d, info.distortion_model
                )
            except DeprojectionError as err:
                self._camera_error = f"camera_info on {self.topics['camera_info']}: {err}"
        if self._camera_error is not None:
            self._problem("camera_info_invalid", self._camera_error)
            return None
        if (self._camera.width, self._camera.height) != (width, height):
            self._problem(
                "camera_info_invalid",
                f"camera_info on {self.topics['camera_info']} is for "
                f"{self._camera.width}x{self._camera.height} images, the depth image is "
                f"{width}x{height}",
            )
            return None
        return self._camera

    def _transform(self, source: str, stamp) -> tuple[np.ndarray, np.ndarray] | str:
        """(R, t) from ``source`` into target_frame at ``stamp``, or why there is none."""
        if self._static is not None:
            frame, rotation, translation = self._static
            if source == frame:
                return rotation, translation
            return f"static_transform is from {frame!r}, not {source!r}"
        try:
            tf = self._tf_buffer.lookup_transform(
                self.target_frame, source, Time.from_msg(stamp)
            ).transform
        except tf2_ros.TransformException as err:
            return str(err) or type(err).__name__
        q, t = tf.rotation, tf.translation
        return quaternion_matrix(q.x, q.y, q.z, q.w), np.array([t.x, t.y, t.z])

    def _finish(self, placed: _Placed) -> SkeletonGraph3D | None:
        """Transforms (if asked) and publishes a placed skeleton.

        A tf2 transform that is not there yet is waited for, up to ``transform_timeout``
        after the skeleton arrived, by :meth:`_retry_transforms`; then it is missing.
        """
        skeleton = placed.skeleton
        source = skeleton.header.frame_id
        header = Header(stamp=skeleton.header.stamp, frame_id=source)
        points = placed.points
        if self.target_frame and self.target_frame != source:
            transform = self._transform(source, skeleton.header.stamp)
            if isinstance(transform, str):
                waited = time.perf_counter() - placed.start
                if self._tf_buffer is not None and waited < self._tf_timeout:
                    if len(self._tf_waiting) == self._tf_waiting.maxlen:  # the oldest gives up
                        self._tf_waiting.popleft()
                        self._problem(
                            "transform_missing",
                            f"more than {self._tf_waiting.maxlen} skeletons wait for a "
                            f"transform into {self.target_frame!r}; the oldest is skipped",
                        )
                    self._tf_waiting.append(placed)
                    return None
                self._problem(
                    "transform_missing",
                    f"no transform from {source!r} into target_frame {self.target_frame!r}: "
                    f"{transform}; skeleton skipped",
                )
                return None
            points = transform_points(points, *transform)
            header.frame_id = self.target_frame
        msg = skeleton_3d_to_msg(skeleton, points, placed.valid, placed.depth, header)
        self.skeleton_pub.publish(msg)
        self.output_rate.tick()
        self.joints_total += len(placed.valid)
        self.joints_valid += int(placed.valid.sum())
        if self.markers_pub.get_subscription_count() > 0:
            self._publish_markers(skeleton, points, placed.valid, header)
        self.processing.add(time.perf_counter() - placed.start)
        return msg

    def _retry_transforms(self) -> None:
        """Retries the skeletons waiting for their tf2 transform (every 10 ms)."""
        for _ in range(len(self._tf_waiting)):
            self._finish(self._tf_waiting.popleft())

    def process(self, skeleton: SkeletonGraph, depth_msg: Image) -> SkeletonGraph3D | None:
        """Places one skeleton in 3D with its depth image and publishes it.

        Returns:
            The published message, or None when the pair was refused (counted, warned)
            or waits for its tf2 transform.
        """
        start = time.perf_counter()
        try:
            msg_to_skeleton(skeleton)  # its links must name its joints
        except ValueError as err:
            self._problem("skeleton_malformed", f"skeleton on {self.topics['skeleton']}: {err}")
            return None
        size = (int(skeleton.image_width), int(skeleton.image_height))
        if (depth_msg.width, depth_msg.height) != size:
            self._problem(
                "depth_size_mismatch",
                f"depth image on {self.topics['depth']} is {depth_msg.width}x"
                f"{depth_msg.height}, the skeleton's image {size[0]}x{size[1]}: the depth "
                "must be aligned to the colour image (e.g. aligned_depth_to_color)",
            )
            return None
        try:
            scale = depth_scale(depth_msg.encoding)
            depth = image_to_numpy(depth_msg)  # (H, W) uint16 or float32
        except (DeprojectionError, ImageConversionError) as err:
            self._problem("depth_malformed", f"depth image on {self.topics['depth']}: {err}")
            return None
        camera = self._current_camera(*size)
        if camera is None:
            return None
        pixels = np.array([(j.x, j.y) for j in skeleton.joints], np.float64).reshape(-1, 2)
        result = deproject(pixels, depth, camera, self.window, scale)
        if len(pixels) and not result.valid.any():
            metres = depth.astype(np.float32) * np.float32(scale)
            if not valid_depth_mask(metres, self.window).any():
                self._problem(
                    "depth_empty",
                    f"depth image on {self.topics['depth']} has no valid pixel (all 0, "
                    f"NaN or outside [{self.window.min_depth}, {self.window.max_depth}] m): "
                    "every joint is invalid",
                )
        return self._finish(_Placed(skeleton, result.points, result.valid, result.depth, start))

    def _publish_markers(self, skeleton, points, valid, header) -> None:
        rows = msg_to_skeleton(skeleton)  # joint ids and links as rows (checked by process)
        self.markers_pub.publish(
            skeleton_3d_markers(
                points,
                valid,
                rows.joint_ids,
                rows.links,
                header,
                namespace=self._marker_ns,
                lifetime_s=self._marker_lifetime,
                joint_diameter=self._joint_diameter,
                link_width=self._link_width,
            )
        )
        self.markers_published += 1

    # ------------------------------------------------------------ diagnostics
    def _diagnostics(self) -> None:
        new = {k: self.problems[k] - self._reported[k] for k in PROBLEMS}
        self._reported = dict(self.problems)
        status = DiagnosticStatus(name=f"{self.get_fully_qualified_name()}: skeleton 3d")
        status.hardware_id = self.topics["depth"]
        if any(new.values()):
            status.level = DiagnosticStatus.WARN
            kinds = ", ".join(f"{n} {k}" for k, n in new.items() if n)
            status.message = f"{kinds}: {self._last_problem}"
        elif self.skeleton_rate.count == 0:
            status.level = DiagnosticStatus.OK
            status.message = f"waiting for skeletons on {self.topics['skeleton']}"
        else:
            status.level = DiagnosticStatus.OK
            status.message = f"{self.output_rate.rate():.1f} Hz out"
        processing = self.processing.percentiles_ms((50, 99))
        values = {
            **{f"{k}_topic": v for k, v in self.topics.items()},
            "target_frame": self.target_frame or "(camera frame)",
            "skeleton_rate_hz": f"{self.skeleton_rate.rate():.2f}",
            "depth_rate_hz": f"{self.depth_rate.rate():.2f}",
            "output_rate_hz": f"{self.output_rate.rate():.2f}",
            "skeletons_received": self.skeleton_rate.count,
            "depth_images_received": self.depth_rate.count,
            "skeletons_published": self.output_rate.count,
            "skeletons_waiting": self.sync.waiting,
            **{k: n for k, n in self.problems.items()},
            "joints_valid_fraction": (
                f"{self.joints_valid / self.joints_total:.3f}" if self.joints_total else "nan"
            ),
            "processing_p50_ms": f"{processing[50]:.3f}",
            "processing_p99_ms": f"{processing[99]:.3f}",
            "last_problem": self._last_problem,
        }
        status.values = [KeyValue(key=k, value=str(v)) for k, v in values.items()]
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self.get_clock().now().to_msg()
        self.diagnostics_pub.publish(msg)


def main(args: list[str] | None = None) -> int:
    """Entry point of the ``skeleton_3d`` executable."""
    return run_node(Skeleton3DNode, NODE_NAME, args)


if __name__ == "__main__":
    sys.exit(main())
