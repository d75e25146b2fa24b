"""Shared pytest fixtures and settings for the skeleton_perception test suite."""

from __future__ import annotations

import os

# Headless MuJoCo rendering and large-message DDS transport, before anything imports them.
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA")
