"""The result type of the inference API: one predicted skeleton."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Skeleton:
    """A skeleton predicted from one image, in that image's pixel coordinates.

    Pixel convention: x right, y down, origin at the centre of the top-left pixel,
    in pixels of the image given to the detector (not the network's 64x64 grid).

    Attributes:
        joints: (K, 2) float32 pixel xy of the joints.
        joint_ids: (K,) int64 index of the foreground point each joint came from
            (0 .. P-1); stable across frames for the same physical joint.
        joint_scores: (K,) float32 in [0, 1]: the strongest link probability at the joint.
        links: (E, 2) int64 row indices into ``joints`` (not ids); ``links[:, 0] < links[:, 1]``.
        link_scores: (E,) float32 in [0, 1]: connection probability of each link.
        image_size: (width, height) of the image the pixels refer to.
        points: (P, 2) float32 pixel xy of all P foreground points (joints or not).
        connectivity: (P, P) float32 symmetric connectivity matrix S with zero diagonal.
    """

    joints: np.ndarray
    joint_ids: np.ndarray
    joint_scores: np.ndarray
    links: np.ndarray
    link_scores: np.ndarray
    image_size: tuple[int, int] = (0, 0)
    points: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.float32))
    connectivity: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))

    @property
    def num_joints(self) -> int:
        """Number of joints K."""
        return int(self.joints.shape[0])

    @property
    def link_ids(self) -> np.ndarray:
        """(E, 2) int64 links expressed as joint ids instead of row indices."""
        if len(self.links) == 0:
            return np.zeros((0, 2), np.int64)
        return self.joint_ids[self.links]

    @staticmethod
    def empty(image_size: tuple[int, int] = (0, 0)) -> Skeleton:
        """A skeleton with no joints and no links."""
        return Skeleton(
            joints=np.zeros((0, 2), np.float32),
            joint_ids=np.zeros((0,), np.int64),
            joint_scores=np.zeros((0,), np.float32),
            links=np.zeros((0, 2), np.int64),
            link_scores=np.zeros((0,), np.float32),
            image_size=image_size,
        )
