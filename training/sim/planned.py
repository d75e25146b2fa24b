"""What a planned episode holds: its physics pass and camera, before any frame renders.

Shared by :mod:`.episode` (which plans episodes) and :mod:`.scene` (which renders them in a
randomised scene).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from skeleton_perception.training.sim.camera import CameraTrack, to_optical
from skeleton_perception.training.sim.families.base import SimObject


@dataclass
class Rollout:
    """The physics pass of an episode."""

    qpos: np.ndarray  # (T, nq)
    keypoints: np.ndarray  # (T, J, 3) world
    root: np.ndarray  # (T, 3) world position of the root body


@dataclass
class PlannedEpisode:
    """An episode whose physics and camera are known; frames render on demand."""

    obj: SimObject
    rollout: Rollout
    camera: CameraTrack
    joints: np.ndarray  # (T, J, 2) float32
    visible: np.ndarray  # (T, J) bool
    adjacency: np.ndarray  # (J, J) bool

    def joints_3d(self, t: int) -> np.ndarray:
        """The ground-truth joints of frame ``t`` in the optical frame, ``(J, 3)`` metres."""
        track = self.camera
        return to_optical(self.rollout.keypoints[t], track.positions[t], track.rotation)
