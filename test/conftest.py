"""Shared pytest fixtures and settings for the skeleton_perception test suite."""

from __future__ import annotations

import os

import pytest

# Headless MuJoCo rendering and large-message DDS transport, before anything imports them.
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA")


@pytest.fixture(scope="module")
def context():
    """An rclpy context of its own for one test module (initialised, shut down after)."""
    rclpy = pytest.importorskip("rclpy")
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    yield ctx
    rclpy.shutdown(context=ctx)


@pytest.fixture(scope="session")
def tiny_cartpoles(tmp_path_factory):
    """A tiny generated Cartpoles dataset: 3 train, 2 val, 1 test episodes of 12 frames."""
    import torch

    from skeleton_perception.cli import main

    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("data") / "cartpoles"
    argv = ["generate", "--dataset", "cartpoles", "--out", str(out), "--episodes", "3"]
    argv += ["--val-episodes", "2", "--test-episodes", "1", "--frames", "12", "--quiet"]
    assert main(argv) == 0
    return out
