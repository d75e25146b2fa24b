"""One episode: simulate an object under a random policy, plan the camera, render frames.

An episode runs in two passes. The physics pass draws random initial joint angles, steps
the object under a random policy (a new uniform action every ``action_every`` frames) and
records the state and the world position of every keypoint per frame. The camera is then
planned over the whole trajectory (:func:`.camera.plan_camera`), and the render pass
replays the states through it. Ground truth is the exact projection of the keypoints.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np
from skeleton_perception.training.sim.appearance import (
    AppearanceConfig,
    Look,
    Sensor,
    look_rng,
    sample,
)
from skeleton_perception.training.sim.camera import (
    inside,
    plan_camera,
    project,
    to_optical,
    turn,
)
from skeleton_perception.training.sim.families.base import SimObject
from skeleton_perception.training.sim.planned import PlannedEpisode, Rollout
from skeleton_perception.training.sim.record import Episode
from skeleton_perception.training.sim.render import FrameRenderer
from skeleton_perception.training.sim.scene import SceneRenderer


@dataclass(frozen=True)
class EpisodeConfig:
    """How episodes are simulated and rendered.

    Attributes:
        num_frames: Frames per episode (the paper: 90).
        action_every: Frames between two random actions (the paper: 5).
        size: Image ``(height, width)``.
        appearance: Domain randomisation ranges (:mod:`.appearance`); None: the plain
            gradient background and the family's colours and camera, as rendered before
            randomisation existed (the same bytes).
        plain_twin: With ``appearance``: plan each episode exactly as the randomised one
            (the same poses, camera and ground truth) but render it in the plain look
            (the family's colours and background, no sensor effects). The two datasets
            then pair every frame of a randomised episode with the same view in the
            plain look (``skeleton-perception distill``).
    """

    num_frames: int = 90
    action_every: int = 5
    size: tuple[int, int] = (64, 64)
    appearance: AppearanceConfig | None = None
    plain_twin: bool = False

    def __post_init__(self) -> None:
        if self.plain_twin and self.appearance is None:
            raise ValueError("EpisodeConfig.plain_twin needs appearance (the look it pairs with)")


def simulate(obj: SimObject, rng: np.random.Generator, config: EpisodeConfig) -> Rollout:
    """Runs the physics pass: random initial state, random policy, one record per frame."""
    model = obj.model
    data = mujoco.MjData(model)
    mujoco.mj_resetData(model, data)
    obj.reset(model, data, rng)
    mujoco.mj_forward(model, data)
    root_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, obj.root_body)
    lo, hi = model.actuator_ctrlrange[:, 0], model.actuator_ctrlrange[:, 1]
    steps = config.num_frames
    qpos = np.empty((steps, model.nq))
    keypoints = np.empty((steps, len(obj.keypoints), 3))
    root = np.empty((steps, 3))
    for t in range(steps):
        if t % config.action_every == 0:
            data.ctrl[:] = rng.uniform(lo, hi)
        if t > 0:
            for _ in range(obj.frame_skip):
                mujoco.mj_step(model, data)
            mujoco.mj_kinematics(model, data)  # positions of this frame, not the last step's
        qpos[t] = data.qpos
        keypoints[t] = obj.keypoint_positions(data)
        root[t] = data.xpos[root_id]
    # MuJoCo resets the state when accelerations blow up and only counts a warning.
    if data.warning[int(mujoco.mjtWarning.mjWARN_BADQACC)].number or not np.all(
        np.isfinite(keypoints)
    ):
        raise FloatingPointError(f"{obj.variant}: simulation diverged")
    return Rollout(qpos=qpos, keypoints=keypoints, root=root)


def plan(
    obj: SimObject, rng: np.random.Generator, config: EpisodeConfig, look: Look | None = None
) -> PlannedEpisode:
    """Simulates ``obj`` and plans its camera; the ground truth is ready, frames are not.

    ``look`` (randomised episodes) turns and tilts the family's view, scales its roam and
    sets the field of view; ``rng`` is drawn from exactly as without it.
    """
    rollout = simulate(obj, rng, config)
    rotation = obj.view(rng)
    roam = rng.uniform(*obj.roam)
    fovy = float(obj.model.cam_fovy[0])
    if look is not None:
        rotation = turn(rotation, look.azimuth_deg, look.elevation_deg)
        roam = min(0.8, roam * look.roam_scale)
        fovy = look.fovy_deg
    track = plan_camera(rollout.keypoints, rollout.root, rotation, fovy, config.size, rng, roam)
    joints = np.stack(
        [
            project(rollout.keypoints[t], track.positions[t], rotation, fovy, config.size)
            for t in range(config.num_frames)
        ]
    ).astype(np.float32)
    # Depth range of the object, to set tight clipping planes (depth-buffer precision).
    depth = -((rollout.keypoints - track.positions[:, None]) @ rotation)[..., 2]
    extent = float(obj.model.stat.extent)
    obj.model.vis.map.znear = max(1e-4, 0.3 * float(depth.min()) / extent)
    obj.model.vis.map.zfar = 3.0 * float(depth.max()) / extent
    return PlannedEpisode(
        obj=obj,
        rollout=rollout,
        camera=track,
        joints=joints,
        visible=inside(joints, config.size),
        adjacency=obj.adjacency(),
    )


class EpisodeRenderer:
    """Renders the frames of a :class:`PlannedEpisode` one at a time."""

    def __init__(self, planned: PlannedEpisode, size: tuple[int, int], fine: bool = False):
        """Creates a renderer for the episode's model (close it when done).

        Args:
            planned: The episode.
            size: Image ``(height, width)``.
            fine: Finer tessellation of round geoms, for accurate depth images.
        """
        self.planned = planned
        self._data = mujoco.MjData(planned.obj.model)
        self._renderer = FrameRenderer(planned.obj.model, size, fine)

    def _pose(self, t: int) -> None:
        model, data = self.planned.obj.model, self._data
        data.qpos[:] = self.planned.rollout.qpos[t]
        mujoco.mj_kinematics(model, data)
        mujoco.mj_camlight(model, data)

    def frame(self, t: int) -> np.ndarray:
        """Frame ``t`` as ``(H, W, 3)`` uint8 RGB."""
        self._pose(t)
        track = self.planned.camera
        return self._renderer.render(self._data, track.positions[t], track.rotation)

    def frame_with_depth(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """Frame ``t`` as ``(H, W, 3)`` uint8 RGB and its aligned ``(H, W)`` float32 depth.

        Depth is in metres along the optical axis, NaN on the background (see
        :meth:`FrameRenderer.render_with_depth`).
        """
        self._pose(t)
        track = self.planned.camera
        return self._renderer.render_with_depth(self._data, track.positions[t], track.rotation)

    def surface_3d(self, t: int) -> np.ndarray:
        """Where the ray through each ground-truth joint's pixel first meets a surface.

        What an ideal depth camera sees at the joint's pixel: a MuJoCo ray cast
        (``mj_ray``, exact geometry, independent of the rendered depth) from the camera
        through the joint, which lies inside its body, so the hit is on the body's
        surface in front of it, or on whatever hides it.

        Returns:
            ``(J, 3)`` float64 optical-frame metres; NaN rows where the ray hits nothing.
        """
        self._pose(t)
        model, data = self.planned.obj.model, self._data
        origin = self.planned.camera.positions[t]
        out = np.full((len(self.planned.obj.keypoints), 3), np.nan)
        geomid = np.zeros(1, np.int32)
        for j, point in enumerate(self.planned.rollout.keypoints[t]):
            direction = point - origin
            direction = direction / np.linalg.norm(direction)
            dist = mujoco.mj_ray(model, data, origin, direction, None, 1, -1, geomid)
            if dist >= 0:
                out[j] = origin + dist * direction
        track = self.planned.camera
        return to_optical(out, track.positions[t], track.rotation)

    def close(self) -> None:
        """Frees the rendering context."""
        self._renderer.close()


def open_episode(
    obj: SimObject, rng: np.random.Generator, config: EpisodeConfig, seed: int, fine: bool = False
) -> tuple[PlannedEpisode, EpisodeRenderer | SceneRenderer, Sensor | None]:
    """Simulates and plans an episode of ``obj`` and opens its renderer (close it when done).

    With ``config.appearance``, the episode's look is drawn from its own generator
    (:func:`.appearance.look_rng` of ``seed``) and the object is rendered into a
    randomised scene (:mod:`.scene`); the returned :class:`.appearance.Sensor` then
    degrades each rendered frame like a camera image (None without randomisation).
    With ``config.plain_twin`` the episode is planned in its look (camera included) and
    rendered in the plain one, without a sensor.

    Args:
        obj: The object.
        rng: The episode's generator (physics, policy, camera plan).
        config: Episode length, image size and randomisation.
        seed: Seed of the look (unused without ``config.appearance``).
        fine: Finer tessellation for depth images (plain episodes only).
    """
    if config.appearance is None:
        planned = plan(obj, rng, config)
        return planned, EpisodeRenderer(planned, config.size, fine), None
    look_gen = look_rng(seed)
    look = sample(config.appearance, look_gen)
    planned = plan(obj, rng, config, look)
    if config.plain_twin:
        obj.model.cam_fovy[0] = planned.camera.fovy  # the look's field of view
        return planned, EpisodeRenderer(planned, config.size, fine), None
    renderer = SceneRenderer(planned, look, config.size, look_gen)
    return planned, renderer, Sensor(look, config.size, look_gen)


def render_episode(
    obj: SimObject, rng: np.random.Generator, config: EpisodeConfig, seed: int, index: int
) -> Episode:
    """Simulates, plans and renders a whole episode of ``obj`` (see :func:`open_episode`)."""
    planned, renderer, sensor = open_episode(obj, rng, config, seed)
    try:
        frames = [renderer.frame(t) for t in range(config.num_frames)]
    finally:
        renderer.close()
    if sensor is not None:
        frames = [sensor(f) for f in frames]
    frames = np.stack(frames)
    return Episode(
        frames=frames,
        joints=planned.joints,
        visible=planned.visible,
        adjacency=planned.adjacency,
        family=obj.variant,
        seed=seed,
        index=index,
    )
