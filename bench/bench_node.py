"""End-to-end benchmark of the detector node against a naive node and a pass-through node.

    .venv/bin/python bench/bench_node.py            # 64x64 and 640x480, about 2 minutes
    .venv/bin/python bench/bench_node.py --flood    # + 1 kHz of 640x480 for 30 s
    .venv/bin/python bench/bench_node.py --plain    # + the detector with optimize:=false
    .venv/bin/python bench/bench_node.py --raw      # publish pre-serialized images

This process publishes images (stamp = publish time) and receives ``skeleton`` back; each
node under test runs in a process of its own, as on a robot. Latency is publish ->
skeleton received (one host, one clock). Three nodes, measured in the same run:

* ``pass-through``: republishes each image's header as an empty SkeletonGraph at once:
  what the transport allows;
* ``naive``: a single-threaded node that converts the image and runs the model inside its
  subscription callback (sensor-data QoS, depth 5), the usual first version of a node;
* ``detector``: ``skeleton_perception``'s node (a worker that takes the newest image from a
  depth-1 subscription whenever it is free);
* ``detector-plain`` (with ``--plain``): the same node with ``optimize:=false`` (the model
  as loaded instead of its inference-optimised copy): before/after in the same run.

Two loads per image size: a steady stream (``--rate``, below the model's rate: latency)
and a flood (``--flood-rate``, far above it: sustained output rate and latency under
overload). ``model alone`` is ``SkeletonDetector`` called in a loop in a fresh process on the
same image (no ROS): the ceiling for any node; it is timed with the optimised model (what the
nodes run) and with ``optimize=False`` (plain), interleaved. All nodes use ``--threads``
PyTorch threads.

Under a flood the model itself runs slower than alone: the images' transport and the
source share the two cores and their caches. The detectors' ``/diagnostics`` say how much
of the time their worker spent inside the model (``model_busy_fraction``) and how long one
inference took, under that same load; the share is the detector's output rate over its
model's rate under that load (1 / mean inference time): what the node itself loses.

The source publishes ``sensor_msgs/Image`` messages from Python: rclpy serializes each
640x480 image in about 0.8 ms, inside the measured latency and on the CPU the nodes under
test need (a C++ camera driver does this with a memcpy). ``--raw`` publishes the image
serialized once, with the stamp patched into the bytes, to measure the nodes without that.

The CPU may be shared with other work, so the measurements are interleaved: ``--rounds``
rounds, each measuring every node and the model alone for ``--seconds`` per load, and the
results pooled; all three node processes stay up, idle while another one is measured.
The model is the shipped one (``skeleton_perception/weights/default.pt``; if absent, a
randomly initialised checkpoint of the default architecture) unless ``--model`` is given.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from skeleton_perception.skeleton_msg import stamp_to_ns

SIZES = {"64x64": (64, 64), "640x480": (640, 480)}
ROLES = ("pass-through", "naive", "detector")
CHILD_ROLES = (*ROLES, "detector-plain", "model-alone")
DIAGNOSTICS_PERIOD_S = 0.5  # the detectors' /diagnostics period in the benchmark


# ----------------------------------------------------------------- nodes under test


def run_role(role: str, model: str, threads: int, ros_args: list[str]) -> int:
    """Runs one node under test until SIGINT (in the child process)."""
    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image
    from skeleton_perception.msg import SkeletonGraph

    from skeleton_perception.nodes.conversions import GRAPH_TYPES, image_to_rgb
    from skeleton_perception.skeleton_msg import skeleton_to_msg

    if role in ("detector", "detector-plain"):
        from skeleton_perception.nodes import detector_node

        params = ["-p", f"model_path:={model}", "-p", "device:=cpu"]
        params += ["-p", f"num_threads:={threads}", "--log-level", "warn"]
        params += ["-p", f"diagnostics_period:={DIAGNOSTICS_PERIOD_S}"]
        params += ["-p", f"optimize:={'false' if role == 'detector-plain' else 'true'}"]
        return detector_node.main(["detector", *ros_args, *params])

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
            self.pub.publish(skeleton_to_msg(self.detector(rgb), GRAPH_TYPES, msg.header))

    try:
        with rclpy.init(args=["bench", *ros_args]):
            node = PassThrough() if role == "pass-through" else Naive()
            executor = SingleThreadedExecutor()
            executor.add_node(node)
            executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    return 0


def spawn(role: str, model: str, threads: int) -> subprocess.Popen:
    """Starts a node under test on /bench/<role>/image -> /bench/<role>/skeleton."""
    ros_args = ["--ros-args", "-r", f"image:={topic(role, 'image')}"]
    ros_args += ["-r", f"skeleton:={topic(role, 'skeleton')}"]
    cmd = [sys.executable, __file__, "--role", role, "--model", model, "--threads", str(threads)]
    return subprocess.Popen([*cmd, *ros_args], env=os.environ.copy())


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def topic(role: str, name: str) -> str:
    return f"/bench/{role.replace('-', '_')}/{name}"


# ------------------------------------------------------------------------- source


class Source:
    """Publishes images to each node under test and records when skeletons come back."""

    def __init__(self, roles: tuple[str, ...] = ROLES, raw: bool = False):
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
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
        self.lock = threading.Lock()
        self.received: dict[str, list[tuple[int, int]]] = defaultdict(list)  # (stamp, recv) ns
        self.pubs, self.subs = {}, {}
        self.roles = roles
        self.raw = raw
        self._serialized: dict[int, bytearray] = {}
        # The detectors' own view: (received ns, input topic, model busy fraction, inference p50)
        self.diagnostics: list[tuple[int, str, float, float]] = []
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 50)
        for role in roles:
            self.pubs[role] = self.node.create_publisher(Image, topic(role, "image"), camera_qos)
            self.subs[role] = self.node.create_subscription(
                SkeletonGraph,
                topic(role, "skeleton"),
                lambda msg, r=role: self._on_skeleton(r, msg),
                100,
            )
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def _on_skeleton(self, role: str, msg) -> None:
        now = time.time_ns()
        stamp = stamp_to_ns(msg.header.stamp)
        with self.lock:
            self.received[role].append((stamp, now))

    def _on_diagnostics(self, msg) -> None:
        now = time.time_ns()
        for status in msg.status:
            values = {kv.key: kv.value for kv in status.values}
            if "model_busy_fraction" not in values:
                continue
            busy, inference = (
                float(values[k]) for k in ("model_busy_fraction", "inference_p50_ms")
            )
            with self.lock:
                self.diagnostics.append((now, values["input_topic"], busy, inference))

    def wait_matched(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        for role in self.roles:
            pub, sub = self.pubs[role], self.subs[role]
            while pub.get_subscription_count() == 0 or sub.get_publisher_count() == 0:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the {role} node did not appear on its topics")
                time.sleep(0.05)

    def stream(self, role: str, msg, rate_hz: float, seconds: float) -> int:
        """Publishes ``msg`` (fresh stamp each time) at ``rate_hz``; returns frames sent."""
        pub = self.pubs[role]
        period = 1.0 / rate_hz
        start = time.monotonic()
        next_t = start
        sent = 0
        if self.raw and id(msg) not in self._serialized:
            from rclpy.serialization import serialize_message

            self._serialized[id(msg)] = bytearray(serialize_message(msg))
        while time.monotonic() - start < seconds:
            sec, nanosec = divmod(time.time_ns(), 10**9)
            if self.raw:
                # CDR: 4-byte encapsulation header, then header.stamp (int32 sec, uint32 ns)
                buf = self._serialized[id(msg)]
                struct.pack_into("<iI", buf, 4, sec, nanosec)
                pub.publish(bytes(buf))
            else:
                msg.header.stamp.sec, msg.header.stamp.nanosec = sec, nanosec
                pub.publish(msg)
            sent += 1
            next_t += period
            delay = next_t - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif delay < -0.1:
                next_t = time.monotonic()  # cannot keep up: no burst
        return sent

    def warm_up(self, role: str, msg, timeout: float = 120.0) -> None:
        """Streams slowly until results flow (model load, first inference, discovery)."""
        with self.lock:
            self.received[role].clear()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.stream(role, msg, 10.0, 0.3)
            with self.lock:
                if self.received[role]:
                    return
        raise RuntimeError(f"no skeleton from the {role} node")

    def measure(self, role: str, msg, rate: float, seconds: float) -> dict:
        """One window: publish, let the tail drain; returns raw latencies and counts."""
        start_ns = time.time_ns()
        sent = self.stream(role, msg, rate, seconds)
        end_ns = time.time_ns()
        time.sleep(0.5)  # results still in flight
        first_full = start_ns + int(DIAGNOSTICS_PERIOD_S * 1e9)  # a period inside the window
        with self.lock:
            got = [(s, r) for s, r in self.received[role] if s >= start_ns]
            self.received[role].clear()
            diag = [
                (busy, inference)
                for t, name, busy, inference in self.diagnostics
                if name == topic(role, "image") and first_full < t <= end_ns + 100_000_000
            ]
        return {
            "model_busy": [busy for busy, _ in diag],
            "inference_ms": [inference for _, inference in diag],
            "sent": sent,
            "received": len(got),
            "in_window": sum(1 for _, r in got if r <= end_ns),
            "seconds": (end_ns - start_ns) * 1e-9,
            "latency_ms": [(r - s) * 1e-6 for s, r in got],
        }

    def close(self) -> None:
        import rclpy

        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)


def pooled(windows: list[dict]) -> dict:
    """Pools the windows of one (node, size, load) across rounds."""
    lat = np.array([v for w in windows for v in w["latency_ms"]] or [np.nan])
    seconds = sum(w["seconds"] for w in windows)
    return {
        "sent": sum(w["sent"] for w in windows),
        "received": sum(w["received"] for w in windows),
        "in_hz": sum(w["sent"] for w in windows) / seconds,
        "out_hz": sum(w["in_window"] for w in windows) / seconds,
        "p50": float(np.percentile(lat, 50)),
        "p99": float(np.percentile(lat, 99)),
        # The detectors' /diagnostics: the share of the time their worker spent in the model,
        # and its time per image, under this load (NaN for the other nodes)
        "model_busy": float(np.mean([v for w in windows for v in w["model_busy"]] or [np.nan])),
        "inference_ms": float(
            np.median([v for w in windows for v in w["inference_ms"]] or [np.nan])
        ),
    }


# --------------------------------------------------------------------- model alone


class ModelAlone:
    """The detector called in a loop, in a fresh process of its own (like the nodes).

    Each ``measure`` runs a child process that times back-to-back calls (throughput) and
    calls paced at the steady rate (latency) on both image sizes.
    """

    def __init__(self, model: str, threads: int):
        self.model, self.threads = model, threads
        self.times: dict[str, list[float]] = defaultdict(list)

    def measure(self, seconds: float, rate: float) -> None:
        cmd = [sys.executable, __file__, "--role", "model-alone", "--model", self.model]
        cmd += ["--threads", str(self.threads), "--seconds", str(seconds), "--rate", str(rate)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        for key, values in json.loads(out.strip().splitlines()[-1]).items():
            self.times[key] += values

    @staticmethod
    def run_child(model: str, threads: int, seconds: float, rate: float) -> int:
        import torch

        from skeleton_perception import SkeletonDetector

        if threads:
            torch.set_num_threads(threads)
        detectors = {
            "": SkeletonDetector.from_checkpoint(model, device="cpu"),
            "plain ": SkeletonDetector.from_checkpoint(model, device="cpu", optimize=False),
        }
        times: dict[str, list[float]] = defaultdict(list)
        for size, (w, h) in SIZES.items():
            pixels, _ = bench_image(w, h)
            for detector in detectors.values():
                for _ in range(3):
                    detector(pixels)
            for suffix, period in (("", 0.0), (" paced", 1.0 / rate)):
                for prefix, detector in detectors.items():
                    key = prefix + size + suffix
                    start = time.monotonic()
                    while time.monotonic() - start < seconds:
                        t = time.perf_counter()
                        detector(pixels)
                        times[key].append(time.perf_counter() - t)
                        time.sleep(max(0.0, period - (time.perf_counter() - t)))
        print(json.dumps(times))
        return 0

    def summary(self, size: str, plain: bool = False) -> dict:
        """Back-to-back rate (Hz) and paced p50 (ms) of the optimised (or plain) model."""
        key = ("plain " if plain else "") + size
        t = np.array(self.times[key])
        paced = np.array(self.times[key + " paced"])
        return {"hz": len(t) / float(t.sum()), "p50": float(np.median(paced) * 1e3)}


# --------------------------------------------------------------------------- misc


def bench_image(width: int, height: int):
    """A random rgb8 image as an array and a message."""
    from skeleton_perception.nodes.conversions import numpy_to_image

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    msg = numpy_to_image(pixels, "rgb8")
    msg.header.frame_id = "bench"
    return pixels, msg


def rss_mb(pid: int) -> float:
    """Resident memory of a process, in MB (from /proc)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def default_model(tmp: Path) -> str:
    """The shipped model if present, else a random checkpoint of the default architecture."""
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


