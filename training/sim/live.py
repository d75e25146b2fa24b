"""A simulated camera that plays random episodes back to back, one frame per ``step()``.

Used by the ROS ``sim_camera`` node and for recording bags. Each episode (90 frames by
default) shows a new random object of the dataset's families, under the same random
policy and camera plan as the generated datasets; ground truth comes with every frame.
With ``appearance``, every episode also draws its look (textures, light, colours, camera
field of view and angle, sensor effects) from the named ranges of
:data:`.appearance.PRESETS`, exactly as ``generate --randomise`` (``"training"``) and the
``appearance`` split (``"heldout"``) do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from skeleton_perception.training.sim import families
from skeleton_perception.training.sim.appearance import Sensor, look_rng, preset
from skeleton_perception.training.sim.camera import intrinsics
from skeleton_perception.training.sim.datasets import get_dataset
from skeleton_perception.training.sim.episode import EpisodeConfig, EpisodeRenderer, open_episode
from skeleton_perception.training.sim.scene import SceneRenderer


@dataclass
class LiveFrame:
    """One frame of the simulated camera.

    Attributes:
        image: ``(H, W, 3)`` uint8 RGB.
        joints: ``(J, 2)`` float32 pixel positions (x right, y down).
        visible: ``(J,)`` bool, joint on the image.
        adjacency: ``(J, J)`` bool skeleton links.
        family: Object variant, e.g. ``"cartpole-3"``.
        intrinsics: ``(fx, fy, cx, cy)`` in pixels of the camera that rendered the frame
            (its episode's field of view).
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
    intrinsics: tuple[float, float, float, float]
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
        appearance: str | None = None,
    ):
        """Prepares the camera; rendering starts at the first ``step()``.

        Args:
            family: A dataset name (``"spiders"``, ``"cartpoles"``, ``"swimmers"``,
                ``"mwhc"``, ``"spiders0shot"``); objects come from all its splits.
            seed: Seed of the sequence of episodes.
            size: Image ``(height, width)``.
            num_frames: Frames per episode.
            depth: Also render the aligned depth image of every frame (plain look only).
            appearance: Per-episode domain randomisation: ``"training"`` or
                ``"heldout"`` (:data:`.appearance.PRESETS`); None or ``"none"``: the
                plain look (the same frames as before randomisation existed).

        Raises:
            ValueError: An unknown ``appearance``, or ``depth`` with an appearance (the
                randomised scene renders no depth).
        """
        spec = get_dataset(family)
        ranges = preset(appearance or "none")
        if ranges is not None and depth:
            raise ValueError(f"SimulatedCamera: no depth images with appearance {appearance!r}")
        self.family = family
        self.size = (int(size[0]), int(size[1]))
        self._variants = tuple(sorted(set(spec.train) | set(spec.test)))
        self._config = EpisodeConfig(num_frames=num_frames, size=self.size, appearance=ranges)
        self._rng = np.random.default_rng(seed)
        self._looks = look_rng(seed)  # one look seed per episode, apart from the physics
        self._depth = bool(depth)
        self._renderer: EpisodeRenderer | SceneRenderer | None = None
        self._sensor: Sensor | None = None
        self._t = 0

    @property
    def intrinsics(self) -> tuple[float, float, float, float]:
        """``(fx, fy, cx, cy)`` in pixels of the current episode's camera.

        Before the first ``step()`` this starts the first episode (its frame 0 is the
        next ``step()``'s); with an appearance, every episode has its own field of view.
        """
        if self._renderer is None:
            self._next_episode()
        fovy = self._renderer.planned.camera.fovy
        return intrinsics(fovy, self.size[1], self.size[0]).as_tuple()

    def _next_episode(self) -> None:
        self.close()
        for _attempt in range(10):
            variant = self._variants[self._rng.integers(len(self._variants))]
            obj = families.build(variant, self._rng)
            look_seed = int(self._looks.integers(2**63))
            try:
                _, self._renderer, self._sensor = open_episode(
                    obj, self._rng, self._config, look_seed, fine=self._depth
                )
            except FloatingPointError:
                continue
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
        if self._sensor is not None:
            image = self._sensor(image)
        self._t += 1
        return LiveFrame(
            image=image,
            joints=planned.joints[t].copy(),
            visible=planned.visible[t].copy(),
            adjacency=planned.adjacency.copy(),
            family=planned.obj.variant,
            intrinsics=self.intrinsics,
            joints_3d=planned.joints_3d(t),
            depth=depth,
        )

    def surface_3d(self) -> np.ndarray:
        """Ray-cast surface points of the last frame's joints (see ``EpisodeRenderer``)."""
        if not isinstance(self._renderer, EpisodeRenderer):
            raise ValueError("SimulatedCamera.surface_3d: plain look only, after a step()")
        return self._renderer.surface_3d(self._t - 1)

    def close(self) -> None:
        """Frees the rendering context of the current episode."""
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
        self._sensor = None

    def __enter__(self) -> SimulatedCamera:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
