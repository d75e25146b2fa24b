"""End-to-end benchmark of the detector node against a naive node and a pass-through node.

    .venv/bin/python bench/bench_node.py                 # 64x64 and 640x480, ~2 minutes
    .venv/bin/python bench/bench_node.py --flood         # + 1 kHz of 640x480 for 30 s

This process publishes images (stamp = publish time) and receives ``skeleton`` back; the
node under test runs in a separate process, as in a robot. Latency is publish -> skeleton
received (same host clock). Three nodes are measured in the same run, one after another:

* ``pass-through``: republishes each image's header as an empty SkeletonGraph at once:
  what the transport allows;
* ``naive``: a single-threaded node that converts and runs the model inside its
  subscription callback (sensor-data QoS, depth 5), the usual first version of a node;
* ``detector``: ``skeleton_perception``'s node (depth-1 drop-oldest buffer + worker).

Two loads per image size: a steady stream (``--rate``, below the model's rate: latency)
and a flood (``--flood-rate``, far above it: sustained output rate). ``model alone`` is
the detector called in a loop in this process on the same image (no ROS), the ceiling
for any node. The model is a randomly initialised checkpoint of the default architecture
(the same compute as a trained one) unless ``--model`` is given.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SIZES = {"64x64": (64, 64), "640x480": (640, 480)}


# ----------------------------------------------------------------- nodes under test


def run_role(role: str, model: str, threads: int) -> int:
    """Runs one node under test until SIGINT (called in the child process)."""
    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image
    from skeleton_perception.msg import SkeletonGraph

    from skeleton_perception.conversions import image_to_rgb, skeleton_to_msg

    if role == "detector":
        from skeleton_perception.nodes import detector_node

        return detector_node.main(
            [
                "detector",
                "--ros-args",
                "-p", f"model_path:={model}",
                "-p", "device:=cpu",
                "-p", f"num_threads:={threads}",
                "--log-level", "warn",
            ]
        )  # fmt: skip

    class PassThrough(Node):
        def __init__(self):
            super().__init__("pass_through")
            self.pub = self.create_publisher(SkeletonGraph, "skeleton", 10)
            self.create_subscription(Image, "image", self.on_image, qos_profile_sensor_data)

        def on_image(self, msg):
            out = SkeletonGraph(header=msg.header)
            out.image_width, out.image_height = msg.width, msg.height
            self.pub.publish(out)

    class Naive(Node):
        def __init__(self):
            super().__init__("naive_detector")
            import torch

            from skeleton_perception import SkeletonDetector

            if threads:
                torch.set_num_threads(threads)
            self.detector = SkeletonDetector.from_checkpoint(model, device="cpu")
            self.pub = self.create_publisher(SkeletonGraph, "skeleton", 10)
            self.create_subscription(Image, "image", self.on_image, qos_profile_sensor_data)

        def on_image(self, msg):
            rgb = image_to_rgb(msg)
            self.pub.publish(skeleton_to_msg(self.detector(rgb), msg.header))

    try:
        with rclpy.init():
            node = PassThrough() if role == "pass-through" else Naive()
            executor = SingleThreadedExecutor()
            executor.add_node(node)
            executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    return 0


# ------------------------------------------------------------------------- source


class Source:
    """Publishes images and records when their skeletons come back."""

    def __init__(self):
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image
        from skeleton_perception.msg import SkeletonGraph

        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("bench_source", context=self.context)
        camera_qos = QoSProfile(
            history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.BEST_EFFORT
        )
        self.pub = self.node.create_publisher(Image, "image", camera_qos)
        self.sub = self.node.create_subscription(SkeletonGraph, "skeleton", self._on_skeleton, 100)
        self.lock = threading.Lock()
        self.received: list[tuple[int, int]] = []  # (stamp ns, received ns)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def _on_skeleton(self, msg) -> None:
        now = time.time_ns()
        stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        with self.lock:
            self.received.append((stamp, now))

    def wait_matched(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.pub.get_subscription_count() > 0 and self.sub.get_publisher_count() > 0:
                return
            time.sleep(0.05)
        raise RuntimeError("the node under test did not appear on image/skeleton")

    def reset(self) -> None:
        with self.lock:
            self.received.clear()

    def stream(self, msg, rate_hz: float, seconds: float) -> int:
        """Publishes ``msg`` (fresh stamp each time) at ``rate_hz``; returns frames sent."""
        period = 1.0 / rate_hz
        start = time.monotonic()
        next_t = start
        sent = 0
        while time.monotonic() - start < seconds:
            now_ns = time.time_ns()
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(now_ns, 1_000_000_000)
            self.pub.publish(msg)
            sent += 1
            next_t += period
            delay = next_t - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif delay < -0.1:
                next_t = time.monotonic()  # cannot keep up: do not burst
        return sent

    def close(self) -> None:
        import rclpy

        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)


def measure(source: Source, msg, rate: float, seconds: float) -> dict:
    """One load: publish, let the tail drain, and summarise latency and rates."""
    source.reset()
    start_ns = time.time_ns()
    sent = source.stream(msg, rate, seconds)
    end_ns = time.time_ns()
    time.sleep(0.5)  # results still in flight
    with source.lock:
        got = [(s, r) for s, r in source.received if s >= start_ns]
    lat = np.array([(r - s) * 1e-6 for s, r in got]) if got else np.array([np.nan])
    in_window = [r for s, r in got if r <= end_ns]
    return {
        "sent": sent,
        "received": len(got),
        "in_hz": sent / seconds,
        "out_hz": len(in_window) / ((end_ns - start_ns) * 1e-9),
        "p50": float(np.percentile(lat, 50)),
        "p99": float(np.percentile(lat, 99)),
    }


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, in MB (from /proc)."""
    total = 0.0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024.0
        except OSError:
            pass
    return total


