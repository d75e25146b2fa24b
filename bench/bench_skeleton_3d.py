"""What ``skeleton_3d`` adds per frame at 640x480, against the detector alone, same run.

    .venv/bin/python bench/bench_skeleton_3d.py [--frames 100] [--rounds 3]

Frames: the simulated camera (Cartpoles, 640x480, with its aligned depth render). Timed
in interleaved rounds (medians pooled), all in this process:

* **detector**: the ``SkeletonDetector`` call on the 640x480 image (what the detector node
  spends per frame in its model);
* **skeleton_3d, in the node**: ``Skeleton3DNode.process`` on the detector's real
  skeleton and the depth image message (32FC1 and 16UC1): decoding the window pixels,
  the median depths, deprojection, the SkeletonGraph3D, its publication and the markers
  (a marker subscriber is present, the costlier case);
* **skeleton_3d, over DDS**: a ``SkeletonGraph`` published (its depth image published
  just before, as a camera does while the detector runs) -> the ``SkeletonGraph3D``
  received by a subscriber: the node's whole added latency, transport and rclpy's
  executor included.

* **pass-through**: a node that republishes the SkeletonGraph it receives, timed the same
  way: the transport floor (two DDS hops and rclpy's executor) that any node pays.

The ratios printed are (detector + skeleton_3d over DDS) / detector, and the same without
the pass-through's transport; the target is that skeleton_3d adds at most 2 ms p50.
"""

from __future__ import annotations

import argparse
import os
import threading
import time

import numpy as np

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    import rclpy
    import torch
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import CameraInfo, Image
    from skeleton_perception.msg import SkeletonGraph, SkeletonGraph3D
    from skeleton_perception.training.sim.live import SimulatedCamera
    from visualization_msgs.msg import MarkerArray

    from skeleton_perception import SkeletonDetector
    from skeleton_perception.conversions import (
        make_camera_info,
        ns_to_stamp,
        numpy_to_image,
        skeleton_to_msg,
    )
    from skeleton_perception.nodes.sim_camera_node import depth_image
    from skeleton_perception.nodes.skeleton_3d_node import Skeleton3DNode

    torch.set_num_threads(1)
    width, height = 640, 480
    with SimulatedCamera("cartpoles", 0, (height, width), depth=True) as cam:
        frames = [cam.step() for _ in range(args.frames)]
        intrinsics = cam.intrinsics
    detector = SkeletonDetector.from_checkpoint(None, device="cpu")
    detector(frames[0].image)  # warm up

    rclpy.init()
    node = Skeleton3DNode()
    peer = rclpy.create_node("bench_skeleton_3d_peer")
    received = threading.Event()
    peer.create_subscription(SkeletonGraph3D, "skeleton_3d", lambda m: received.set(), 10)
    peer.create_subscription(MarkerArray, "skeleton_3d_markers", lambda m: None, 10)
    # A pass-through node: the same two DDS hops (SkeletonGraph in, one message out)
    # with no work, the transport floor that any node in its own callback pays.
    relay = rclpy.create_node("bench_relay")
    relay_pub = relay.create_publisher(SkeletonGraph, "relay_out", 10)
    relay.create_subscription(SkeletonGraph, "relay_in", relay_pub.publish, 10)
    relayed = threading.Event()
    peer.create_subscription(SkeletonGraph, "relay_out", lambda m: relayed.set(), 10)
    relay_in = peer.create_publisher(SkeletonGraph, "relay_in", 10)
    skeleton_pub = peer.create_publisher(SkeletonGraph, "skeleton", 10)
    depth_pub = peer.create_publisher(Image, "depth", 10)
    info_pub = peer.create_publisher(CameraInfo, "camera_info", 10)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    executor.add_node(peer)
    executor.add_node(relay)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not (
        skeleton_pub.get_subscription_count()
        and depth_pub.get_subscription_count()
        and node.markers_pub.get_subscription_count()
        and relay_in.get_subscription_count()
        and relay_pub.get_subscription_count()
    ):
        time.sleep(0.05)
    info = make_camera_info(width, height, intrinsics)
    info.header.frame_id = "camera_optical_frame"
    info_pub.publish(info)
    while node._camera_info is None:
        time.sleep(0.01)

    timings: dict[str, list[float]] = {"detector": [], "node 32FC1": [], "node 16UC1": []}
    timings["over DDS 32FC1"] = []
    timings["pass-through"] = []
    stamp = 1_000_000_000
    for _ in range(args.rounds):
        for frame in frames:
            start = time.perf_counter()
            sk = detector(frame.image)
            timings["detector"].append(time.perf_counter() - start)
            sk.image_size = (width, height)
            stamp += 50_000_000
            for encoding in ("32FC1", "16UC1"):
                msg = skeleton_to_msg(sk)
                msg.header.stamp = ns_to_stamp(stamp)
                msg.header.frame_id = "camera_optical_frame"
                depth = numpy_to_image(depth_image(frame.depth, encoding), encoding, msg.header)
                start = time.perf_counter()
                out = node.process(msg, depth)
                timings[f"node {encoding}"].append(time.perf_counter() - start)
                assert out is not None, node.problems
            # Over DDS: the depth image first (the camera publishes it with the colour
            # image, long before the skeleton), then the skeleton.
            stamp += 50_000_000
            msg.header.stamp = ns_to_stamp(stamp)
            depth = numpy_to_image(depth_image(frame.depth, "32FC1"), "32FC1", msg.header)
            published = node.output_rate.count
            depth_pub.publish(depth)
            time.sleep(0.005)
            received.clear()
            start = time.perf_counter()
            skeleton_pub.publish(msg)
            if received.wait(2.0) and node.output_rate.count > published:
                timings["over DDS 32FC1"].append(time.perf_counter() - start)
            relayed.clear()
            start = time.perf_counter()
            relay_in.publish(msg)
            if relayed.wait(2.0):
                timings["pass-through"].append(time.perf_counter() - start)
    executor.shutdown()
    for n in (node, peer, relay):
        n.destroy_node()
    rclpy.shutdown()

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


if __name__ == "__main__":
    main()
