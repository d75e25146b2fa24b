"""The ``detector`` node: images in, skeletons (plus markers, debug image, diagnostics) out.

A thin ROS adapter around :class:`skeleton_perception.SkeletonDetector`: message ->
numpy (:mod:`skeleton_perception.nodes.conversions`) -> detector -> message. A worker thread
runs the model and takes the images itself (:mod:`.worker_subscription`) whenever it is
free: the newest image replaces an unprocessed one in the subscription's depth-1 history,
the executor is never blocked and never spends time on images the model will not see,
and nothing queues without bound. Images the model never saw are counted as dropped from
the gaps in the publishers' sequence numbers.

Topics (all relative, so namespaces and remapping work):
    image (sensor_msgs/Image) or image/compressed (sensor_msgs/CompressedImage) in,
    camera_info (sensor_msgs/CameraInfo) in, optional: places the markers;
    skeleton (SkeletonGraph) out, header copied from the image;
    skeleton_markers (visualization_msgs/MarkerArray) out, while subscribed;
    debug_image (sensor_msgs/Image, rgb8) out, drawn only while subscribed;
    /diagnostics (diagnostic_msgs/DiagnosticArray) out, every ``diagnostics_period`` s.

Run: ``ros2 run skeleton_perception detector --ros-args -r image:=/camera/image_raw``.
"""

from __future__ import annotations

import re
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    SetParametersResult,
)
from rclpy.node import Node
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
)
from rclpy.qos_overriding_options import QoSOverridingOptions
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from skeleton_perception.drawing import draw_skeleton
from skeleton_perception.msg import SkeletonGraph
from skeleton_perception.nodes.conversions import (
    GRAPH_TYPES,
    RGB_ENCODINGS,
    ImageConversionError,
    camera_info_intrinsics,
    compressed_to_rgb,
    image_to_numpy,
    rgb_to_image,
    to_rgb,
)
from skeleton_perception.nodes.markers import skeleton_markers
from skeleton_perception.nodes.runner import declare_parameter_table, run_node
from skeleton_perception.nodes.stats import LatencyWindow, RateMeter, SequenceGaps
from skeleton_perception.nodes.worker_subscription import WorkerSubscription
from skeleton_perception.skeleton_msg import skeleton_to_msg

NODE_NAME = "skeleton_detector"

# Images: depth 1, keep last, best effort (matches reliable and best-effort cameras).
SENSOR_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=ReliabilityPolicy.BEST_EFFORT,
    durability=DurabilityPolicy.VOLATILE,
)
# Outputs: reliable (any subscriber matches), keep last.
OUTPUT_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE
)
DEBUG_IMAGE_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE
)

DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
WARN_THROTTLE_S = 5.0


def _range(lo: float, hi: float) -> list[FloatingPointRange]:
    return [FloatingPointRange(from_value=float(lo), to_value=float(hi), step=0.0)]


