"""The ``sim_camera`` node: a simulated camera with ground truth, for running without hardware.

Renders one of the training families (MuJoCo, moving under a random policy) with
:class:`skeleton_perception.training.sim.live.SimulatedCamera` and publishes, with one
shared header per frame (stamp = render time, ``frame_id`` parameter):

    image (sensor_msgs/Image, rgb8 or bgr8),
    camera_info (sensor_msgs/CameraInfo, the pinhole intrinsics of the render: of each
        episode's own camera with a random ``appearance``),
    ground_truth (SkeletonGraph: visible joints with id = ground-truth joint index,
        links from the model's adjacency, every score 1),
    depth (sensor_msgs/Image, 32FC1 metres or 16UC1 millimetres, aligned pixel for
        pixel with image: MuJoCo's depth render; the background is NaN or 0),
    ground_truth_3d (SkeletonGraph3D: the joints of ground_truth at their true 3D
        positions in the optical frame ``frame_id``).

Run: ``ros2 run skeleton_perception sim_camera --ros-args -p family:=cartpoles``.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

import numpy as np
from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    SetParametersResult,
)
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.qos_overriding_options import QoSOverridingOptions
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from skeleton_perception.msg import SkeletonGraph, SkeletonGraph3D
from skeleton_perception.nodes.conversions import (
    ground_truth_3d_to_msg,
    ground_truth_to_msg,
    make_camera_info,
    numpy_to_image,
    rgb_to_image,
)
from skeleton_perception.nodes.runner import declare_parameter_table, run_node

NODE_NAME = "sim_camera"

# Like a camera driver: keep last 1, best effort (override with qos_overrides).
IMAGE_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.BEST_EFFORT
)
GROUND_TRUTH_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE
)

_SIZE_RANGE = [IntegerRange(from_value=16, to_value=4096, step=1)]

# name -> (default, description, extra descriptor fields); all fixed at start.
PARAMETERS: dict[str, tuple[Any, str, dict[str, Any]]] = {
    "family": ("cartpoles", "Object family to simulate (a training family name).", {}),
    "seed": (0, "Random seed of the scene and the policy.", {}),
    "rate_hz": (
        20.0,
        "Frames per second (an upper bound: rendering slower than that lowers it).",
        {"floating_point_range": [FloatingPointRange(from_value=0.1, to_value=1000.0)]},
    ),
    "width": (320, "Image width in pixels.", {"integer_range": _SIZE_RANGE}),
    "height": (240, "Image height in pixels.", {"integer_range": _SIZE_RANGE}),
    "frame_id": ("camera_optical_frame", "frame_id of every published header.", {}),
    "encoding": ("rgb8", "Image encoding: rgb8 or bgr8.", {}),
    "depth_encoding": (
        "32FC1",
        "Encoding of the aligned depth image: 32FC1 (metres, NaN where nothing is seen), "
        "16UC1 (millimetres, 0 where nothing is seen) or none (no depth, no ground_truth_3d).",
        {},
    ),
    "appearance": (
        "none",
        "Random look of every episode (textures, light, colours, camera field of view and "
        "angle, sensor effects): none, training (the ranges the models are trained on) or "
        "heldout (ranges no training split uses); not none needs depth_encoding none.",
        {},
    ),
    "max_frames": (
        0,
        "Stop publishing after this many frames; 0: never.",
        {"integer_range": [IntegerRange(from_value=0, to_value=2**31 - 1, step=1)]},
    ),
}


def depth_image(depth_m: np.ndarray, encoding: str) -> np.ndarray:
    """A rendered depth image (float32 metres, NaN: nothing seen) in ``encoding``.

    Args:
        depth_m: ``(H, W)`` float32 metres.
        encoding: ``32FC1`` (metres, NaN kept) or ``16UC1`` (millimetres rounded,
            0 where nothing is seen, clipped at 65535).

    Returns:
        ``(H, W)`` float32 or uint16.
    """
    if encoding == "32FC1":
        return np.asarray(depth_m, np.float32)
    mm = np.rint(np.nan_to_num(np.asarray(depth_m, np.float64) * 1000.0, nan=0.0))
    return np.clip(mm, 0, 65535).astype(np.uint16)


def check_parameter(name: str, value: Any) -> str | None:
    """Returns why ``value`` is not acceptable for parameter ``name``, or None."""
    if name == "encoding" and value not in ("rgb8", "bgr8"):
        return f"encoding must be rgb8 or bgr8, not {value!r}"
    if name == "depth_encoding" and value not in ("32FC1", "16UC1", "none"):
        return f"depth_encoding must be 32FC1, 16UC1 or none, not {value!r}"
    if name in ("family", "frame_id") and not str(value):
        return f"{name} must not be empty"
    return None


class SimCameraNode(Node):
    """Publishes simulated images, camera info and ground-truth skeletons at ``rate_hz``.

    Rendering runs on a thread of its own that owns the simulator (MuJoCo's GL context
    belongs to the thread that made it), so any executor, multi-threaded included, can
    spin this node. The node starts publishing as soon as it is constructed.

    Args:
        **kwargs: passed to :class:`rclpy.node.Node`.

    Raises:
        rclpy.exceptions.InvalidParameterValueException: a parameter value is refused.
        RuntimeError: the simulator cannot start (e.g. an unknown family).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(kwargs.pop("node_name", NODE_NAME), **kwargs)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        try:
            self._setup()
        except BaseException:
            self._stop_thread()
            super().destroy_node()
            raise

    def _setup(self) -> None:
        self.add_on_set_parameters_callback(self._on_set_parameters)
        declare_parameter_table(self, PARAMETERS, read_only=True)
        p = {name: self.get_parameter(name).value for name in PARAMETERS}
        self.width, self.height = int(p["width"]), int(p["height"])
        self._family, self._seed = str(p["family"]), int(p["seed"])
        self._period = 1.0 / float(p["rate_hz"])
        self._frame_id = str(p["frame_id"])
        self._encoding = str(p["encoding"])
        self._depth_encoding = str(p["depth_encoding"])
        self._depth = self._depth_encoding != "none"
        self._appearance = str(p["appearance"])
        self._max_frames = int(p["max_frames"])
        self.frames_published = 0
        self.intrinsics: tuple[float, float, float, float] | None = None

        overrides = QoSOverridingOptions.with_default_policies()
        self.image_pub = self.create_publisher(
            Image, "image", IMAGE_QOS, qos_overriding_options=overrides
        )
        self.info_pub = self.create_publisher(
            CameraInfo, "camera_info", IMAGE_QOS, qos_overriding_options=overrides
        )
        self.truth_pub = self.create_publisher(SkeletonGraph, "ground_truth", GROUND_TRUTH_QOS)
        if self._depth:
            self.depth_pub = self.create_publisher(
                Image, "depth", IMAGE_QOS, qos_overriding_options=overrides
            )
            self.truth_3d_pub = self.create_publisher(
                SkeletonGraph3D, "ground_truth_3d", GROUND_TRUTH_QOS
            )

        ready = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(
            target=self._run, args=(ready, failure), name="sim_camera", daemon=True
        )
        self._thread.start()
        ready.wait()
        if failure:
            raise RuntimeError(
                f"cannot start the simulated camera (family {self._family!r}): {failure[0]}"
            ) from failure[0]
        self.get_logger().info(
            f"simulating {self._family!r} (seed {self._seed}) at {p['rate_hz']} Hz, "
            f"{self.width}x{self.height} {self._encoding} on {self.image_pub.topic_name}"
        )

    def _on_set_parameters(self, params: list) -> SetParametersResult:
        for param in params:
            reason = check_parameter(param.name, param.value)
            if reason:
                return SetParametersResult(successful=False, reason=reason)
        return SetParametersResult(successful=True)

    @property
    def done(self) -> bool:
        """True once ``max_frames`` frames were published (never when it is 0)."""
        return 0 < self._max_frames <= self.frames_published

    def _run(self, ready: threading.Event, failure: list[BaseException]) -> None:
        """Render thread: owns the simulator from creation to close."""
        try:
            from skeleton_perception.training.sim.live import SimulatedCamera

            camera = SimulatedCamera(
                family=self._family,
                seed=self._seed,
                size=(self.height, self.width),
                depth=self._depth,
                appearance=self._appearance,
            )
        except Exception as err:
            failure.append(err)
            ready.set()
            return
        try:
            self.intrinsics = tuple(float(v) for v in camera.intrinsics)
            frame = camera.step()  # a renderer that cannot start fails the node's start
        except Exception as err:
            failure.append(err)
            camera.close()
            ready.set()
            return
        ready.set()
        next_time = time.monotonic()
        try:
            while True:
                self._publish(frame)
                if self.done:
                    break
                next_time += self._period
                delay = next_time - time.monotonic()
                if delay > 0:
                    self._stop.wait(delay)
                else:  # behind (slow render): no burst to catch up
                    next_time = time.monotonic()
                if self._stop.is_set():
                    break
                frame = camera.step()
        except Exception as err:  # e.g. the context was shut down under us
            if not self._stop.is_set():
                self.get_logger().error(f"simulated camera stopped: {err!r}")
        finally:
            camera.close()

    def _publish(self, frame) -> None:
        header = Header(stamp=self.get_clock().now().to_msg(), frame_id=self._frame_id)
        self.image_pub.publish(rgb_to_image(frame.image, header, self._encoding))
        self.intrinsics = frame.intrinsics  # the frame's episode's camera
        self.info_pub.publish(make_camera_info(self.width, self.height, self.intrinsics, header))
        self.truth_pub.publish(
            ground_truth_to_msg(
                frame.joints, frame.visible, frame.adjacency, (self.width, self.height), header
            )
        )
        if self._depth:
            self.depth_pub.publish(
                numpy_to_image(
                    depth_image(frame.depth, self._depth_encoding), self._depth_encoding, header
                )
            )
            self.truth_3d_pub.publish(
                ground_truth_3d_to_msg(
                    frame.joints,
                    frame.joints_3d,
                    frame.visible,
                    frame.adjacency,
                    (self.width, self.height),
                    header,
                )
            )
        self.frames_published += 1

    def _stop_thread(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10.0)

    def destroy_node(self) -> None:
        """Stops the render thread (which closes the simulator), then destroys the node."""
        self._stop_thread()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """Entry point of the ``sim_camera`` executable."""
    return run_node(SimCameraNode, NODE_NAME, args)


if __name__ == "__main__":
    sys.exit(main())
