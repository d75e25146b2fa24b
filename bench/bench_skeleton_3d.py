"""What ``skeleton_3d`` adds per frame at 640x480, against the detector alone, same run.

    .venv/bin/python bench/bench_skeleton_3d.py [--frames 100] [--rounds 3]

Frames: the simulated camera (Cartpoles, 640x480, with its aligned depth render). Timed
in interleaved rounds (medians pooled):

* **detector**: the ``SkeletonDetector`` call on the 640x480 image, in this process (what
  the detector node spends per frame in its model);
* **skeleton_3d, in the node**: ``Skeleton3DNode.process`` called in this process on the
  detector's real skeleton and the depth image message (32FC1 and 16UC1, alternating
  which runs first): decoding, the window medians, deprojection, the SkeletonGraph3D, its
  publication and the markers (a marker subscriber is present, the costlier case);
* **skeleton_3d, over DDS**: the ``skeleton_3d`` executable in a process of its own, as
  deployed; this process publishes the depth image (as the camera does, while the
  detector runs), then the ``SkeletonGraph``, and times until the ``SkeletonGraph3D`` is
  received: the whole added latency, transport and rclpy's executor included;
* **pass-through**: a node in a process of its own that republishes the SkeletonGraph it
  receives, timed the same way: the transport floor (two DDS hops, an rclpy executor)
  that any node pays.

The ratios printed are (detector + skeleton_3d over DDS) / detector, and the same less
the pass-through's transport; the target is that skeleton_3d adds at most 2 ms p50.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time

import numpy as np

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA")

NS = "/bench_skeleton_3d"


from bench_node import stop  # noqa: E402  (bench/ is on sys.path when run)


def run_relay() -> int:
    """The pass-through node (in its own process): SkeletonGraph in, the same out."""
    import rclpy
    from rclpy.executors import ExternalShutdownException
    from skeleton_perception.msg import SkeletonGraph

    try:
        with rclpy.init():
            node = rclpy.create_node("bench_relay")
            pub = node.create_publisher(SkeletonGraph, f"{NS}/relay_out", 10)
            node.create_subscription(SkeletonGraph, f"{NS}/relay_in", pub.publish, 10)
            rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    return 0


def spawn(cmd: list[str]) -> subprocess.Popen:
    return subprocess.Popen(cmd, env=os.environ.copy())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--role", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "relay":
        return run_relay()

    import rclpy
    import torch
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import CameraInfo, Image
    from skeleton_perception.msg import SkeletonGraph, SkeletonGraph3D
    from skeleton_perception.training.sim.live import SimulatedCamera
    from visualization_msgs.msg import MarkerArray

    from skeleton_perception import SkeletonDetector
    from skeleton_perception.nodes.conversions import (
        GRAPH_TYPES,
        make_camera_info,
        ns_to_stamp,
        numpy_to_image,
    )
    from skeleton_perception.nodes.sim_camera_node import depth_image
    from skeleton_perception.nodes.skeleton_3d_node import Skeleton3DNode
    from skeleton_perception.skeleton_msg import skeleton_to_msg

    torch.set_num_threads(1)
    width, height = 640, 480
    with SimulatedCamera("cartpoles", 0, (height, width), depth=True) as cam:
        frames = [cam.step() for _ in range(args.frames)]
        intrinsics = cam.intrinsics
    detector = SkeletonDetector.from_checkpoint(None, device="cpu")
    detector(frames[0].image)  # warm up
    info = make_camera_info(width, height, intrinsics)
    info.header.frame_id = "camera_optical_frame"

    remaps = [f"{n}:={NS}/{n}" for n in ("skeleton", "depth", "camera_info", "skeleton_3d")]
    remaps.append(f"skeleton_3d_markers:={NS}/markers")
    node_cmd = [sys.executable, "-m", "skeleton_perception.nodes.skeleton_3d_node"]
    node_cmd += ["--ros-args", "--log-level", "warn"]
    for remap in remaps:
        node_cmd += ["-r", remap]
    procs = [spawn(node_cmd), spawn([sys.executable, __file__, "--role", "relay"])]

    rclpy.init()
    node = Skeleton3DNode(node_name="skeleton_3d_in_process")  # for the in-process timings
    node._on_camera_info(info)
    peer = rclpy.create_node("bench_skeleton_3d_peer")
    received, relayed = threading.Event(), threading.Event()
    peer.create_subscription(SkeletonGraph3D, f"{NS}/skeleton_3d", lambda m: received.set(), 10)
    peer.create_subscription(MarkerArray, f"{NS}/markers", lambda m: None, 10)
    peer.create_subscription(MarkerArray, "skeleton_3d_markers", lambda m: None, 10)
    peer.create_subscription(SkeletonGraph, f"{NS}/relay_out", lambda m: relayed.set(), 10)
    skeleton_pub = peer.create_publisher(SkeletonGraph, f"{NS}/skeleton", 10)
    depth_pub = peer.create_publisher(Image, f"{NS}/depth", 10)
    info_pub = peer.create_publisher(CameraInfo, f"{NS}/camera_info", 10)
    relay_in = peer.create_publisher(SkeletonGraph, f"{NS}/relay_in", 10)
    executor = SingleThreadedExecutor()
    executor.add_node(peer)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()

    def publish_pair(msg, frame) -> None:
        depth = numpy_to_image(depth_image(frame.depth, "32FC1"), "32FC1", msg.header)
        depth_pub.publish(depth)
        time.sleep(0.005)  # the depth image arrives before its skeleton, as in a camera
        received.clear()
        skeleton_pub.publish(msg)

    timings: dict[str, list[float]] = {
        "detector": [],
        "node 32FC1": [],
        "node 16UC1": [],
        "over DDS 32FC1": [],
        "pass-through": [],
    }
    stamp = 1_000_000_000
    try:
        # Warm up: the processes are matched and the node has a camera_info.
        deadline = time.monotonic() + 60
        warm = skeleton_to_msg(detector(frames[0].image), GRAPH_TYPES)
        warm.image_width, warm.image_height = width, height
        warm.header.frame_id = "camera_optical_frame"
        while not received.is_set():
            if time.monotonic() > deadline:
                raise RuntimeError("skeleton_3d never answered")
            stamp += 50_000_000
            warm.header.stamp = info.header.stamp = ns_to_stamp(stamp)
            info_pub.publish(info)
            time.sleep(0.05)
            publish_pair(warm, frames[0])
            received.wait(0.5)
        while not relayed.is_set():
            relay_in.publish(warm)
            relayed.wait(0.5)
        assert node.markers_pub.get_subscription_count() > 0

        for _ in range(args.rounds):
            for k, frame in enumerate(frames):
                start = time.perf_counter()
                sk = detector(frame.image)
                timings["detector"].append(time.perf_counter() - start)
                sk.image_size = (width, height)
                stamp += 50_000_000
                msg = skeleton_to_msg(sk, GRAPH_TYPES)
                msg.header.stamp = ns_to_stamp(stamp)
                msg.header.frame_id = "camera_optical_frame"
                # Alternate which encoding runs first, right after the detector.
                for encoding in ("32FC1", "16UC1")[:: 1 if k % 2 else -1]:
                    depth = numpy_to_image(depth_image(frame.depth, encoding), encoding, msg.header)
                    start = time.perf_counter()
                    out = node.process(msg, depth)
                    timings[f"node {encoding}"].append(time.perf_counter() - start)
                    assert out is not None, node.problems
                publish_pair(msg, frame)
                start = time.perf_counter()
                if received.wait(2.0):
                    timings["over DDS 32FC1"].append(time.perf_counter() - start)
                relayed.clear()
                start = time.perf_counter()
                relay_in.publish(msg)
                if relayed.wait(2.0):
                    timings["pass-through"].append(time.perf_counter() - start)
    finally:
        executor.shutdown()
        node.destroy_node()
        peer.destroy_node()
        rclpy.shutdown()
        for proc in procs:
            stop(proc)

    p50 = {k: float(np.median(v)) * 1e3 for k, v in timings.items()}
    p99 = {k: float(np.percentile(v, 99)) * 1e3 for k, v in timings.items()}
    print(f"640x480, {args.frames} frames x {args.rounds} rounds, 1 torch thread")
    for k in timings:
        print(f"  {k:16s} p50 {p50[k]:7.3f} ms   p99 {p99[k]:7.3f} ms   (n={len(timings[k])})")
    added = p50["over DDS 32FC1"]
    own = added - p50["pass-through"]
    print(
        f"skeleton_3d adds {added:.3f} ms p50 over DDS, of which {p50['pass-through']:.3f} ms "
        f"is the transport a pass-through node pays and {own:.3f} ms its own work "
        f"({p50['node 32FC1']:.3f} ms timed in the node), on top of the detector's "
        f"{p50['detector']:.3f} ms: ratio {(p50['detector'] + added) / p50['detector']:.3f} "
        f"with transport, {(p50['detector'] + own) / p50['detector']:.3f} without "
        "(target: adds <= 2 ms)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