# name -> (default, description, extra descriptor fields). Read-only ones are fixed at start.
PARAMETERS: dict[str, tuple[Any, str, dict[str, Any]]] = {
    "model_path": (
        "",
        "Checkpoint file (.pt) of the skeleton model; empty: the model shipped in the package.",
        {"read_only": True},
    ),
    "device": (
        "auto",
        "Inference device: auto (CUDA when available), cpu, cuda or cuda:N.",
        {"read_only": True},
    ),
    "half": (False, "Run the model in float16 (CUDA only).", {"read_only": True}),
    "num_threads": (
        1,
        "CPU threads for inference (torch.set_num_threads); 0: PyTorch's default. One "
        "thread is fastest for this small model, and much steadier on a busy CPU.",
        {"read_only": True, "integer_range": [IntegerRange(from_value=0, to_value=256, step=1)]},
    ),
    "optimize": (
        True,
        "Run an inference-only copy of the model (BatchNorm folded into the convolutions; on "
        "the CPU, prepacked oneDNN convolutions with fused activations): the same results, "
        "faster. false: run the model as loaded (for comparisons).",
        {"read_only": True},
    ),
    "structure": (
        "",
        "How the joints and links are predicted: fixed (the model's chosen joints in every "
        "image, linked by the tree that follows the object), search (the link set minimising "
        "the skeleton losses for the image's points) or psi (the network); empty: the "
        "checkpoint's choice.",
        {"read_only": True},
    ),
    "use_compressed": (
        False,
        "Subscribe <image>/compressed (sensor_msgs/CompressedImage, JPEG or PNG) instead of "
        "the raw image topic.",
        {"read_only": True},
    ),
    "link_threshold": (
        0.5,
        "Links are published when their connection probability exceeds this value.",
        {"floating_point_range": _range(0.0, 1.0)},
    ),
    "min_joint_score": (
        0.0,
        "Joints whose score is below this value are dropped (with their links).",
        {"floating_point_range": _range(0.0, 1.0)},
    ),
    "max_rate_hz": (
        0.0,
        "Process at most this many images per second (others are skipped); 0: no limit.",
        {"floating_point_range": _range(0.0, 10000.0)},
    ),
    "max_image_pixels": (
        4096 * 4096,
        "Images with more pixels (width*height) are refused as malformed.",
        {"integer_range": [IntegerRange(from_value=1, to_value=2**31 - 1, step=1)]},
    ),
    "marker_depth": (
        1.0,
        "Markers are drawn on a plane this many metres in front of the camera.",
        {"floating_point_range": _range(0.01, 1000.0)},
    ),
    "marker_lifetime": (
        0.5,
        "Lifetime of the markers in seconds (0: forever).",
        {"floating_point_range": _range(0.0, 3600.0)},
    ),
    "marker_namespace": ("skeleton", "Namespace (ns) of the markers.", {}),
    "diagnostics_period": (
        1.0,
        "Seconds between two /diagnostics messages.",
        {"read_only": True, "floating_point_range": _range(0.1, 60.0)},
    ),
}


@dataclass
class _Frame:
    """An image waiting for the worker."""

    header: Header
    pixels: np.ndarray | None  # validated raw pixels (raw transport)
    encoding: str
    compressed: CompressedImage | None  # undecoded data (compressed transport)
    received: float  # time.monotonic() at reception


def _age_s(info: dict) -> float:
    """Seconds since the middleware received the message (0 when it does not say)."""
    received_ns = info.get("received_timestamp") or 0
    age = (time.time_ns() - received_ns) * 1e-9
    return age if 0.0 < age < 10.0 else 0.0


def check_parameter(name: str, value: Any) -> str | None:
    """Returns why ``value`` is not acceptable for parameter ``name``, or None if it is.

    Ranges and types are checked by rclpy from the descriptors; this adds the rest.
    """
    if name == "device" and not DEVICE_PATTERN.match(str(value)):
        return f"device must be auto, cpu, cuda or cuda:N, not {value!r}"
    if name == "structure" and str(value) not in ("", "psi", "search", "fixed"):
        return f"structure must be empty, fixed, psi or search, not {value!r}"
    if name == "marker_namespace" and not str(value):
        return "marker_namespace must not be empty"
    return None


def load_detector(
    model_path: str,
    device: str,
    link_threshold: float,
    min_joint_score: float,
    half: bool,
    optimize: bool = True,
    structure: str = "",
):
    """Loads the model; the error names the checkpoint file on any failure."""
    from skeleton_perception import SkeletonDetector  # imports torch: only when needed

    try:
        return SkeletonDetector.from_checkpoint(
            path=model_path or None,
            device=device,
            link_threshold=link_threshold,
            min_joint_score=min_joint_score,
            half=half,
            optimize=optimize,
            structure=structure or None,
        )
    except Exception as err:
        what = f"model {model_path}" if model_path else "default model"
        text = str(err)
        if model_path and model_path not in text:
            text = f"{model_path}: {text}"
        raise RuntimeError(f"cannot load the {what} on device {device!r}: {text}") from err


