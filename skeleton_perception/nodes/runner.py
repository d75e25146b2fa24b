"""The shared ``main()`` body of the node executables: init, start, spin, shut down."""

from __future__ import annotations

from collections.abc import Callable

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node


def run_node(factory: Callable[[], Node], name: str, args: list[str] | None = None) -> int:
    """Runs the node ``factory()`` makes until shutdown (Ctrl-C, ``ros2 lifecycle``...).

    A node that cannot start (bad parameter, missing model file) logs one fatal line naming
    the reason, without a traceback, and the process exits with status 1.

    Args:
        factory: builds the node (called after ``rclpy.init``).
        name: the node's name, for the log line when it cannot start.
        args: command-line arguments (``--ros-args ...``); None: ``sys.argv``.

    Returns:
        The process exit status.
    """
    try:
        with rclpy.init(args=args):
            try:
                node = factory()
            except Exception as err:  # one clear line, no traceback, exit status 1
                rclpy.logging.get_logger(name).fatal(f"cannot start: {err}")
                return 1
            executor = SingleThreadedExecutor()
            executor.add_node(node)
            try:
                executor.spin()
            finally:
                node.destroy_node()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    return 0
