"""The worker-read subscription (real rclpy pub/sub) and the node statistics it feeds."""

from __future__ import annotations

import threading
import time

import pytest

from skeleton_perception.nodes.stats import RateMeter, SequenceGaps


def test_sequence_gaps_counts_missed_messages_per_publisher():
    gaps = SequenceGaps()
    assert gaps.missed(b"a", 5) == 0  # first from a publisher: nothing known before it
    assert gaps.missed(b"a", 6) == 0
    assert gaps.missed(b"a", 10) == 3  # 7, 8, 9 never taken
    assert gaps.missed(b"b", 100) == 0  # another publisher has its own numbers
    assert gaps.missed(b"a", 12) == 1
    assert gaps.missed(b"a", 1) == 0  # a restarted publisher: no gap, start again
    assert gaps.missed(b"a", 3) == 1
    # no numbers from the middleware (None, or rmw's "unsupported" 2**64 - 1): unknown
    assert gaps.missed(b"a", None) is None
    assert gaps.missed(b"a", 2**64 - 1) is None


def test_sequence_gaps_forgets_the_oldest_publishers():
    gaps = SequenceGaps(max_publishers=2)
    gaps.missed(b"a", 1)
    gaps.missed(b"b", 1)
    gaps.missed(b"a", 2)  # a is now the most recent
    gaps.missed(b"c", 1)  # b is forgotten
    assert gaps.missed(b"a", 4) == 1
    assert gaps.missed(b"b", 9) == 0  # seen as new


def test_rate_meter_counts_several_events_at_once():
    meter = RateMeter(window_s=10.0)
    meter.tick(100.0)
    meter.tick(101.0, count=3)
    assert meter.count == 4
    assert meter.rate(101.0) == pytest.approx(3.0)


@pytest.mark.ros
def test_worker_takes_the_newest_and_the_executor_never_does(context):
    rclpy = pytest.importorskip("rclpy")
    from rclpy.executors import SingleThreadedExecutor
    from std_msgs.msg import Int32

    from skeleton_perception.nodes.worker_subscription import WorkerSubscription

    node = rclpy.create_node("worker_subscription_test", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    try:
        qos = rclpy.qos.QoSProfile(depth=5, reliability=rclpy.qos.ReliabilityPolicy.RELIABLE)
        sub = WorkerSubscription(node, Int32, "numbers", qos)
        pub = node.create_publisher(Int32, "numbers", qos)
        deadline = time.monotonic() + 20
        while pub.get_subscription_count() < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sub.take_newest(timeout_s=0.0) == (None, {}, 0)
        for i in range(3):
            pub.publish(Int32(data=i))
        # A spinning executor neither runs the subscription (its callback would raise)
        # nor takes its messages.
        for _ in range(10):
            executor.spin_once(timeout_sec=0.02)
        msg, info, taken = sub.take_newest(timeout_s=5.0)
        assert msg.data == 2 and taken == 3
        first = info["publication_sequence_number"]
        pub.publish(Int32(data=7))
        msg, info, taken = sub.take_newest(timeout_s=5.0)
        assert (msg.data, taken) == (7, 1)
        assert info["publication_sequence_number"] == first + 1

        # close() wakes a waiting take at once.
        result = []
        waiter = threading.Thread(target=lambda: result.append(sub.take_newest(timeout_s=30.0)))
        start = time.monotonic()
        waiter.start()
        time.sleep(0.2)
        sub.close()
        waiter.join(timeout=5.0)
        assert result == [(None, {}, 0)] and time.monotonic() - start < 5.0
        sub.destroy(node)
        assert sub.subscription not in node.subscriptions
    finally:
        executor.shutdown()
        node.destroy_node()
