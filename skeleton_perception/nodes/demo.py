"""``skeleton-perception demo``: the simulated camera and the detector over real ROS 2 topics.

Runs, in one process, the ``sim_camera`` node, the ``detector`` node and a small collector
node on one single-threaded executor (the camera renders on its own thread and the
detector's worker takes its images itself, so the executor only serves the small
messages; rclpy's multi-threaded executor starves them, see docs/ros.md). The nodes talk
over real DDS topics (``image``, ``camera_info``, ``ground_truth``, ``skeleton``) exactly
as they do when started separately. At the end it prints the input and output rates, the
end-to-end latency (image stamp -> skeleton received) and the live accuracy against
``ground_truth``, and writes an animation of what it saw (ground truth in white,
prediction in colour).

Live accuracy, per frame, with radius r = epsilon * W / 2 pixels (epsilon in the
normalised [-1, 1] coordinates of the evaluation protocol):
    found: fraction of visible ground-truth joints with a predicted joint within r;
    on a joint: fraction of predicted joints with a ground-truth joint within r;
    and the mean absolute difference between predicted and true joint counts.
"""

from __future__ import annotations

import argparse
import math
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from skeleton_perception.atomic import atomic_path, write_bytes_atomic

DEFAULT_OUT = "demo.gif"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the demo's options to ``parser``."""
    parser.add_argument("--family", default="cartpoles", help="simulated object family")
    parser.add_argument("--frames", type=int, default=200, help="frames to run (default 200)")
    parser.add_argument("--rate", type=float, default=20.0, help="camera rate in Hz (20)")
    parser.add_argument("--width", type=int, default=320, help="image width (320)")
    parser.add_argument("--height", type=int, default=240, help="image height (240)")
    parser.add_argument("--seed", type=int, default=0, help="simulation seed (0)")
    parser.add_argument(
        "--model", default=None, help="checkpoint (.pt); default: the model shipped in the package"
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (auto)")
    parser.add_argument(
        "--link-threshold", type=float, default=0.5, help="link probability threshold (0.5)"
    )
    parser.add_argument(
        "--epsilon",
        type=float,
        default=0.1,
        help="accuracy radius in normalised units: r = epsilon * width / 2 pixels (0.1)",
    )
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"animation file, .gif ({DEFAULT_OUT})")
    parser.add_argument(
        "--gif-frames", type=int, default=60, help="at most this many frames in the animation"
    )
    parser.add_argument(
        "--still", default=None, help="also write the animation's middle frame as a PNG here"
    )
    parser.add_argument(
        "--timeout", type=float, default=0.0, help="give up after this many seconds (0: auto)"
    )
    parser.add_argument(
        "--executor",
        choices=("single", "multi"),
        default="single",
        help="single: rclpy's SingleThreadedExecutor (default); multi: its "
        "MultiThreadedExecutor, which starves the nodes (for comparison, see docs/ros.md)",
    )


# ------------------------------------------------------------------------ scoring


def frame_accuracy(pred: np.ndarray, truth: np.ndarray, radius: float) -> tuple[int, int]:
    """Counts matches within ``radius`` pixels between predicted and true joints of a frame.

    Args:
        pred: (K, 2) predicted joint pixels.
        truth: (J, 2) visible ground-truth joint pixels.
        radius: pixels.

    Returns:
        (true joints with a prediction within radius, predicted joints with a true joint
        within radius).
    """
    pred = np.asarray(pred, np.float64).reshape(-1, 2)
    truth = np.asarray(truth, np.float64).reshape(-1, 2)
    if len(pred) == 0 or len(truth) == 0:
        return 0, 0
    d = np.linalg.norm(pred[:, None, :] - truth[None, :, :], axis=-1)  # (K, J)
    return int((d.min(axis=0) <= radius).sum()), int((d.min(axis=1) <= radius).sum())