def flood_check(source: Source, proc: subprocess.Popen, args) -> None:
    """--flood-hz (1 kHz) of 640x480 at the detector for --flood-seconds: memory, survival."""
    _, msg = bench_image(640, 480)
    print(f"\nflood check: {args.flood_hz:.0f} Hz of 640x480 for {args.flood_seconds:.0f} s")
    samples = [rss_mb(proc.pid)]
    stop_sampling = threading.Event()

    def sample():
        while not stop_sampling.wait(1.0):
            samples.append(rss_mb(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    result = pooled([source.measure("detector", msg, args.flood_hz, args.flood_seconds)])
    stop_sampling.set()
    sampler.join()
    alive = proc.poll() is None
    quarter = max(1, len(samples) // 4)
    print(
        f"  published {result['in_hz']:.0f} Hz, skeletons {result['out_hz']:.1f} Hz, latency "
        f"p50 {result['p50']:.1f} ms p99 {result['p99']:.1f} ms; in the node: model busy "
        f"{result['model_busy']:.2f} of the time, inference p50 {result['inference_ms']:.1f} ms\n"
        f"  detector RSS: {samples[0]:.0f} MB before, {max(samples):.0f} MB max, mean of the "
        f"first quarter {np.mean(samples[:quarter]):.0f} MB, of the last quarter "
        f"{np.mean(samples[-quarter:]):.0f} MB; node {'alive' if alive else 'DEAD'}"
    )


def report(results: dict, alone: ModelAlone, args, roles: tuple[str, ...] = ROLES) -> None:
    print("\nresults (pooled over rounds):")
    for size in SIZES:
        a, b = alone.summary(size), alone.summary(size, plain=True)
        print(
            f"  {size}: model alone {a['hz']:.1f} Hz back to back, "
            f"p50 {a['p50']:.1f} ms at {args.rate:.0f} Hz | plain model (optimize=False) "
            f"{b['hz']:.1f} Hz, p50 {b['p50']:.1f} ms | optimised/plain rate "
            f"x{a['hz'] / b['hz']:.2f}"
        )
        for role in roles:
            s, f = results[(role, size, "steady")], results[(role, size, "flood")]
            print(
                f"    {role:12s} steady {s['in_hz']:4.0f} Hz: p50 {s['p50']:6.1f} ms "
                f"p99 {s['p99']:6.1f} ms, {s['received']}/{s['sent']} | flood "
                f"{f['in_hz']:4.0f} Hz: out {f['out_hz']:6.1f} Hz, p50 {f['p50']:6.1f} ms "
                f"p99 {f['p99']:6.1f} ms"
                + (
                    f" | in the node: model busy {f['model_busy']:.2f}, "
                    f"inference p50 {f['inference_ms']:.1f} ms"
                    if role.startswith("detector")
                    else ""
                )
            )
    print("\nratios (same run):")
    for size in SIZES:
        d, n, p = ({k: results[(r, size, k)] for k in ("steady", "flood")} for r in ROLES[::-1])
        a = alone.summary(size)
        ceiling = min(a["hz"], p["flood"]["out_hz"])
        vs_naive = d["flood"]["out_hz"] / n["flood"]["out_hz"]
        print(
            f"  {size}: flood output detector/naive {vs_naive:.2f}, "
            f"detector/min(model alone, pass-through) {d['flood']['out_hz'] / ceiling:.2f}, "
            f"detector/its model's rate under the same load {d['flood']['model_busy']:.2f}; "
            f"flood p50 latency naive/detector {n['flood']['p50'] / d['flood']['p50']:.1f}x; "
            f"steady p50 detector - pass-through {d['steady']['p50'] - p['steady']['p50']:.1f} ms "
            f"(model alone {a['p50']:.1f} ms)"
        )
        if "detector-plain" in roles:
            q = {k: results[("detector-plain", size, k)] for k in ("steady", "flood")}
            b = alone.summary(size, plain=True)
            ceiling_b = min(b["hz"], p["flood"]["out_hz"])
            print(
                f"    optimised vs plain model (same run): steady p50 {d['steady']['p50']:.1f} vs "
                f"{q['steady']['p50']:.1f} ms, flood output {d['flood']['out_hz']:.1f} vs "
                f"{q['flood']['out_hz']:.1f} Hz "
                f"(x{d['flood']['out_hz'] / q['flood']['out_hz']:.2f}), "
                f"detector/min(model alone, pass-through) {d['flood']['out_hz'] / ceiling:.2f} "
                f"vs {q['flood']['out_hz'] / ceiling_b:.2f}"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--role", choices=CHILD_ROLES, help=argparse.SUPPRESS)
    parser.add_argument("--model", default=None, help="checkpoint (default: see above)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per node (1)")
    parser.add_argument("--rate", type=float, default=20.0, help="steady input rate, Hz (20)")
    parser.add_argument("--flood-rate", type=float, default=200.0, help="flood rate, Hz (200)")
    parser.add_argument("--seconds", type=float, default=2.0, help="seconds per window (2)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (3)")
    parser.add_argument("--flood", action="store_true", help="also run the flood check")
    parser.add_argument("--flood-hz", type=float, default=1000.0, help="flood check rate (1000)")
    parser.add_argument("--flood-seconds", type=float, default=30.0, help="its duration (30)")
    parser.add_argument(
        "--plain", action="store_true", help="also measure the detector with optimize:=false"
    )
    parser.add_argument(
        "--raw",
        action="store_true",
        help="publish pre-serialized images (stamp patched in place) instead of serializing "
        "each one in Python (about 0.8 ms per 640x480 image, taken from the nodes' CPU)",
    )
    args, ros_args = parser.parse_known_args()
    if args.role == "model-alone":
        return ModelAlone.run_child(args.model, args.threads, args.seconds, args.rate)
    if args.role:
        return run_role(args.role, args.model, args.threads, ros_args)

    os.environ.setdefault("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA")
    # A domain of its own, at most 101: higher domains use UDP ports inside Linux's
    # ephemeral range (32768-60999), where a clash breaks discovery at random.
    os.environ.setdefault("ROS_DOMAIN_ID", str(random.randint(60, 101)))
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or default_model(Path(tmp))
        print(
            f"bench_node: model {model}, "
            f"{args.threads} torch thread(s) per node, "
            f"FASTDDS_BUILTIN_TRANSPORTS={os.environ['FASTDDS_BUILTIN_TRANSPORTS']}, "
            f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
            f"{', pre-serialized images (--raw)' if args.raw else ''}",
            flush=True,
        )
        roles = (*ROLES, "detector-plain") if args.plain else ROLES
        procs = {role: spawn(role, model, args.threads) for role in roles}
        source = Source(roles, raw=args.raw)
        try:
            alone = ModelAlone(model, args.threads)
            source.wait_matched()
            images = {size: bench_image(w, h) for size, (w, h) in SIZES.items()}
            for role in roles:
                source.warm_up(role, images["64x64"][1])
            windows: dict = defaultdict(list)
            for r in range(args.rounds):
                alone.measure(min(1.0, args.seconds), args.rate)
                for size, (_pixels, msg) in images.items():
                    for role in roles:
                        source.stream(role, msg, args.rate, 0.3)  # settle on this size
                        for load, rate in (("steady", args.rate), ("flood", args.flood_rate)):
                            w = source.measure(role, msg, rate, args.seconds)
                            windows[(role, size, load)].append(w)
                print(f"  round {r + 1}/{args.rounds} done", flush=True)
            results = {key: pooled(ws) for key, ws in windows.items()}
            report(results, alone, args, roles)
            if args.flood:
                flood_check(source, procs["detector"], args)
        finally:
            for proc in procs.values():
                stop(proc)
            source.close()
        print(f"load average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
