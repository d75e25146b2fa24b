"""``run_node``: the exit status of the node executables, signals and a dying parent included."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import rclpy
from rclpy.node import Node
from std_msgs.msg import String

from skeleton_perception.nodes.runner import freeze_startup_heap, run_node

PR_SET_CHILD_SUBREAPER = 36  # from <linux/prctl.h>


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


linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's"
)


@pytest.fixture
def subreaper():
    """Makes this process the one orphaned descendants are re-parented to, for one test.

    So that a node whose parent was killed becomes this process's child: its exit status
    can be collected (``os.waitpid``).
    """
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    yield
    libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


def _running(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (Linux ``/proc``)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _exit_code_of_orphan(pid: int, timeout: float) -> int:
    """The exit code of orphan ``pid`` (this process's child by ``subreaper``).

    Raises:
        AssertionError: it still runs after ``timeout`` seconds (it is killed then).
    """
    deadline = time.monotonic() + timeout
    while (status := os.waitpid(pid, os.WNOHANG)) == (0, 0):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise AssertionError(f"process {pid} outlived its parent by {timeout} s")
        time.sleep(0.05)
    return os.waitstatus_to_exitcode(status[1])


@linux_only
def test_a_node_stops_when_the_process_that_started_it_is_killed(tmp_path, subreaper):
    """The real sim_camera executable, started by a parent that is then SIGKILLed."""
    executable = Path(sys.prefix) / "lib" / "skeleton_perception" / "sim_camera"
    log = tmp_path / "node.log"
    parent_script = (
        "import subprocess, sys, time\n"
        "with open(sys.argv[2], 'w') as log:\n"
        "    node = subprocess.Popen([sys.argv[1], '--ros-args', '-r', '__ns:=/orphan_check',\n"
        "        '-p', 'width:=16', '-p', 'height:=16', '-p', 'rate_hz:=2.0'],\n"
        "        stdout=log, stderr=subprocess.STDOUT)\n"
        "print(node.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    cmd = [sys.executable, "-c", parent_script, str(executable), str(log)]
    parent = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        node_pid = int(parent.stdout.readline())
        deadline = time.monotonic() + 120
        while "simulating" not in log.read_text():  # up: run_node has set the death signal
            if not _running(node_pid) or time.monotonic() > deadline:
                parent.kill()  # the node then stops too, or _exit_code_of_orphan kills it
                parent.wait()
                _exit_code_of_orphan(node_pid, 10)
                pytest.fail(f"sim_camera did not start:\n{log.read_text()}")
            time.sleep(0.1)
    finally:
        parent.kill()
        parent.wait()  # the node is this process's child now
    assert _exit_code_of_orphan(node_pid, 10) == 0, log.read_text()  # a clean stop


@linux_only
def test_a_node_whose_parent_died_before_it_started_does_not_start(subreaper):
    # The parent dies after the node's process recorded it and before run_node set the
    # death signal, which will never come then: run_node must stop without starting.
    child_script = (
        "import os, sys, time\n"
        "from skeleton_perception.nodes.runner import run_node\n"
        "parent = os.getppid()\n"
        "print('imported', flush=True)\n"
        "while os.getppid() == parent:  # until the parent is gone\n"
        "    time.sleep(0.01)\n"
        "def factory():\n"
        "    sys.exit(3)  # must not be called\n"
        "sys.exit(run_node(factory, 'orphan_check', args=[]))\n"
    )
    parent_script = (
        "import subprocess, sys\n"
        "child = subprocess.Popen([sys.executable, '-c', sys.argv[1]])\n"
        "print(child.pid, flush=True)\n"
        "sys.stdin.readline()  # then exits\n"
    )
    cmd = [sys.executable, "-c", parent_script, child_script]
    parent = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    child_pid = int(parent.stdout.readline())
    assert parent.stdout.readline() == "imported\n"  # the child has recorded its parent
    parent.communicate("go\n", timeout=30)
    assert _exit_code_of_orphan(child_pid, 60) == 0