@dataclass
class LiveScore:
    """Accumulated live accuracy over frames."""

    frames: int = 0
    true_joints: int = 0
    found: int = 0
    pred_joints: int = 0
    on_joint: int = 0
    count_diff: float = 0.0

    def add(self, pred: np.ndarray, truth: np.ndarray, radius: float) -> None:
        """Adds one frame's (K, 2) predicted and (J, 2) true joints."""
        found, on_joint = frame_accuracy(pred, truth, radius)
        self.frames += 1
        self.true_joints += len(truth)
        self.pred_joints += len(pred)
        self.found += found
        self.on_joint += on_joint
        self.count_diff += abs(len(pred) - len(truth))

    def summary(self) -> dict[str, float]:
        """Rates in [0, 1] and mean counts (NaN where undefined)."""
        nan = float("nan")
        return {
            "frames": self.frames,
            "found": self.found / self.true_joints if self.true_joints else nan,
            "on_joint": self.on_joint / self.pred_joints if self.pred_joints else nan,
            "pred_per_frame": self.pred_joints / self.frames if self.frames else nan,
            "true_per_frame": self.true_joints / self.frames if self.frames else nan,
            "count_diff": self.count_diff / self.frames if self.frames else nan,
        }


# ---------------------------------------------------------------------- animation


def annotate(rgb: np.ndarray, text: str) -> np.ndarray:
    """Writes ``text`` in the top-left corner of a copy of ``rgb``."""
    out = rgb.copy()
    scale = max(0.35, out.shape[1] / 900)
    for color, width in (((0, 0, 0), 3), ((255, 255, 255), 1)):
        cv2.putText(
            out, text, (4, int(16 * scale / 0.35)), cv2.FONT_HERSHEY_SIMPLEX, scale, color,
            width, cv2.LINE_AA,
        )  # fmt: skip
    return out