def bench_image(width: int, height: int):
    from skeleton_perception.conversions import numpy_to_image

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    msg = numpy_to_image(pixels, "rgb8")
    msg.header.frame_id = "bench"
    return pixels, msg


def model_alone(model: str, threads: int, seconds: float = 3.0) -> dict[str, float]:
    """Frames per second of the detector called in a loop, per image size."""
    import torch

    from skeleton_perception import SkeletonDetector

    if threads:
        torch.set_num_threads(threads)
    det = SkeletonDetector.from_checkpoint(model, device="cpu")
    out = {}
    for name, (w, h) in SIZES.items():
        pixels, _ = bench_image(w, h)
        for _ in range(5):
            det(pixels)
        times = []
        start = time.monotonic()
        while time.monotonic() - start < seconds:
            t = time.perf_counter()
            det(pixels)
            times.append(time.perf_counter() - t)
        out[name] = 1.0 / float(np.median(times))
        out[name + "_p50_ms"] = float(np.median(times) * 1e3)
    return out


def spawn(role: str, model: str, threads: int) -> subprocess.Popen:
    cmd = [sys.executable, __file__, "--role", role, "--model", model, "--threads", str(threads)]
    return subprocess.Popen(cmd, env=os.environ.copy())


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def default_model(tmp: Path) -> str:
    from skeleton_perception.detector import DEFAULT_WEIGHTS

    if DEFAULT_WEIGHTS.is_file():
        return str(DEFAULT_WEIGHTS)
    import torch

    from skeleton_perception.checkpoint import save_checkpoint
    from skeleton_perception.nn.model import ModelConfig, SkeletonModel

    torch.manual_seed(0)
    cfg = ModelConfig()
    state = SkeletonModel(cfg).state_dict()
    return str(save_checkpoint(tmp / "bench.pt", state, {"model": cfg.to_dict()}))


def bench_role(role: str, args, model: str, results: dict) -> None:
    source = Source()
    proc = spawn(role, model, args.threads)
    try:
        source.wait_matched()
        for size, (w, h) in SIZES.items():
            _, msg = bench_image(w, h)
            # Warm up until results flow (model load, first inference, discovery).
            deadline = time.monotonic() + 60
            source.reset()
            while not source.received and time.monotonic() < deadline:
                source.stream(msg, 10.0, 0.2)
            source.stream(msg, args.rate, 1.0)
            steady = measure(source, msg, args.rate, args.seconds)
            flood = measure(source, msg, args.flood_rate, args.seconds)
            results[(role, size)] = {"steady": steady, "flood": flood}
            print(
                f"  {role:12s} {size:8s} steady {steady['in_hz']:5.0f} Hz: "
                f"p50 {steady['p50']:6.1f} ms  p99 {steady['p99']:6.1f} ms  "
                f"received {steady['received']}/{steady['sent']} | "
                f"flood {flood['in_hz']:5.0f} Hz: out {flood['out_hz']:6.1f} Hz  "
                f"p50 {flood['p50']:6.1f} ms  p99 {flood['p99']:6.1f} ms",
                flush=True,
            )
        if role == "detector" and args.flood:
            flood_check(source, proc, args)
    finally:
        stop(proc)
        source.close()


