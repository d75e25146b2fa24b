"""The shared ``main()`` body of the node executables: init, start, spin, shut down."""

from __future__ import annotations

import ctypes
import gc
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import rclpy
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.context import Context
from rclpy.executors import Executor, ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node

# The pid of the process that starts the node, where that process says so (the launch
# file sets it for each node); otherwise the parent seen when the node's module is imported.
PARENT_PID_VARIABLE = "SKELETON_PERCEPTION_PARENT_PID"
_PARENT_PID_AT_IMPORT = os.getppid()
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def make_executor(context: Context | None = None) -> Executor:
    """The executor the node executables and the demo spin: rclpy's ``SingleThreadedExecutor``.

    The detector's images never pass through it (its worker takes them itself, see
    :mod:`skeleton_perception.nodes.worker_subscription`), so a faster executor buys
    nothing (rclpy's experimental ``EventsExecutor`` was an opt-in here while the images
    did; it is gone, since that design relies on callback groups being honoured). It is
    also what keeps the demo's three nodes in one interpreter at the camera's rate: rclpy
    9.1's ``MultiThreadedExecutor`` rebuilt its wait set about 1,000 times a second there
    (ros2/rclpy#1452) and starved the other threads of the GIL (docs/ros.md, "Why the demo
    fell behind").

    Args:
        context: the rclpy context (None: the default one).
    """
    return SingleThreadedExecutor(context=context)


def freeze_startup_heap() -> None:
    """Takes every object alive now out of the garbage collector's sight (``gc.freeze``).

    After start a node's process holds about 200,000 long-lived objects (PyTorch, MuJoCo,
    rclpy, the model). Each full collection walked them all: 80-240 ms with every thread of
    the process stopped, measured in the demo and the detector (docs/ros.md). Frozen, a
    full collection sees only what was allocated since. Call once, when set-up is done.
    No collection first: it would stop the process for as long (the camera may already
    be publishing); what little of start-up is garbage stays, once.
    """
    gc.freeze()


def spin_until_shutdown(executor: Executor, context: Context | None = None) -> None:
    """Spins ``executor`` until ``context`` (None: the default) is shut down.

    A loop of ``spin_once`` calls with a short timeout, so that a context shut down by
    SIGINT/SIGTERM or from another thread ends it within 0.2 s.
    """
    while rclpy.ok(context=context):
        try:
            executor.spin_once(timeout_sec=0.2)
        except Exception:
            if rclpy.ok(context=context):
                raise
            return  # the context went down while waiting (SIGINT/SIGTERM): done


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists and has not exited (not a zombie); Linux ``/proc``."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # the state, after "pid (name)"


def exit_with_parent(name: str) -> bool:
    """Asks Linux to send this process SIGTERM when the process that started it dies.

    ``launch`` starts the nodes as its own children and ``ros2 run`` execs them, so that
    process is ``launch`` or whatever ran ``ros2 run``. If it dies without stopping the
    node (launch failing half-way, killed with SIGKILL), the node gets SIGTERM, which
    rclpy turns into a clean shutdown, instead of running on as an orphan (parent pid 1).
    Uses ``prctl(PR_SET_PDEATHSIG)`` from libc; elsewhere it does nothing (one debug line).

    A parent that died before the signal was set sends none, so the node also stops if
    the process that started it is gone by then: the pid ``launch`` passes in
    ``PARENT_PID_VARIABLE`` (it can die while the node is still importing), else the
    parent when this module was imported. Between that process and the node there may be
    a wrapper (launch's ``prefix``, e.g. gdb): then the wrapper's death sends the signal.

    Args:
        name: the node's name, for the log lines.

    Returns:
        False if the parent is already gone (the caller should stop), True otherwise.
    """
    logger = rclpy.logging.get_logger(name)
    started_by = os.environ.pop(PARENT_PID_VARIABLE, "")  # not passed on to any child
    parent = int(started_by) if started_by.isdigit() else _PARENT_PID_AT_IMPORT
    if not sys.platform.startswith("linux"):
        logger.debug(f"not stopping with the parent process: no PR_SET_PDEATHSIG on {sys.platform}")
        return True
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        logger.warning(f"cannot stop with the parent process: prctl: {os.strerror(err)}")
        return True
    if os.getppid() != parent and not _alive(parent):  # no signal will come
        logger.info(f"the process that started this node ({parent}) is gone: stopping")
        return False
    return True


def run_node(factory: Callable[[], Node], name: str, args: list[str] | None = None) -> int:
    """Runs the node ``factory()`` makes until shutdown (Ctrl-C, ``ros2 lifecycle``...).

    A node that cannot start (bad parameter, missing model file) logs one fatal line naming
    the reason, without a traceback, and the process exits with status 1. SIGINT/SIGTERM
    at any moment, starting included, is a clean stop with status 0, and the node stops
    so when the process that started it dies (:func:`exit_with_parent`).

    Args:
        factory: builds the node (called after ``rclpy.init``).
        name: the node's name, for the log line when it cannot start.
        args: command-line arguments (``--ros-args ...``); None: ``sys.argv``.

    Returns:
        The process exit status.
    """
    try:
        with rclpy.init(args=args):  # its signal handlers: SIGINT and SIGTERM shut down
            if not exit_with_parent(name):
                return 0
            return _start_and_spin(factory, name)
    except (KeyboardInterrupt, ExternalShutdownException):
        return 0


def _start_and_spin(factory: Callable[[], Node], name: str) -> int:
    """The body of :func:`run_node` inside an initialised rclpy context."""
    try:
        executor = make_executor()
        node = factory()
        freeze_startup_heap()
    except Exception as err:
        if not rclpy.ok():  # SIGINT/SIGTERM shut the context down while starting
            return 0
        rclpy.logging.get_logger(name).fatal(f"cannot start: {err}")  # one line, no traceback
        return 1
    try:
        executor.add_node(node)
        spin_until_shutdown(executor)
    except Exception:
        if rclpy.ok():
            raise
    finally:
        node.destroy_node()
    return 0


def declare_parameter_table(node: Node, table: dict, read_only: bool = False) -> None:
    """Declares a node's parameters from its table ``{name: (default, description, extra)}``.

    ``extra`` holds further :class:`ParameterDescriptor` fields (e.g. ``dynamic_typing``);
    ``read_only`` marks every parameter read-only (settings fixed at start-up).
    """
    for name, (default, description, extra) in table.items():
        descriptor = ParameterDescriptor(description=description, **extra)
        if read_only:
            descriptor.read_only = True
        node.declare_parameter(name, default, descriptor)
