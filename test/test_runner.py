"""``run_node``: the exit status of the node executables, signals during start included."""

from __future__ import annotations

import rclpy
from rclpy.node import Node
from std_msgs.msg import String

from skeleton_perception.nodes.runner import freeze_startup_heap, run_node


def test_a_signal_while_the_node_starts_is_a_clean_stop():
    # SIGINT/SIGTERM make rclpy shut the context down; if that happens while the node is
    # being built, building it or the executor fails on the invalid context. That is a stop
    # (status 0), not a failure to start (status 1) or a traceback.
    def interrupted_then_built():
        rclpy.try_shutdown()  # what rclpy's signal handler does
        return Node("started_after_the_signal")

    assert run_node(interrupted_then_built, "test_node", args=[]) == 0

    def interrupted_while_building():
        node = Node("interrupted_while_building")
        rclpy.try_shutdown()
        node.create_publisher(String, "x", 1)  # fails: the context is gone
        return node

    assert run_node(interrupted_while_building, "test_node", args=[]) == 0


def test_a_node_that_cannot_start_exits_with_status_1():
    def broken():
        raise FileNotFoundError("model file /nowhere.pt does not exist")

    assert run_node(broken, "test_node", args=[]) == 1


def test_the_startup_heap_is_frozen_out_of_full_collections():
    import gc

    try:
        live = [[] for _ in range(1000)]  # lists: objects the collector tracks
        assert any(o is live for o in gc.get_objects())
        freeze_startup_heap()
        assert gc.get_freeze_count() >= len(live)
        assert not any(o is live for o in gc.get_objects())  # out of the collector's sight
    finally:
        gc.unfreeze()
