"""A simulated camera that plays random episodes back to back, one frame per ``step()``.

Used by the ROS ``sim_camera`` node and for recording bags. Each episode (90 frames by
default) shows a new random object of the dataset's families, under the same random
policy and camera plan as the generated datasets; ground truth comes with every frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from skeleton_perception.training.sim import families
from skeleton_perception.training.sim.camera import FOVY, intrinsics
from skeleton_perception.training.sim.datasets import get_dataset
from skeleton_perception.training.sim.episode import EpisodeConfig, EpisodeRenderer, plan


@dataclass
class LiveFrame:
    """One frame of the simulated camera.

    Attributes:
        image: ``(H, W, 3)`` uint8 RGB.
        joints: ``(J, 2)`` float32 pixel positions (x right, y down).
        visible: ``(J,)`` bool, joint on the image.
        adjacency: ``(J, J)`` bool skeleton links.
        family: Object variant, e.g. ``"cartpole-3"``.
        joints_3d: ``(J, 3)`` float64 joint positions in the camera's optical frame
            (x right, y down, z forward), metres; their projections are ``joints``.
        depth: ``(H, W)`` float32 depth aligned with ``image``, metres along the optical
            axis, NaN on the background; None unless the camera renders depth.
    """

    image: np.ndarray
    joints: np.ndarray
    visible: np.ndarray
    adjacency: np.ndarray
    family: str
    joints_3d: np.ndarray | None = None
    depth: np.ndarray | None = None


class SimulatedCamera:
    """Endless random episodes of one dataset's objects, rendered frame by frame."""

    def __init__(
        self,
        family: str = "cartpoles",
        seed: int = 0,
        size: tuple[int, int] = (64, 64),
        num_frames: int = 90,
        depth: bool = False,
    ):
        """Prepares the camera; rendering starts at the first ``step()``.

        Args:
            family: A dataset name (``"spiders"``, ``"cartpoles"``, ``"swimmers"``,
                ``"mwhc"``, ``"spiders0shot"``); objects come from all its splits.
            seed: Seed of the sequence of episodes.
            size: Image ``(height, width)``.
            num_frames: Frames per episode.
            depth: Also render the aligned depth image of every frame.
        """
        spec = get_dataset(family)
        self.family = family
        self.size = (int(size[0]), int(size[1]))
        self._variants = tuple(sorted(set(spec.train) | set(spec.test)))
        self._config = EpisodeConfig(num_frames=num_frames, size=self.size)
        self._rng = np.random.default_rng(seed)
        self._depth = bool(depth)
        self._renderer: EpisodeRenderer | None = None
        self._t = 0

    @property
    def intrinsics(self) -> tuple[float, float, float, float]:
        """``(fx, fy, cx, cy)`` in pixels of the rendered image."""
        return intrinsics(FOVY, self.size[1], self.size[0]).as_tuple()

    def _next_episode(self) -> None:
        self.close()
        for _attempt in range(10):
            variant = self._variants[self._rng.integers(len(self._variants))]
            obj = families.build(variant, self._rng)
            try:
                planned = plan(obj, self._rng, self._config)
            except FloatingPointError:
                continue
            self._renderer = EpisodeRenderer(planned, self.size, fine=self._depth)
            self._t = 0
            return
        raise RuntimeError(f"SimulatedCamera({self.family}): simulation kept diverging")

    def step(self) -> LiveFrame:
        """Renders the next frame (a new episode starts every ``num_frames`` frames)."""
        if self._renderer is None or self._t >= self._config.num_frames:
            self._next_episode()
        planned = self._renderer.planned
        t = self._t
        if self._depth:
            image, depth = self._renderer.frame_with_depth(t)
        else:
            image, depth = self._renderer.frame(t), None
        self._t += 1
        return LiveFrame(
            image=image,
            joints=planned.joints[t].copy(),
            visible=planned.visible[t].copy(),
            adjacency=planned.adjacency.copy(),
            family=planned.obj.variant,
            joints_3d=self._renderer.joints_3d(t),
            depth=depth,
        )

    def surface_3d(self) -> np.ndarray:
        """Ray-cast surface points of the last frame's joints (see ``EpisodeRenderer``)."""
        return self._renderer.surface_3d(self._t - 1)

    def close(self) -> None:
        """Frees the rendering context of the current episode."""
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    def __enter__(self) -> SimulatedCamera:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
