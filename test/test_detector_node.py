"""The detector node with real rclpy publishers and subscribers and the real model."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")
from detector_fixtures import write_random_checkpoint  # noqa: E402
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from rclpy.exceptions import (  # noqa: E402
    InvalidParameterTypeException,
    InvalidParameterValueException,
)
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import ReliabilityPolicy  # noqa: E402
from ros_helpers import wait_for  # noqa: E402
from sensor_msgs.msg import CompressedImage, Image  # noqa: E402
from skeleton_perception.msg import SkeletonGraph  # noqa: E402
from std_msgs.msg import Header  # noqa: E402
from visualization_msgs.msg import Marker, MarkerArray  # noqa: E402

from skeleton_perception.nodes.conversions import (  # noqa: E402
    make_camera_info,
    numpy_to_image,
    rgb_to_compressed,
)
from skeleton_perception.nodes.detector_node import DetectorNode  # noqa: E402
from skeleton_perception.nodes.runner import make_executor  # noqa: E402

pytestmark = pytest.mark.ros


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return str(write_random_checkpoint(tmp_path_factory.mktemp("model") / "tiny.pt"))


class Harness:
    """A detector node plus a test node in one executor, with helpers to talk to it."""

    def __init__(self, context, checkpoint, args=(), namespace=None):
        # The test's model and device come last: they win over a params file in ``args``.
        cli = ["--ros-args", *args, "-p", f"model_path:={checkpoint}", "-p", "device:=cpu"]
        self.node = DetectorNode(context=context, cli_args=cli, namespace=namespace)
        self.peer = rclpy.create_node("detector_test_peer", context=context, namespace=namespace)
        self.executor = make_executor(context)  # what the executable spins by default
        self.executor.add_node(self.node)
        self.executor.add_node(self.peer)
        self.received: dict[str, list] = {}

    def subscribe(self, msg_type, topic):
        box = self.received.setdefault(topic, [])
        sub = self.peer.create_subscription(msg_type, topic, box.append, 10)
        assert wait_for(lambda: sub.get_publisher_count() > 0, self.executor)
        return sub

    def publisher(self, msg_type, topic):
        pub = self.peer.create_publisher(msg_type, topic, 1)
        assert wait_for(lambda: pub.get_subscription_count() > 0, self.executor)
        return pub

    def publish_until(self, pub, msg, done, timeout=10.0):
        """Publishes ``msg`` every 0.25 s (best effort may lose one) until ``done()``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pub.publish(msg)
            if wait_for(done, self.executor, timeout=0.25):
                return True
        return False

    def spin_for(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.executor.spin_once(timeout_sec=0.02)

    def close(self):
        self.executor.shutdown()
        self.node.destroy_node()
        self.peer.destroy_node()


@pytest.fixture
def harness(context, checkpoint):
    made = []

    def make(*args, namespace=None):
        h = Harness(context, checkpoint, args, namespace)
        made.append(h)
        return h

    yield make
    for h in made:
        h.close()


def image_msg(width=100, height=80, encoding="rgb8", sec=1234, nanosec=5678, frame="cam_optical"):
    rng = np.random.default_rng(width * height)
    shape = {"mono8": (height, width), "mono16": (height, width)}.get(
        encoding, (height, width, 4 if "a" in encoding.replace("mono", "") else 3)
    )
    dtype = np.uint16 if encoding == "mono16" else np.uint8
    pixels = rng.integers(0, np.iinfo(dtype).max, shape, dtype=dtype)
    header = Header(frame_id=frame)
    header.stamp.sec, header.stamp.nanosec = sec, nanosec
    return numpy_to_image(pixels, encoding, header)


def test_image_in_skeleton_out_with_same_header(harness):
    h = harness("-p", "link_threshold:=0.0")
    h.subscribe(SkeletonGraph, "skeleton")
    pub = h.publisher(Image, "image")
    msg = image_msg(100, 80, sec=1234, nanosec=5678, frame="cam_optical")
    assert h.publish_until(pub, msg, lambda: h.received["skeleton"])
    out = h.received["skeleton"][0]
    assert (out.header.stamp.sec, out.header.stamp.nanosec) == (1234, 5678)
    assert out.header.frame_id == "cam_optical"
    assert (out.image_width, out.image_height) == (100, 80)
    assert out.joints and out.links  # threshold 0: every point is linked
    xy = np.array([(j.x, j.y) for j in out.joints])
    # Pixels of the 100x80 input (the letterbox's padding rows may hold points too).
    assert np.isfinite(xy).all() and (np.abs(xy - (49.5, 39.5)) <= 50.5).all()


def test_skeletons_keep_the_images_order_and_the_worker_stops_on_destroy(harness):
    h = harness()
    h.subscribe(SkeletonGraph, "skeleton")
    pub = h.publisher(Image, "image")
    assert h.publish_until(pub, image_msg(sec=1), lambda: h.received["skeleton"])
    for sec in range(2, 40):
        pub.publish(image_msg(sec=sec))
        h.spin_for(0.002)  # faster than the model: some are dropped, none reordered
    assert wait_for(lambda: h.received["skeleton"][-1].header.stamp.sec == 39, h.executor, 10)
    stamps = [m.header.stamp.sec for m in h.received["skeleton"]]
    assert len(stamps) >= 3 and stamps == sorted(set(stamps))
    worker = h.node._worker
    assert worker.is_alive()
    h.node.destroy_node()
    assert not worker.is_alive()


@pytest.mark.parametrize(
    ("encoding", "width", "height"),
    [
        ("bgr8", 640, 480),
        ("rgba8", 33, 17),
        ("bgra8", 64, 64),
        ("mono8", 20, 200),
        ("mono16", 48, 40),
    ],
)
def test_encodings_and_sizes(harness, encoding, width, height):
    h = harness()
    h.subscribe(SkeletonGraph, "skeleton")
    pub = h.publisher(Image, "image")
    assert h.publish_until(pub, image_msg(width, height, encoding), lambda: h.received["skeleton"])
    out = h.received["skeleton"][0]
    assert (out.image_width, out.image_height) == (width, height)


def test_compressed_transport(harness):
    h = harness("-p", "use_compressed:=true", namespace="cam")
    assert h.node.input_topic == "/cam/image/compressed"
    h.subscribe(SkeletonGraph, "skeleton")
    pub = h.publisher(CompressedImage, "image/compressed")
    rgb = np.random.default_rng(0).integers(0, 255, (60, 90, 3), dtype=np.uint8)
    msg = rgb_to_compressed(rgb, Header(frame_id="jpeg_cam"))
    assert h.publish_until(pub, msg, lambda: h.received["skeleton"])
    out = h.received["skeleton"][0]
    assert out.header.frame_id == "jpeg_cam" and (out.image_width, out.image_height) == (90, 60)
    garbage = CompressedImage(format="jpeg")
    garbage.data = b"\x00" * 50
    assert h.publish_until(pub, garbage, lambda: h.node.malformed >= 1)


def test_markers_and_debug_image_only_while_subscribed(harness):
    h = harness("-p", "link_threshold:=0.0", "-p", "marker_depth:=2.0")
    h.subscribe(SkeletonGraph, "skeleton")
    pub = h.publisher(Image, "image")
    # Nobody listens to markers or the debug image: neither is built.
    assert h.publish_until(pub, image_msg(), lambda: len(h.received["skeleton"]) >= 2)
    assert h.node.markers_published == 0 and h.node.debug_images_published == 0

    info_pub = h.publisher(type(make_camera_info(1, 1, (1, 1, 0, 0))), "camera_info")
    info = make_camera_info(100, 80, (200.0, 200.0, 50.0, 40.0), Header(frame_id="cam_optical"))
    assert h.publish_until(info_pub, info, lambda: h.node._intrinsics is not None)

    debug_sub = h.subscribe(Image, "debug_image")
    h.subscribe(MarkerArray, "skeleton_markers")
    msg = image_msg()
    assert h.publish_until(
        pub, msg, lambda: h.received["debug_image"] and h.received["skeleton_markers"]
    )
    debug = h.received["debug_image"][0]
    assert (debug.width, debug.height, debug.encoding) == (100, 80, "rgb8")
    assert debug.header == msg.header

    markers = h.received["skeleton_markers"][0].markers
    assert [(m.ns, m.id, m.type) for m in markers] == [
        ("skeleton", 0, Marker.LINE_LIST),
        ("skeleton", 1, Marker.SPHERE_LIST),
    ]
    skeleton = h.received["skeleton"][-1]
    joints = markers[1]
    assert all(m.header == msg.header for m in markers)
    assert 0 < joints.lifetime.sec + joints.lifetime.nanosec * 1e-9 <= 5
    assert len(joints.points) == len(joints.colors) == len(skeleton.joints)
    # On the plane z = marker_depth, through the camera_info intrinsics.
    j0 = skeleton.joints[0]
    p0 = joints.points[0]
    assert p0.z == pytest.approx(2.0)
    assert p0.x == pytest.approx((j0.x - 50.0) / 200.0 * 2.0, abs=1e-6)
    assert p0.y == pytest.approx((j0.y - 40.0) / 200.0 * 2.0, abs=1e-6)
    assert len(markers[0].points) == 2 * len(skeleton.links)

    # The debug subscriber leaves: the node stops drawing.
    h.peer.destroy_subscription(debug_sub)
    assert wait_for(lambda: h.node.debug_pub.get_subscription_count() == 0, h.executor)
    drawn = h.node.debug_images_published
    count = len(h.received["skeleton"])
    assert h.publish_until(pub, image_msg(), lambda: len(h.received["skeleton"]) > count)
    assert h.node.debug_images_published == drawn


@pytest.mark.parametrize(
    ("problem", "mutate"),
    [
        ("unsupported encoding 'yuv422'", lambda m: setattr(m, "encoding", "yuv422")),
        (
            "unsupported encoding '32FC1' (the detector takes rgb8, bgr8, rgba8, bgra8, mono8, "
            "mono16)",
            lambda m: setattr(m, "encoding", "32FC1"),
        ),
        ("step", lambda m: setattr(m, "step", 10)),
        ("data has", lambda m: setattr(m, "data", m.data[: len(m.data) // 2])),
        ("empty image", lambda m: setattr(m, "width", 0)),
        ("too large", lambda m: (setattr(m, "width", 10_000), setattr(m, "height", 10_000))),
    ],
)
def test_malformed_images_are_counted_and_survived(harness, problem, mutate):
    h = harness()
    h.subscribe(SkeletonGraph, "skeleton")
    pub = h.publisher(Image, "image")
    bad = image_msg()
    mutate(bad)
    assert h.publish_until(pub, bad, lambda: h.node.malformed >= 1)
    assert problem in h.node._last_problem
    assert not h.received["skeleton"]
    # Still alive: a good image gives a skeleton.
    assert h.publish_until(pub, image_msg(), lambda: h.received["skeleton"])


def test_really_large_image_is_refused_by_max_image_pixels(harness):
    h = harness("-p", "max_image_pixels:=10000")
    pub = h.publisher(Image, "image")
    assert h.publish_until(pub, image_msg(640, 480), lambda: h.node.malformed >= 1)
    assert "too large" in h.node._last_problem


def test_worker_never_blocks_the_executor_and_drops_oldest(harness):
    h = harness()
    h.subscribe(SkeletonGraph, "skeleton")
    pub = h.publisher(Image, "image")
    info_pub = h.publisher(type(make_camera_info(1, 1, (1, 1, 0, 0))), "camera_info")
    started, release = threading.Event(), threading.Event()
    real = h.node.detector

    class Slow:
        device = real.device

        def __call__(self, rgb):
            started.set()
            release.wait(10.0)
            return real(rgb)

    h.node.detector = Slow()
    msg = image_msg()
    assert h.publish_until(pub, msg, started.is_set)
    # While the worker is stuck on that image, the executor keeps running callbacks...
    info = make_camera_info(100, 80, (200.0, 200.0, 50.0, 40.0))
    assert h.publish_until(info_pub, info, lambda: h.node._intrinsics is not None)
    # ...and each new image replaces the last in the subscription's depth-1 history.
    received_before = h.node.input_rate.count
    for _ in range(8):
        pub.publish(msg)
        h.spin_for(0.03)
    assert h.node.input_rate.count == received_before and h.node.dropped == 0
    release.set()
    assert wait_for(lambda: len(h.received["skeleton"]) >= 2, h.executor)
    h.spin_for(0.3)
    # Only the newest is run: one output for the stuck image plus one, not the backlog.
    assert len(h.received["skeleton"]) == 2
    # The 7 overwritten ones are counted from the publisher's sequence numbers (so are
    # any that best effort lost), and every image is either published or dropped.
    assert h.node.dropped >= 7
    assert h.node.input_rate.count == h.node.output_rate.count + h.node.dropped


def test_diagnostics(harness):
    h = harness()
    h.subscribe(DiagnosticArray, "/diagnostics")
    pub = h.publisher(Image, "image")
    bad = image_msg()
    bad.encoding = "nonsense"
    assert h.publish_until(pub, bad, lambda: h.node.malformed >= 1)
    wanted = h.node.get_fully_qualified_name()

    def statuses():
        return [
            s for a in h.received["/diagnostics"] for s in a.status if s.name.startswith(wanted)
        ]

    def malformed(status):
        return int({kv.key: kv.value for kv in status.values}["frames_malformed"])

    assert wait_for(lambda: any(malformed(s) >= 1 for s in statuses()), h.executor, 5)
    status = statuses()[-1]
    values = {kv.key: kv.value for kv in status.values}
    for key in ("input_rate_hz", "output_rate_hz", "frames_dropped", "latency_p50_ms"):
        assert key in values
    assert values["device"] == "cpu" and status.hardware_id == "cpu"
    assert int(values["frames_malformed"]) >= 1


def test_diagnostics_report_the_time_in_the_model(harness):
    h = harness("-p", "diagnostics_period:=0.2")
    h.subscribe(DiagnosticArray, "/diagnostics")
    pub = h.publisher(Image, "image")
    wanted = h.node.get_fully_qualified_name()

    def busy_status():
        for array in reversed(h.received["/diagnostics"]):
            for status in array.status:
                values = {kv.key: kv.value for kv in status.values}
                if status.name.startswith(wanted) and float(values["model_busy_fraction"]) > 0:
                    return values
        return None

    assert h.publish_until(pub, image_msg(), lambda: busy_status() is not None)
    values = busy_status()
    assert 0.0 < float(values["model_busy_fraction"]) <= 1.0
    # Every image's latency (from reception) includes its time in the model.
    assert 0.0 < float(values["inference_p50_ms"]) <= float(values["latency_p50_ms"])
    assert float(values["inference_p50_ms"]) <= float(values["inference_p99_ms"])


def test_parameters_from_command_line_and_params_file(harness, tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text(
        "/**:\n  ros__parameters:\n    marker_depth: 2.5\n    min_joint_score: 0.2\n"
        "    max_rate_hz: 15.0\n"
    )
    h = harness(
        "-p",
        "link_threshold:=0.7",
        "-p",
        "qos_overrides./image.subscription.reliability:=reliable",
        "--params-file",
        str(params),
    )
    assert h.node.get_parameter("link_threshold").value == 0.7
    assert h.node._images.subscription.qos_profile.reliability == ReliabilityPolicy.RELIABLE
    assert h.node.detector.link_threshold == pytest.approx(0.7)
    assert h.node.detector.min_joint_score == pytest.approx(0.2)
    assert h.node._marker_depth == 2.5 and h.node._max_rate_hz == 15.0
    # At run time: applied to the detector.
    result = h.node.set_parameters([Parameter("link_threshold", value=0.3)])
    assert result[0].successful
    assert h.node.detector.link_threshold == pytest.approx(0.3)


def test_shipped_params_file_loads(harness):
    from pathlib import Path

    config = Path(__file__).resolve().parents[1] / "config" / "detector.yaml"
    h = harness("--params-file", str(config))
    assert h.node.get_parameter("link_threshold").value == 0.5
    assert h.node.detector.inference_model is not h.node.detector.model  # optimised copy


def test_optimize_false_runs_the_model_as_loaded(harness):
    h = harness("-p", "optimize:=false")
    assert h.node.detector.inference_model is h.node.detector.model


def test_structure_parameter_chooses_how_links_are_predicted(harness):
    h = harness("-p", "structure:=search")
    assert h.node.detector.model.cfg.structure == "search"
    h = harness("-p", "structure:=psi")
    assert h.node.detector.model.cfg.structure == "psi"


@pytest.mark.parametrize(
    ("arg", "exc", "reason"),
    [
        ("device:=gpu", InvalidParameterValueException, "device must be"),
        ("structure:=oracle", InvalidParameterValueException, "structure must be"),
        ("link_threshold:=1.5", InvalidParameterValueException, "out of range"),
        ("marker_depth:=-1.0", InvalidParameterValueException, "out of range"),
        ("max_rate_hz:=fast", InvalidParameterTypeException, "expecting type"),
    ],
)
def test_bad_values_are_refused_at_start(context, checkpoint, arg, exc, reason):
    cli = ["--ros-args", "-p", f"model_path:={checkpoint}", "-p", arg]
    with pytest.raises(exc, match=reason):
        DetectorNode(context=context, cli_args=cli)


def test_bad_values_are_refused_at_run_time(harness):
    h = harness()
    node = h.node
    for name, value, reason in [
        ("link_threshold", 2.0, "out of range"),
        ("marker_depth", 0.0, "out of range"),
        ("marker_namespace", "", "must not be empty"),
        ("model_path", "/other.pt", "read-only"),
        ("device", "cuda", "read-only"),
    ]:
        result = node.set_parameters([Parameter(name, value=value)])[0]
        assert not result.successful and reason in result.reason, (name, result.reason)
    assert node.get_parameter("link_threshold").value == 0.5


def test_missing_model_fails_at_start_naming_the_file(context, tmp_path):
    missing = tmp_path / "nope.pt"
    with pytest.raises(RuntimeError, match=str(missing)):
        DetectorNode(context=context, cli_args=["--ros-args", "-p", f"model_path:={missing}"])
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(RuntimeError, match=str(broken)):
        DetectorNode(context=context, cli_args=["--ros-args", "-p", f"model_path:={broken}"])


def test_max_rate_skips_frames(harness):
    h = harness("-p", "max_rate_hz:=2.0")
    h.subscribe(SkeletonGraph, "skeleton")
    pub = h.publisher(Image, "image")
    assert h.publish_until(pub, image_msg(), lambda: h.received["skeleton"])
    for _ in range(5):
        pub.publish(image_msg())
        h.spin_for(0.02)
    assert wait_for(lambda: h.node.skipped_rate >= 3, h.executor, 3)


def _run_detector_process(*ros_args, env=None):
    import os
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "skeleton_perception.nodes.detector_node", "--ros-args"]
    return subprocess.Popen(
        [*cmd, *ros_args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )


def test_executable_stops_on_sigint_and_sigterm(checkpoint):
    import signal

    for sig in (signal.SIGINT, signal.SIGTERM):
        proc = _run_detector_process(
            "-p", f"model_path:={checkpoint}", "-p", "device:=cpu"
        )  # fmt: skip
        try:
            lines = []
            while not any("listening on" in line for line in lines):
                line = proc.stdout.readline()
                assert line, "".join(lines)  # exited before it was up
                lines.append(line)
            start = time.monotonic()
            proc.send_signal(sig)
            out, _ = proc.communicate(timeout=20)
            assert proc.returncode == 0, out
            assert time.monotonic() - start < 10
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


def test_executable_fails_at_start_with_one_line_naming_the_file(tmp_path):
    missing = tmp_path / "no_model_here.pt"
    proc = _run_detector_process("-p", f"model_path:={missing}")
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert str(missing) in out and "Traceback" not in out, out


def test_detector_in_another_process_with_a_camera_size_image(context, checkpoint):
    proc = _run_detector_process(
        "-p", f"model_path:={checkpoint}", "-p", "device:=cpu", "-r", "image:=/xproc/image",
        "-r", "skeleton:=/xproc/skeleton",
    )  # fmt: skip
    peer = rclpy.create_node("xproc_peer", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(peer)
    got = []
    try:
        sub = peer.create_subscription(SkeletonGraph, "/xproc/skeleton", got.append, 10)
        pub = peer.create_publisher(Image, "/xproc/image", 1)
        matched = lambda: pub.get_subscription_count() and sub.get_publisher_count()  # noqa: E731
        assert wait_for(matched, executor, 60), "detector process did not come up"
        msg = image_msg(640, 480, "bgr8", sec=77, nanosec=88, frame="far_camera")
        deadline = time.monotonic() + 30
        while not got and time.monotonic() < deadline:
            pub.publish(msg)
            wait_for(lambda: got, executor, 0.5)
        assert got, "no skeleton from the detector process"
        assert (got[0].header.stamp.sec, got[0].header.stamp.nanosec) == (77, 88)
        assert got[0].header.frame_id == "far_camera"
        assert (got[0].image_width, got[0].image_height) == (640, 480)
    finally:
        executor.shutdown()
        peer.destroy_node()
        proc.terminate()
        proc.communicate(timeout=30)


def _rss_mb() -> float:
    from pathlib import Path

    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


@pytest.mark.slow
def test_flood_of_camera_size_images_keeps_memory_bounded(harness):
    """As fast as possible 640x480 for 20 s: bounded memory, frames dropped, still alive."""
    h = harness()
    h.subscribe(SkeletonGraph, "skeleton")
    pub = h.publisher(Image, "image")
    msg = image_msg(640, 480)
    assert h.publish_until(pub, msg, lambda: h.received["skeleton"])
    spinner = threading.Thread(target=h.executor.spin, daemon=True)
    spinner.start()
    before = early = _rss_mb()
    end = time.monotonic() + 20.0
    sent = 0
    while time.monotonic() < end:
        pub.publish(msg)
        sent += 1
        if sent == 200:
            early = _rss_mb()
    after = _rss_mb()
    h.executor.shutdown()
    spinner.join(5.0)
    assert h.node.dropped > 0 and h.node.output_rate.count > 1
    assert after - early < 100, (before, early, after)