def flood_check(source: Source, proc: subprocess.Popen, args) -> None:
    """1 kHz (asked) of 640x480 for ``--flood-seconds``: memory, latency, survival."""
    _, msg = bench_image(640, 480)
    print(f"  flood check: {args.flood_hz:.0f} Hz of 640x480 for {args.flood_seconds:.0f} s")
    samples = [rss_mb(proc.pid)]
    stop_sampling = threading.Event()

    def sample():
        while not stop_sampling.wait(1.0):
            samples.append(rss_mb(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    result = measure(source, msg, args.flood_hz, args.flood_seconds)
    stop_sampling.set()
    sampler.join()
    alive = proc.poll() is None
    first = samples[: max(1, len(samples) // 4)]
    last = samples[-max(1, len(samples) // 4) :]
    print(
        f"    published {result['in_hz']:.0f} Hz, skeletons {result['out_hz']:.1f} Hz, "
        f"latency p50 {result['p50']:.1f} ms p99 {result['p99']:.1f} ms; node RSS "
        f"{samples[0]:.0f} MB at start, {max(samples):.0f} MB max, first quarter mean "
        f"{np.mean(first):.0f} MB, last quarter mean {np.mean(last):.0f} MB; "
        f"node {'alive' if alive else 'DEAD'}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    roles = ["pass-through", "naive", "detector"]
    parser.add_argument("--role", choices=roles, help=argparse.SUPPRESS)
    parser.add_argument("--model", default=None, help="checkpoint (default: default architecture)")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads in every node (0: PyTorch default)"
    )
    parser.add_argument("--rate", type=float, default=20.0, help="steady input rate (Hz)")
    parser.add_argument("--flood-rate", type=float, default=200.0, help="flood input rate (Hz)")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per measurement")
    parser.add_argument("--flood", action="store_true", help="also run the 1 kHz flood check")
    parser.add_argument("--flood-hz", type=float, default=1000.0)
    parser.add_argument("--flood-seconds", type=float, default=30.0)
    args = parser.parse_args()
    if args.role:
        return run_role(args.role, args.model, args.threads)

    os.environ.setdefault("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA")
    os.environ.setdefault("ROS_DOMAIN_ID", str(random.randint(120, 200)))
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or default_model(Path(tmp))
        print(
            f"bench_node: model {args.model or 'default architecture (random weights)'}, "
            f"FASTDDS_BUILTIN_TRANSPORTS={os.environ['FASTDDS_BUILTIN_TRANSPORTS']}, "
            f"ROS_DOMAIN_ID={os.environ['ROS_DOMAIN_ID']}, {os.cpu_count()} CPUs, "
            f"load average {os.getloadavg()[0]:.1f}",
            flush=True,
        )
        alone = model_alone(model, args.threads)
        print(
            "  model alone (no ROS): "
            + ", ".join(
                f"{s} {alone[s]:.0f} Hz (p50 {alone[s + '_p50_ms']:.1f} ms)" for s in SIZES
            ),
            flush=True,
        )
        results: dict = {}
        for role in ("pass-through", "naive", "detector"):
            bench_role(role, args, model, results)

    print("\nsummary (detector vs naive vs pass-through, same run):")
    for size in SIZES:
        d, n, p = (results[(r, size)] for r in ("detector", "naive", "pass-through"))
        ceiling = min(alone[size], p["flood"]["out_hz"])
        print(
            f"  {size}: steady p50 detector {d['steady']['p50']:.1f} ms, naive "
            f"{n['steady']['p50']:.1f} ms, pass-through {p['steady']['p50']:.1f} ms "
            f"(detector - pass-through = {d['steady']['p50'] - p['steady']['p50']:.1f} ms)"
        )
        speedup = d["flood"]["out_hz"] / max(n["flood"]["out_hz"], 1e-9)
        print(
            f"  {size}: flood output detector {d['flood']['out_hz']:.1f} Hz, naive "
            f"{n['flood']['out_hz']:.1f} Hz (x{speedup:.2f}), "
            f"pass-through {p['flood']['out_hz']:.1f} Hz, model alone {alone[size]:.1f} Hz; "
            f"detector / min(model, transport) = {d['flood']['out_hz'] / ceiling:.2f}"
        )
        lower = n["flood"]["p50"] / max(d["flood"]["p50"], 1e-9)
        print(
            f"  {size}: flood p50 latency detector {d['flood']['p50']:.1f} ms vs naive "
            f"{n['flood']['p50']:.1f} ms (x{lower:.1f} lower)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