def write_gif(path: str | Path, frames: list[np.ndarray], fps: float) -> Path:
    """Writes RGB frames as a looping GIF, atomically (temp file, then os.replace)."""
    from PIL import Image as PILImage

    path = Path(path)
    if not frames:
        raise ValueError(f"no frames to write to {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    images = [PILImage.fromarray(f) for f in frames]
    with atomic_path(path, suffix=".gif") as tmp:
        images[0].save(
            tmp,
            format="GIF",
            save_all=True,
            append_images=images[1:],
            duration=max(20, round(1000 / fps)),
            loop=0,
        )
    return path


def write_png(path: str | Path, rgb: np.ndarray) -> Path:
    """Writes one RGB frame as a PNG, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError(f"cannot encode a {rgb.shape} frame for {path}")
    return write_bytes_atomic(path, buf.tobytes())


# ---------------------------------------------------------------------- collector


@dataclass
class _Record:
    truth: object | None = None  # Skeleton
    prediction: object | None = None  # Skeleton
    latency_s: float | None = None
    image: np.ndarray | None = None


@dataclass
class _Collected:
    records: dict[int, _Record] = field(default_factory=dict)
    truths: int = 0
    skeletons: int = 0
    first_skeleton: float | None = None
    last_skeleton: float | None = None


def make_collector(context, keep_image_every: int):
    """A node that records ``ground_truth``, ``skeleton`` and some ``image`` frames by stamp."""
    from rclpy.node import Node
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    from skeleton_perception.msg import SkeletonGraph
    from skeleton_perception.nodes.conversions import image_to_rgb
    from skeleton_perception.skeleton_msg import msg_to_skeleton, stamp_to_ns

    reliable = QoSProfile(
        history=HistoryPolicy.KEEP_LAST, depth=50, reliability=ReliabilityPolicy.RELIABLE
    )
    sensor = QoSProfile(
        history=HistoryPolicy.KEEP_LAST, depth=5, reliability=ReliabilityPolicy.BEST_EFFORT
    )

    class Collector(Node):
        def __init__(self) -> None:
            super().__init__("demo_collector", context=context)
            self.data = _Collected()
            self.lock = threading.Lock()
            self._order: dict[int, int] = {}  # stamp -> ground-truth index
            self.create_subscription(SkeletonGraph, "ground_truth", self._on_truth, reliable)
            self.create_subscription(SkeletonGraph, "skeleton", self._on_skeleton, reliable)
            self.create_subscription(Image, "image", self._on_image, sensor)

        def _record(self, stamp) -> _Record:
            return self.data.records.setdefault(stamp_to_ns(stamp), _Record())

        def _on_truth(self, msg) -> None:
            with self.lock:
                self._record(msg.header.stamp).truth = msg_to_skeleton(msg)
                self._order[stamp_to_ns(msg.header.stamp)] = self.data.truths
                self.data.truths += 1

        def _on_skeleton(self, msg) -> None:
            now_ns = self.get_clock().now().nanoseconds
            now = time.monotonic()
            with self.lock:
                rec = self._record(msg.header.stamp)
                rec.prediction = msg_to_skeleton(msg)
                rec.latency_s = (now_ns - stamp_to_ns(msg.header.stamp)) * 1e-9
                self.data.skeletons += 1
                self.data.first_skeleton = self.data.first_skeleton or now
                self.data.last_skeleton = now

        def _on_image(self, msg) -> None:
            ns = stamp_to_ns(msg.header.stamp)
            with self.lock:
                index = self._order.get(ns)
                # Ground truth is sent after the image: count it as the next one then.
                index = self.data.truths if index is None else index
                if index % keep_image_every:
                    return
                self._record(msg.header.stamp).image = image_to_rgb(msg)

    return Collector()


# ---------------------------------------------------------------------------- run


def summarise(data: _Collected, radius: float) -> dict:
    """Rates, latency and live accuracy of a run from what the collector recorded.

    Args:
        data: the collector's records.
        radius: the accuracy radius in pixels.

    Returns:
        ``input_hz``: the frames the camera published per second, from the stamps of the
        ground truth it sends with every frame (reliable, so none is missed);
        ``output_hz``: skeletons received per second, first to last; ``latency_ms``:
        {50, 95, 99: image stamp -> skeleton received}; ``accuracy``: ``LiveScore.summary``;
        ``frames`` and ``skeletons``: the counts.
    """
    from skeleton_perception.nodes.stats import LatencyWindow

    latency = LatencyWindow(size=max(1, len(data.records)))
    score = LiveScore()
    for rec in data.records.values():
        if rec.latency_s is not None:
            latency.add(rec.latency_s)
        if rec.truth is not None and rec.prediction is not None:
            score.add(rec.prediction.joints, rec.truth.joints, radius)
    stamps = sorted(ns for ns, rec in data.records.items() if rec.truth is not None)
    nan = float("nan")
    in_span = (stamps[-1] - stamps[0]) * 1e-9 if len(stamps) > 1 else 0.0
    out_span = (data.last_skeleton or 0.0) - (data.first_skeleton or 0.0)
    return {
        "frames": len(stamps),
        "skeletons": data.skeletons,
        "input_hz": (len(stamps) - 1) / in_span if in_span > 0 else nan,
        "output_hz": (data.skeletons - 1) / out_span if out_span > 0 else nan,
        "latency_ms": latency.percentiles_ms((50, 95, 99)),
        "accuracy": score.summary(),
    }


def _print_report(args, camera, detector, data: _Collected, radius: float) -> dict:
    summary = summarise(data, radius)
    lat, acc = summary["latency_ms"], summary["accuracy"]
    print(
        f"frames: {camera.frames_published} published, {data.truths} ground truth received, "
        f"{data.skeletons} skeletons received "
        f"(detector: {detector.dropped} dropped, {detector.malformed} malformed)"
    )
    print(f"rate: input {summary['input_hz']:.1f} Hz, output {summary['output_hz']:.1f} Hz")
    print(
        f"latency (image stamp -> skeleton received): p50 {lat[50]:.1f} ms, "
        f"p95 {lat[95]:.1f} ms, p99 {lat[99]:.1f} ms"
    )
    print(
        f"live accuracy over {acc['frames']} frames (epsilon {args.epsilon} = {radius:.1f} px): "
        f"true joints found {100 * acc['found']:.1f} %, predicted joints on a joint "
        f"{100 * acc['on_joint']:.1f} %, joints per frame {acc['pred_per_frame']:.1f} predicted "
        f"vs {acc['true_per_frame']:.1f} true (mean |difference| {acc['count_diff']:.1f})"
    )
    return summary


def _animation_frames(data: _Collected, limit: int) -> list[np.ndarray]:
    from skeleton_perception.drawing import draw_skeleton

    frames = []
    for stamp in sorted(data.records):
        rec = data.records[stamp]
        if rec.image is None or rec.prediction is None:
            continue
        drawn = draw_skeleton(rec.image, rec.prediction, ground_truth=rec.truth)
        true_k = rec.truth.num_joints if rec.truth is not None else 0
        text = f"#{len(frames)}  joints: {rec.prediction.num_joints} pred / {true_k} true"
        frames.append(annotate(drawn, text))
        if len(frames) >= limit:
            break
    return frames


def run(args: argparse.Namespace) -> int:
    """Runs the demo; returns 0 on success, 1 when no skeleton came back, 2 on bad setup."""
    # Large images over Fast DDS need its large-data transport (must precede rclpy.init).
    os.environ.setdefault("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA")
    os.environ.setdefault("MUJOCO_GL", "egl")
    if args.frames < 1 or args.rate <= 0 or args.width < 16 or args.height < 16:
        print("error: --frames >= 1, --rate > 0, --width and --height >= 16 are required")
        return 2

    import rclpy
    from rclpy.executors import MultiThreadedExecutor
    from rclpy.parameter import Parameter

    from skeleton_perception.nodes.detector_node import DetectorNode
    from skeleton_perception.nodes.runner import freeze_startup_heap, make_executor
    from skeleton_perception.nodes.sim_camera_node import SimCameraNode

    context = rclpy.Context()
    rclpy.init(context=context, args=[])
    nodes = []
    if args.executor == "multi":
        executor = MultiThreadedExecutor(num_threads=4, context=context)
    else:
        executor = make_executor(context)
    stop_spinning = threading.Event()

    def spin() -> None:  # short waits, so the thread ends soon after stop_spinning is set
        while not stop_spinning.is_set() and context.ok():
            executor.spin_once(timeout_sec=0.1)

    spinner = threading.Thread(target=spin, name="demo_executor", daemon=True)
    try:
        try:
            detector = DetectorNode(
                context=context,
                parameter_overrides=[
                    Parameter("model_path", value=args.model or ""),
                    Parameter("device", value=args.device),
                    Parameter("link_threshold", value=float(args.link_threshold)),
                ],
            )
            nodes.append(detector)
            collector = make_collector(context, max(1, math.ceil(args.frames / args.gif_frames)))
            nodes.append(collector)
            camera = SimCameraNode(
                context=context,
                parameter_overrides=[
                    Parameter("family", value=args.family),
                    Parameter("seed", value=int(args.seed)),
                    Parameter("rate_hz", value=float(args.rate)),
                    Parameter("width", value=int(args.width)),
                    Parameter("height", value=int(args.height)),
                    Parameter("max_frames", value=int(args.frames)),
                    Parameter("depth_encoding", value="none"),  # the 2D demo needs no depth
                ],
            )
            nodes.append(camera)
        except Exception as err:
            print(f"error: {err}")
            if not args.model and not nodes:
                print("hint: pass a checkpoint with --model PATH")
            return 2
        print(
            f"demo: {args.family} at {args.rate:g} Hz, {args.width}x{args.height}, "
            f"{args.frames} frames; model {args.model or '(default)'} on {detector.detector.device}"
        )
        for node in nodes:
            executor.add_node(node)
        freeze_startup_heap()
        spinner.start()

        start = time.monotonic()
        timeout = args.timeout or (30.0 + 3.0 * args.frames / args.rate)
        while not camera.done and time.monotonic() - start < timeout:
            time.sleep(0.05)
        # Let the last frames through the detector (bounded wait).
        settle = time.monotonic() + 3.0
        while time.monotonic() < settle:
            with collector.lock:
                if collector.data.truths >= camera.frames_published and (
                    detector.output_rate.count + detector.dropped + detector.malformed
                    >= detector.input_rate.count
                ):
                    break
            time.sleep(0.05)
        time.sleep(0.2)

        with collector.lock:
            data = collector.data
            radius = args.epsilon * args.width / 2.0
            _print_report(args, camera, detector, data, radius)
            frames = _animation_frames(data, args.gif_frames)
        if frames and args.out:
            path = write_gif(args.out, frames, fps=args.rate * len(frames) / max(1, args.frames))
            print(f"wrote {path} ({len(frames)} frames)")
        if frames and args.still:
            still = write_png(args.still, frames[len(frames) // 2])
            print(f"wrote {still}")
        return 0 if data.skeletons > 0 else 1
    finally:
        # The spinning thread ends before anything it uses is destroyed (rclpy's
        # Executor.shutdown does not wait for it, and a thread still inside rclpy when the
        # interpreter exits aborts the process).
        stop_spinning.set()
        if spinner.is_alive():
            spinner.join(timeout=10.0)
        executor.shutdown(timeout_sec=2.0)
        for node in reversed(nodes):
            node.destroy_node()
        if context.ok():
            rclpy.shutdown(context=context)