class DetectorNode(Node):
    """Runs :class:`SkeletonDetector` on every image it can keep up with.

    Args:
        **kwargs: passed to :class:`rclpy.node.Node` (``cli_args``,
            ``parameter_overrides``, ``namespace``, ``context``...).

    Raises:
        rclpy.exceptions.InvalidParameterValueException: a parameter value is refused.
        RuntimeError: the model cannot be loaded (the message names the file).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(kwargs.pop("node_name", NODE_NAME), **kwargs)
        try:
            self._setup()
        except BaseException:
            self._stop_worker()
            super().destroy_node()
            raise

    # ------------------------------------------------------------------ setup
    def _setup(self) -> None:
        self._worker: threading.Thread | None = None
        self._stop = threading.Event()
        self._images: WorkerSubscription | None = None
        # Validation runs for the declarations too: a bad override fails the start.
        self.add_on_set_parameters_callback(self._on_set_parameters)
        declare_parameter_table(self, PARAMETERS)
        p = {name: self.get_parameter(name).value for name in PARAMETERS}
        self._max_rate_hz = float(p["max_rate_hz"])
        self._max_pixels = int(p["max_image_pixels"])
        self._marker_depth = float(p["marker_depth"])
        self._marker_lifetime = float(p["marker_lifetime"])
        self._marker_ns = str(p["marker_namespace"])

        if p["num_threads"] > 0:
            import torch

            torch.set_num_threads(int(p["num_threads"]))
        self._model_path = str(p["model_path"])
        self.detector = load_detector(
            self._model_path,
            str(p["device"]),
            float(p["link_threshold"]),
            float(p["min_joint_score"]),
            bool(p["half"]),
            bool(p["optimize"]),
            str(p["structure"]),
        )
        self.get_logger().info(
            f"model {self._model_path or '(default)'} on device {self.detector.device} "
            f"(device parameter: {p['device']}), links by {self.detector.model.cfg.structure}"
        )
        if p["half"] and not str(self.detector.device).startswith("cuda"):
            self.get_logger().warning("half:=true is ignored on the CPU (float32 inference)")
        # One inference now: the first image is not slow, and a model that cannot run on
        # this device fails the start instead of every frame.
        try:
            self.detector(np.zeros((64, 64, 3), np.uint8))
        except Exception as err:
            raise RuntimeError(
                f"the model {self._model_path or '(default)'} loaded but cannot run on "
                f"{self.detector.device}: {err}"
            ) from err

        # Counters (written by the callback or the worker, read by diagnostics).
        self.input_rate = RateMeter()
        self.output_rate = RateMeter()
        self.latency = LatencyWindow()
        self.inference = LatencyWindow()  # seconds in the model per image
        self._model_s = 0.0  # total seconds the worker spent in the model
        self._reported_model_s = 0.0
        self._reported_at = time.monotonic()
        self.malformed = 0
        self.dropped = 0  # published to us, but never run: overwritten or lost on the way
        self._gaps = SequenceGaps()
        self.skipped_rate = 0
        self.errors = 0
        self.markers_published = 0
        self.debug_images_published = 0
        self._last_problem = ""
        self._reported_malformed = 0
        self._next_accept = 0.0
        self._intrinsics: tuple[float, float, float, float] | None = None

        overrides = QoSOverridingOptions.with_default_policies()
        self._use_compressed = bool(p["use_compressed"])
        msg_type = CompressedImage if self._use_compressed else Image
        topic = self.resolve_topic_name("image") + ("/compressed" if self._use_compressed else "")
        self._images = WorkerSubscription(
            self, msg_type, topic, SENSOR_QOS, qos_overriding_options=overrides
        )
        self.input_topic = self._images.topic_name
        self._info_sub = self.create_subscription(
            CameraInfo, "camera_info", self._on_camera_info, SENSOR_QOS
        )
        self.skeleton_pub = self.create_publisher(
            SkeletonGraph, "skeleton", OUTPUT_QOS, qos_overriding_options=overrides
        )
        self.markers_pub = self.create_publisher(MarkerArray, "skeleton_markers", OUTPUT_QOS)
        self.debug_pub = self.create_publisher(Image, "debug_image", DEBUG_IMAGE_QOS)
        self.diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", OUTPUT_QOS)
        self._diag_timer = self.create_timer(float(p["diagnostics_period"]), self._diagnostics)

        self._worker = threading.Thread(target=self._run_worker, name="detector", daemon=True)
        self._worker.start()
        self.get_logger().info(
            f"listening on {self.input_topic}, publishing {self.skeleton_pub.topic_name}"
        )

    def _on_set_parameters(self, params: list) -> SetParametersResult:
        for param in params:
            reason = check_parameter(param.name, param.value)
            if reason:
                return SetParametersResult(successful=False, reason=reason)
        if not hasattr(self, "detector"):  # declarations at start: nothing to apply yet
            return SetParametersResult(successful=True)
        for param in params:
            if param.name in ("link_threshold", "min_joint_score"):
                setattr(self.detector, param.name, float(param.value))
            elif param.name == "max_rate_hz":
                self._max_rate_hz = float(param.value)
            elif param.name == "max_image_pixels":
                self._max_pixels = int(param.value)
            elif param.name == "marker_depth":
                self._marker_depth = float(param.value)
            elif param.name == "marker_lifetime":
                self._marker_lifetime = float(param.value)
            elif param.name == "marker_namespace":
                self._marker_ns = str(param.value)
        return SetParametersResult(successful=True)

    # -------------------------------------------------------------- callbacks
    def _rate_allows(self, now: float) -> bool:
        if self._max_rate_hz <= 0:
            return True
        if now < self._next_accept:
            return False
        period = 1.0 / self._max_rate_hz
        # Tolerate 10% early frames so a 30 Hz camera is not halved by jitter at 30 Hz.
        self._next_accept = max(self._next_accept + period, now + 0.9 * period)
        return True

    def _to_frame(self, msg: Image | CompressedImage, now: float) -> _Frame | None:
        """Validates a taken image; a malformed one is counted and gives None."""
        if self._use_compressed:
            return _Frame(msg.header, None, "", msg, now)
        try:
            if msg.encoding not in RGB_ENCODINGS:  # before decoding: one list, the detector's
                raise ImageConversionError(
                    f"unsupported encoding {msg.encoding!r} (the detector takes "
                    f"{', '.join(RGB_ENCODINGS)})"
                )
            pixels = image_to_numpy(msg, self._max_pixels)  # validates; a view, no copy
        except ImageConversionError as err:
            self._count_malformed(err)
            return None
        return _Frame(msg.header, pixels, msg.encoding, None, now)

    def _on_camera_info(self, msg: CameraInfo) -> None:
        self._intrinsics = camera_info_intrinsics(msg)

    def _count_malformed(self, err: Exception) -> None:
        self.malformed += 1
        self._last_problem = str(err)
        self.get_logger().warning(
            f"dropped a malformed image on {self.input_topic}: {err}",
            throttle_duration_sec=WARN_THROTTLE_S,
        )

    # ----------------------------------------------------------------- worker
    def _run_worker(self) -> None:
        while not self._stop.is_set():
            try:
                msg, info, taken = self._images.take_newest(timeout_s=0.5)
                if msg is None:
                    continue
                now = time.monotonic()
                gid = info.get("publisher_gid") or {}
                missed = self._gaps.missed(
                    bytes(gid.get("data", b"")), info.get("publication_sequence_number")
                )
                if missed is None:  # no sequence numbers from this middleware
                    missed = taken - 1
                self.dropped += missed
                self.input_rate.tick(now, count=missed + 1)
                if not self._rate_allows(now):
                    self.skipped_rate += 1
                    continue
                frame = self._to_frame(msg, now - _age_s(info))
                if frame is not None:
                    self._process(frame)
            except Exception as err:  # e.g. publishing during shutdown: keep the worker
                if self._stop.is_set():
                    return
                self.errors += 1
                self._last_problem = f"processing failed: {err}"
                self.get_logger().error(
                    f"processing an image failed: {err!r}", throttle_duration_sec=WARN_THROTTLE_S
                )
                self._stop.wait(0.01)  # a failing wait (context gone) must not spin the CPU

    def _process(self, frame: _Frame) -> None:
        try:
            if frame.compressed is not None:
                rgb = compressed_to_rgb(frame.compressed, self._max_pixels)
            else:
                # rgb8 is used in place: the detector and draw_skeleton only read it
                rgb = to_rgb(frame.pixels, frame.encoding, copy=False)
        except ImageConversionError as err:
            self._count_malformed(err)
            return
        try:
            start = time.perf_counter()
            skeleton = self.detector(rgb)
            model_s = time.perf_counter() - start
        except Exception as err:  # keep serving: one bad frame must not end the node
            self.errors += 1
            self._last_problem = f"inference failed: {err}"
            self.get_logger().error(
                f"inference failed on a {rgb.shape[1]}x{rgb.shape[0]} image: {err!r}",
                throttle_duration_sec=WARN_THROTTLE_S,
            )
            return
        self.inference.add(model_s)
        self._model_s += model_s
        skeleton.image_size = (rgb.shape[1], rgb.shape[0])
        self.skeleton_pub.publish(skeleton_to_msg(skeleton, GRAPH_TYPES, frame.header))
        self.latency.add(time.monotonic() - frame.received)
        self.output_rate.tick()
        if self.markers_pub.get_subscription_count() > 0:
            self.markers_pub.publish(
                skeleton_markers(
                    skeleton,
                    frame.header,
                    self._intrinsics,
                    depth=self._marker_depth,
                    namespace=self._marker_ns,
                    lifetime_s=self._marker_lifetime,
                )
            )
            self.markers_published += 1
        if self.debug_pub.get_subscription_count() > 0:
            self.debug_pub.publish(rgb_to_image(draw_skeleton(rgb, skeleton), frame.header))
            self.debug_images_published += 1

    # ------------------------------------------------------------ diagnostics
    def _diagnostics(self) -> None:
        lat = self.latency.percentiles_ms((50, 95, 99))
        inference = self.inference.percentiles_ms((50, 99))
        in_hz, out_hz = self.input_rate.rate(), self.output_rate.rate()
        now, model_s = time.monotonic(), self._model_s
        # Share of the period the worker spent in the model: near 1 under a flood means
        # the output rate is limited by the model alone, not by the node around it.
        model_busy = (model_s - self._reported_model_s) / max(now - self._reported_at, 1e-9)
        self._reported_model_s, self._reported_at = model_s, now
        new_malformed = self.malformed - self._reported_malformed
        self._reported_malformed = self.malformed
        status = DiagnosticStatus(
            name=f"{self.get_fully_qualified_name()}: skeleton detector",
            hardware_id=str(self.detector.device),
        )
        if new_malformed or self.errors:
            status.level = DiagnosticStatus.WARN
            status.message = f"{new_malformed} malformed image(s): {self._last_problem}"
        elif self.input_rate.count == 0:
            status.level = DiagnosticStatus.OK
            status.message = f"waiting for images on {self.input_topic}"
        else:
            status.level = DiagnosticStatus.OK
            status.message = f"{in_hz:.1f} Hz in, {out_hz:.1f} Hz out"
        values = {
            "input_topic": self.input_topic,
            "input_rate_hz": f"{in_hz:.2f}",
            "output_rate_hz": f"{out_hz:.2f}",
            "frames_received": self.input_rate.count,
            "frames_published": self.output_rate.count,
            "frames_dropped": self.dropped,
            "frames_skipped_max_rate": self.skipped_rate,
            "frames_malformed": self.malformed,
            "inference_errors": self.errors,
            "latency_p50_ms": f"{lat[50]:.2f}",
            "latency_p95_ms": f"{lat[95]:.2f}",
            "latency_p99_ms": f"{lat[99]:.2f}",
            "inference_p50_ms": f"{inference[50]:.2f}",
            "inference_p99_ms": f"{inference[99]:.2f}",
            "model_busy_fraction": f"{min(model_busy, 1.0):.3f}",
            "device": self.detector.device,
            "model": self._model_path or "(default)",
            "last_problem": self._last_problem,
        }
        status.values = [KeyValue(key=k, value=str(v)) for k, v in values.items()]
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self.get_clock().now().to_msg()
        self.diagnostics_pub.publish(msg)

    # --------------------------------------------------------------- shutdown
    def _stop_worker(self) -> None:
        if not hasattr(self, "_stop"):
            return
        self._stop.set()
        images = getattr(self, "_images", None)
        if images is not None:
            images.close()
        worker = getattr(self, "_worker", None)
        if worker is not None and worker is not threading.current_thread():
            worker.join(timeout=10.0)
        if images is not None:
            images.destroy(self)
            self._images = None

    def destroy_node(self) -> None:
        """Stops the worker thread, then destroys the node."""
        self._stop_worker()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """Entry point of the ``detector`` executable."""
    return run_node(DetectorNode, NODE_NAME, args)


if __name__ == "__main__":
    sys.exit(main())
