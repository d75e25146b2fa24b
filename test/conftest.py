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
