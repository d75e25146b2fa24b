"""Walker, Hopper, Cheetah and Manipulator in zero gravity (the "M+W+H+C" dataset).

The Control Suite's own models (``dm_control/suite/{walker,hopper,cheetah,manipulator}.xml``,
loaded from the installed package with lighter visual assets) with gravity and contacts
off, the floor and props hidden, a random initial pose, orientation and spin: so upside
down and horizontal poses are as likely as upright ones (supplementary IX). The suite's
motors take uniform random actions.

Ground truth per model is listed in :data:`SKELETONS`: joint anchors plus limb ends
(head, toes, foot tips, fingertips), linked along the bodies that carry them.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import mujoco
import numpy as np
from dm_control.suite import common
from skeleton_perception.training.sim.camera import FOVY, look_rotation
from skeleton_perception.training.sim.families.base import (
    VISUAL,
    Keypoint,
    SimObject,
    bright_colour,
    random_joint_angles,
    recolour,
    skybox,
)


@dataclass(frozen=True)
class Skeleton:
    """How a suite model maps to ground truth.

    Attributes:
        xml: Suite file name.
        root: Body the camera follows; its subtree is the object (the rest is hidden).
        keypoints: ``(name, body, local position)``, or ``(name, body, geom)`` for the end
            of that capsule farthest from the body's origin (a limb's tip).
        edges: Links between keypoint names.
        frame_skip: Physics steps per frame (frames ~0.04 s apart).
        timestep: Physics timestep override (None: the suite's).
    """

    xml: str
    root: str
    keypoints: tuple[tuple, ...]
    edges: tuple[tuple[str, str], ...]
    frame_skip: int
    timestep: float | None = None


SKELETONS: dict[str, Skeleton] = {
    "walker": Skeleton(
        xml="walker.xml",
        root="torso",
        keypoints=(
            ("neck", "torso", (0.0, 0.0, 0.3)),
            ("hip", "torso", (0.0, 0.0, -0.3)),
            ("right_knee", "right_leg", (0.0, 0.0, 0.25)),
            ("right_ankle", "right_foot", (-0.06, 0.0, 0.0)),
            ("right_toe", "right_foot", (0.1, 0.0, 0.0)),
            ("left_knee", "left_leg", (0.0, 0.0, 0.25)),
            ("left_ankle", "left_foot", (-0.06, 0.0, 0.0)),
            ("left_toe", "left_foot", (0.1, 0.0, 0.0)),
        ),
        edges=(
            ("neck", "hip"),
            ("hip", "right_knee"),
            ("right_knee", "right_ankle"),
            ("right_ankle", "right_toe"),
            ("hip", "left_knee"),
            ("left_knee", "left_ankle"),
            ("left_ankle", "left_toe"),
        ),
        frame_skip=16,
    ),
    "hopper": Skeleton(
        xml="hopper.xml",
        root="torso",
        keypoints=(
            ("head", "torso", (0.0, 0.0, 0.2)),
            ("waist", "pelvis", (0.0, 0.0, 0.0)),
            ("hip", "thigh", (0.0, 0.0, 0.0)),
            ("knee", "calf", (0.0, 0.0, 0.0)),
            ("ankle", "foot", (0.0, 0.0, 0.0)),
            ("toe", "foot", (0.17, 0.0, 0.0)),
            ("heel", "foot", (-0.08, 0.0, 0.0)),
        ),
        edges=(
            ("head", "waist"),
            ("waist", "hip"),
            ("hip", "knee"),
            ("knee", "ankle"),
            ("ankle", "toe"),
            ("ankle", "heel"),
        ),
        frame_skip=8,
    ),
    "cheetah": Skeleton(
        xml="cheetah.xml",
        root="torso",
        keypoints=(
            ("back_hip", "bthigh", (0.0, 0.0, 0.0)),
            ("front_hip", "fthigh", (0.0, 0.0, 0.0)),
            ("head", "torso", "head"),
            ("back_knee", "bshin", (0.0, 0.0, 0.0)),
            ("back_ankle", "bfoot", (0.0, 0.0, 0.0)),
            ("back_toe", "bfoot", "bfoot"),
            ("front_knee", "fshin", (0.0, 0.0, 0.0)),
            ("front_ankle", "ffoot", (0.0, 0.0, 0.0)),
            ("front_toe", "ffoot", "ffoot"),
        ),
        edges=(
            ("back_hip", "front_hip"),
            ("front_hip", "head"),
            ("back_hip", "back_knee"),
            ("back_knee", "back_ankle"),
            ("back_ankle", "back_toe"),
            ("front_hip", "front_knee"),
            ("front_knee", "front_ankle"),
            ("front_ankle", "front_toe"),
        ),
        frame_skip=4,
    ),
    "manipulator": Skeleton(
        xml="manipulator.xml",
        root="upper_arm",
        keypoints=(
            ("root", "upper_arm", (0.0, 0.0, 0.0)),
            ("shoulder", "middle_arm", (0.0, 0.0, 0.0)),
            ("elbow", "lower_arm", (0.0, 0.0, 0.0)),
            ("wrist", "hand", (0.0, 0.0, 0.0)),
            ("thumb", "thumb", (0.0, 0.0, 0.0)),
            ("thumb_tip", "thumbtip", (0.0, 0.0, 0.0)),
            ("finger", "finger", (0.0, 0.0, 0.0)),
            ("finger_tip", "fingertip", (0.0, 0.0, 0.0)),
        ),
        edges=(
            ("root", "shoulder"),
            ("shoulder", "elbow"),
            ("elbow", "wrist"),
            ("wrist", "thumb"),
            ("thumb", "thumb_tip"),
            ("wrist", "finger"),
            ("finger", "finger_tip"),
        ),
        frame_skip=20,
        timestep=0.002,
    ),
}

VARIANTS = tuple(SKELETONS)


def num_keypoints(variant: str) -> int:
    """Number of ground-truth joints of a suite model."""
    return len(SKELETONS[variant].keypoints)


def _assets(rng: np.random.Generator) -> dict[str, bytes]:
    """The suite's shared assets with a small random skybox, no shadows, small textures."""
    materials = common.ASSETS["./common/materials.xml"].decode()
    materials = re.sub(r'width="\d+" height="\d+"', 'width="16" height="16"', materials)
    return {
        "./common/materials.xml": materials.encode(),
        "./common/skybox.xml": f"<mujoco><asset>{skybox(rng)}</asset></mujoco>".encode(),
        "./common/visual.xml": f"<mujoco>{VISUAL}</mujoco>".encode(),
    }


def _subtree(model: mujoco.MjModel, root: int) -> set[int]:
    bodies = {root}
    for b in range(root + 1, model.nbody):
        if model.body_parentid[b] in bodies:
            bodies.add(b)
    return bodies


def _geom_tip(model: mujoco.MjModel, geom: str, reference: np.ndarray) -> tuple:
    """End of a capsule's axis (body frame) farthest from ``reference``."""
    g = model.geom(geom)
    axis = np.zeros(9)
    mujoco.mju_quat2Mat(axis, g.quat)
    ends = [g.pos + s * g.size[1] * axis.reshape(3, 3)[:, 2] for s in (1.0, -1.0)]
    far = max(ends, key=lambda p: float(np.linalg.norm(p - reference)))
    return tuple(float(v) for v in far)


def _view(rng: np.random.Generator) -> np.ndarray:
    """Side view of the x-z plane from either side, with some jitter."""
    az = rng.uniform(-0.3, 0.3) + (np.pi if rng.uniform() < 0.5 else 0.0)
    el = rng.uniform(-0.3, 0.3)
    forward = np.array([np.sin(az) * np.cos(el), np.cos(az) * np.cos(el), -np.sin(el)])
    return look_rotation(forward, np.array([0.0, 0.0, 1.0]), roll=rng.uniform(-0.3, 0.3))


def _reset(model: mujoco.MjModel, data: mujoco.MjData, rng: np.random.Generator) -> None:
    random_joint_angles(model, data, rng)  # the planar root's rotation is unlimited: any
    rooty = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, "rooty")
    if rooty >= 0:
        data.qvel[model.jnt_dofadr[rooty]] = rng.uniform(-2.0, 2.0)  # tumble


