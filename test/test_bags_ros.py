"""A bag recorded from live rclpy topics (as ``ros2 bag record`` does) trains and reads back.

An rclpy publisher sends raw and JPEG-compressed images; an rclpy subscription with
``raw=True`` hands the serialised CDR bytes to rosbags' Writer unchanged, stamped with the
receive time. The bag must then read back frame for frame.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402
from ros_helpers import wait_for  # noqa: E402
from sensor_msgs.msg import CompressedImage, Image  # noqa: E402
from skeleton_perception.training.bags.dataset import build_bag_datasets  # noqa: E402
from skeleton_perception.training.bags.reader import read_images  # noqa: E402
from skeleton_perception.training.bags.writer import BagWriter  # noqa: E402

pytestmark = pytest.mark.ros

N = 30
QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=N,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)


def frame_image(i: int) -> np.ndarray:
    img = np.zeros((48, 64, 3), np.uint8)
    img[:] = (i * 8, 255 - i * 8, 100)
    img[:, i % 64] = 255
    return img


def _domain_id() -> int:
    # A domain of this process's own (within 0..101, where DDS ports avoid Linux's ephemeral
    # range); topic names carry the pid too, so a shared domain would still not mix tests.
    return 1 + os.getpid() % 100


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_bag_recorded_from_live_topics_reads_back(tmp_path, storage):
    import cv2

    context = rclpy.Context()
    rclpy.init(context=context, domain_id=_domain_id())
    executor = SingleThreadedExecutor(context=context)
    out = tmp_path / ("live.mcap" if storage == "mcap" else "live")
    suffix = f"{os.getpid()}_{storage}"
    raw_topic, jpeg_topic = f"/bagtest_{suffix}/image_raw", f"/bagtest_{suffix}/compressed"
    try:
        talker = rclpy.create_node("bag_talker", context=context)
        recorder = rclpy.create_node("bag_recorder", context=context)
        executor.add_node(talker)
        executor.add_node(recorder)
        received = {raw_topic: 0, jpeg_topic: 0}
        with BagWriter(out, storage=storage) as bag:
            bag.add_topic(raw_topic, "sensor_msgs/msg/Image")
            bag.add_topic(jpeg_topic, "sensor_msgs/msg/CompressedImage")

            def recorder_callback(topic):
                def write(data: bytes) -> None:
                    bag.write_raw(topic, data, recorder.get_clock().now().nanoseconds)
                    received[topic] += 1

                return write

            subs = [
                recorder.create_subscription(t, name, recorder_callback(name), QOS, raw=True)
                for t, name in ((Image, raw_topic), (CompressedImage, jpeg_topic))
            ]
            pubs = [talker.create_publisher(Image, raw_topic, QOS),
                    talker.create_publisher(CompressedImage, jpeg_topic, QOS)]  # fmt: skip
            matched = wait_for(
                lambda: (
                    all(p.get_subscription_count() for p in pubs)
                    and all(s.get_publisher_count() for s in subs)
                ),
                executor,
            )
            assert matched, "publisher and subscription never matched"
            for i in range(N):
                img = frame_image(i)
                msg = Image(height=48, width=64, encoding="rgb8", step=64 * 3)
                msg.data = img.tobytes()
                msg.header.frame_id = "camera"
                pubs[0].publish(msg)
                ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
                assert ok
                pubs[1].publish(CompressedImage(format="jpeg", data=jpeg.tobytes()))
                executor.spin_once(timeout_sec=0)
            assert wait_for(lambda: min(received.values()) >= N, executor), received
    finally:
        executor.shutdown()
        rclpy.shutdown(context=context)

    raw = list(read_images(out, raw_topic))
    assert len(raw) == N
    assert all(np.array_equal(rgb, frame_image(i)) for i, (_, rgb) in enumerate(raw))
    jpeg = list(read_images(out, jpeg_topic))
    assert len(jpeg) == N
    assert all(
        np.abs(rgb.astype(int) - frame_image(i)).mean() < 12 for i, (_, rgb) in enumerate(jpeg)
    )
    # Pairs from a bag recorded at whatever rate the messages arrived.
    train, _ = build_bag_datasets(
        out, raw_topic, min_gap_s=0.0, max_gap_s=60.0, val_fraction=0.0, cache_size=4,
        progress=False,
    )  # fmt: skip
    assert len(train) == N
    pair = train[0]
    assert pair["source"].shape == (3, 64, 64) and pair["source_index"] != pair["target_index"]
