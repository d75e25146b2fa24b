"""What every object family provides: a compiled model plus its ground-truth skeleton.

A family module exposes ``build(variant, rng) -> SimObject``. Keypoints are anchors fixed
in a body's frame (a joint's anchor, or the far end of a limb: a foot, a pole tip); the
skeleton links two keypoints when one rigid body carries both.
"""

from __future__ import annotations

import colorsys
from collections.abc import Callable
from dataclasses import dataclass, field

import mujoco
import numpy as np

# Shared MJCF snippets: a small gradient skybox as a plain background, a headlight and no
# shadows (see render.configure_fast), contacts off (objects float or slide freely).
VISUAL = """
  <visual>
    <global offwidth="64" offheight="64" fovy="45"/>
    <quality shadowsize="0" offsamples="0"/>
    <headlight ambient=".35 .35 .35" diffuse=".7 .7 .7" specular=".1 .1 .1"/>
    <map znear=".01" zfar="100"/>
  </visual>
"""


def skybox(rng: np.random.Generator) -> str:
    """A plain, muted two-tone background in a random colour (MJCF ``<asset>`` body)."""
    hue = rng.uniform()
    top = colorsys.hsv_to_rgb(hue, rng.uniform(0.0, 0.35), rng.uniform(0.15, 0.45))
    bottom = colorsys.hsv_to_rgb(hue, rng.uniform(0.0, 0.35), rng.uniform(0.05, 0.3))
    return (
        f'<texture name="sky" type="skybox" builtin="gradient" width="16" height="16" '
        f'rgb1="{_fmt(top)}" rgb2="{_fmt(bottom)}"/>'
    )


def bright_colour(rng: np.random.Generator, hue: float | None = None) -> np.ndarray:
    """A saturated, bright RGBA colour that stands out on :func:`skybox` backgrounds."""
    hue = rng.uniform() if hue is None else hue % 1.0
    rgb = colorsys.hsv_to_rgb(hue, rng.uniform(0.45, 1.0), rng.uniform(0.65, 1.0))
    return np.array([*rgb, 1.0])


def _fmt(values) -> str:
    return " ".join(f"{v:.4g}" for v in values)


@dataclass(frozen=True)
class Keypoint:
    """A ground-truth joint: a point fixed in one body's frame."""

    name: str
    body: str
    pos: tuple[float, float, float] = (0.0, 0.0, 0.0)  # in the body frame


@dataclass
class SimObject:
    """A compiled object of one family, ready to simulate.

    Attributes:
        variant: Family label stored with episodes, e.g. ``"cartpole-3"``.
        model: The compiled model (its camera 0 is driven by the camera plan).
        keypoints: Ground-truth joints, in a fixed order.
        edges: Skeleton links as pairs of keypoint indices (a tree or a forest).
        root_body: Body the camera follows.
        view: Camera orientation for an episode, ``rng -> (3, 3)`` (``cam_xmat`` layout).
        reset: Randomises the initial state, ``(model, data, rng) -> None``.
        frame_skip: Physics steps per rendered frame.
        roam: Range of the fraction of the image over which the root sweeps (smaller
            roam, bigger object).
    """

    variant: str
    model: mujoco.MjModel
    keypoints: list[Keypoint]
    edges: list[tuple[int, int]]
    root_body: str
    view: Callable[[np.random.Generator], np.ndarray]
    reset: Callable[[mujoco.MjModel, mujoco.MjData, np.random.Generator], None]
    frame_skip: int = 4
    roam: tuple[float, float] = (0.25, 0.55)
    anchors: tuple[np.ndarray, np.ndarray] = field(init=False)

    def __post_init__(self) -> None:
        ids = []
        for kp in self.keypoints:
            body = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_BODY, kp.body)
            if body < 0:
                raise ValueError(f"{self.variant}: keypoint {kp.name!r} names no body {kp.body!r}")
            ids.append(body)
        local = np.array([kp.pos for kp in self.keypoints], np.float64)  # (J, 3)
        self.anchors = (np.array(ids), local)

    def adjacency(self) -> np.ndarray:
        """Symmetric boolean ``(J, J)`` adjacency with a zero diagonal."""
        n = len(self.keypoints)
        adj = np.zeros((n, n), bool)
        for i, j in self.edges:
            adj[i, j] = adj[j, i] = True
        return adj

    def keypoint_positions(self, data: mujoco.MjData) -> np.ndarray:
        """World positions ``(J, 3)`` of the keypoints (kinematics must be current)."""
        ids, local = self.anchors
        mats = data.xmat[ids].reshape(-1, 3, 3)  # (J, 3, 3)
        return data.xpos[ids] + np.einsum("jab,jb->ja", mats, local)


def random_joint_angles(
    model: mujoco.MjModel, data: mujoco.MjData, rng: np.random.Generator, fraction: float = 1.0
) -> None:
    """Draws every limited hinge uniformly in ``fraction`` of its range (others in ±π)."""
    for j in range(model.njnt):
        if int(model.jnt_type[j]) != int(mujoco.mjtJoint.mjJNT_HINGE):
            continue
        adr = model.jnt_qposadr[j]
        if model.jnt_limited[j]:
            lo, hi = model.jnt_range[j]
            mid, half = 0.5 * (lo + hi), 0.5 * (hi - lo) * fraction
            data.qpos[adr] = rng.uniform(mid - half, mid + half)
        else:
            data.qpos[adr] = rng.uniform(-np.pi, np.pi)


def recolour(model: mujoco.MjModel, geoms: list[int], rgba: np.ndarray) -> None:
    """Gives geoms a colour of their own (dropping any material colour)."""
    for g in geoms:
        model.geom_matid[g] = -1
        model.geom_rgba[g] = rgba


def body_geoms(model: mujoco.MjModel, body: str) -> list[int]:
    """Geom ids attached directly to a body."""
    b = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, body)
    return [g for g in range(model.ngeom) if model.geom_bodyid[g] == b]


def tune_servos(model: mujoco.MjModel, omega: float = 25.0, zeta: float = 0.8) -> None:
    """Sets every position servo's gains from its joint's effective inertia at ``qpos0``.

    A fixed gain is either sluggish for a heavy limb or unstable for a light one; scaling
    ``kp = omega² I`` and ``kv = 2 zeta omega I`` gives every joint the same response.
    """
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    mass = np.zeros((model.nv, model.nv))
    mujoco.mj_fullM(model, data, mass)
    inv = np.linalg.inv(mass)
    for a in range(model.nu):
        dof = model.jnt_dofadr[model.actuator_trnid[a, 0]]
        inertia = 1.0 / inv[dof, dof]
        kp, kv = omega**2 * inertia, 2 * zeta * omega * inertia
        model.actuator_gainprm[a, 0] = kp
        model.actuator_biasprm[a, 1] = -kp
        model.actuator_biasprm[a, 2] = -kv