class _DropSettotalmassWarning(logging.Filter):
    """Drops MuJoCo's per-compile deprecation warning about cheetah.xml's ``settotalmass``.

    The suite's XML is used unchanged (so the data stay as generated); without this, every
    cheetah episode logs the same warning.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "settotalmass" not in record.getMessage()


logging.getLogger("absl").addFilter(_DropSettotalmassWarning())


def build(variant: str, rng: np.random.Generator) -> SimObject:
    """Builds a suite model (``walker``, ``hopper``, ``cheetah``, ``manipulator``)."""
    if variant not in SKELETONS:
        raise ValueError(f"{variant}: not one of {', '.join(SKELETONS)}")
    spec = SKELETONS[variant]
    xml = common.read_model(spec.xml).decode()
    xml = re.sub(r'width="800" height="800"', 'width="16" height="16"', xml)
    model = mujoco.MjModel.from_xml_string(xml, _assets(rng))
    model.opt.gravity[:] = 0.0
    model.opt.disableflags |= int(mujoco.mjtDisableBit.mjDSBL_CONTACT)
    if spec.timestep is not None:
        model.opt.timestep = spec.timestep
    model.cam_fovy[0] = FOVY
    root = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, spec.root)
    bodies = _subtree(model, root)
    hue = rng.uniform()
    for b in sorted(bodies):
        geoms = [g for g in range(model.ngeom) if model.geom_bodyid[g] == b]
        recolour(model, geoms, bright_colour(rng, hue + rng.uniform(-0.1, 0.1)))
    for g in range(model.ngeom):
        if model.geom_bodyid[g] not in bodies:
            model.geom_group[g] = 3  # hidden: floor, walls, props, targets
    keypoints = []
    for name, body, where in spec.keypoints:
        if isinstance(where, str):  # a limb's tip: the capsule end far from the joint
            where = _geom_tip(model, where, np.zeros(3))
        keypoints.append(Keypoint(name, body, tuple(where)))
    index = {kp.name: i for i, kp in enumerate(keypoints)}
    return SimObject(
        variant=variant,
        model=model,
        keypoints=keypoints,
        edges=[(index[a], index[b]) for a, b in spec.edges],
        root_body=spec.root,
        view=_view,
        reset=_reset,
        frame_skip=spec.frame_skip,
        roam=(0.15, 0.45),
    )
