"""The record of one rendered episode, apart from the simulator that makes it.

Reading stored episodes (:mod:`.storage`, :mod:`.pairs`) needs numpy only, not MuJoCo:
training and evaluation then run where the simulator is not installed (e.g. a GPU
machine fed with copied shards).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Episode:
    """A rendered episode and its ground truth.

    Attributes:
        frames: ``(T, H, W, 3)`` uint8 RGB.
        joints: ``(T, J, 2)`` float32 pixel positions (x right, y down, origin at the
            centre of the top-left pixel).
        visible: ``(T, J)`` bool, whether each joint lies on the image.
        adjacency: ``(J, J)`` bool, symmetric with a zero diagonal: joints a rigid body links.
        family: Object variant, e.g. ``"spider-5legs"``, ``"cartpole-3"``, ``"walker"``.
        seed: Seed the episode was generated from.
        index: Index of the episode within its split.
    """

    frames: np.ndarray
    joints: np.ndarray
    visible: np.ndarray
    adjacency: np.ndarray
    family: str
    seed: int
    index: int
