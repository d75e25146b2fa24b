"""Swimmers: a snake-like chain of 2 to 7 rods on a plane (``swimmer-N``).

Built procedurally (the suite's ``swimmer.py`` refuses fewer than 3 links): a head rod
free to slide and turn in the plane, then a chain of rods on hinges, in a viscous medium
without gravity, seen from above. Random rod lengths, widths and colours per episode;
the random policy drives position servos on the hinges to new random bends.

Ground truth: the head's front end, every hinge and the tail's end (N + 1 joints, a
chain).
"""

from __future__ import annotations

import mujoco
import numpy as np
from skeleton_perception.training.sim.camera import FOVY, look_rotation
from skeleton_perception.training.sim.families.base import (
    VISUAL,
    Keypoint,
    SimObject,
    _fmt,
    bright_colour,
    random_joint_angles,
    skybox,
    tune_servos,
)

MIN_RODS, MAX_RODS = 2, 7
VARIANTS = tuple(f"swimmer-{n}" for n in range(MIN_RODS, MAX_RODS + 1))
BEND = 1.9  # hinge range, radians either way


def num_rods(variant: str) -> int:
    """``swimmer-4`` -> 4."""
    rods = int(variant.split("-")[1])
    if not MIN_RODS <= rods <= MAX_RODS:
        raise ValueError(f"{variant}: swimmers have {MIN_RODS} to {MAX_RODS} rods")
    return rods


def num_keypoints(variant: str) -> int:
    """Head end, the hinges and the tail end."""
    return num_rods(variant) + 1


def mjcf(rods: int, rng: np.random.Generator) -> str:
    """MJCF of a random swimmer with ``rods`` rods along -x from the head."""
    lengths = rng.uniform(0.3, 0.6, size=rods) * rng.uniform(0.8, 1.25)
    width = rng.uniform(0.1, 0.16) * float(lengths.mean())
    hue = rng.uniform()
    opened = []
    for i, length in enumerate(lengths):
        colour = bright_colour(rng, hue + rng.uniform(-0.12, 0.12))
        pos = "0 0 0" if i == 0 else f"{-lengths[i - 1]:.4g} 0 0"
        joints = (
            '<joint name="rootx" type="slide" axis="1 0 0" limited="false"/>'
            '<joint name="rooty" type="slide" axis="0 1 0" limited="false"/>'
            '<joint name="rootz" type="hinge" axis="0 0 1" limited="false"/>'
            if i == 0
            else f'<joint name="bend_{i}" type="hinge" axis="0 0 1" range="{-BEND} {BEND}"/>'
        )
        opened.append(
            f'<body name="rod_{i}" pos="{pos}">{joints}'
            f'<geom name="rod_{i}" fromto="0 0 0 {-length:.4g} 0 0" '
            f'size="{width * (1.15 if i == 0 else 1.0):.4g}" rgba="{_fmt(colour)}"/>'
        )
    servos = "".join(
        f'<position joint="bend_{i}" ctrlrange="{-BEND} {BEND}"/>' for i in range(1, rods)
    )
    return f"""
<mujoco model="swimmer-{rods}">
  <compiler angle="radian"/>
  {VISUAL}
  <asset>{skybox(rng)}</asset>
  <option timestep="0.005" gravity="0 0 0" density="3000" viscosity="0.1"
          integrator="implicitfast">
    <flag contact="disable"/>
  </option>
  <default>
    <joint limited="true" damping="0.05"/>
    <geom type="capsule" density="500"/>
    <position ctrllimited="true" kp="1" kv="0.1"/>
  </default>
  <worldbody>
    <light name="light" pos="0 0 5" dir="0 0 -1" directional="true" diffuse=".5 .5 .5"/>
    <camera name="view" pos="0 0 5" fovy="{FOVY}"/>
    {"".join(opened)}{"</body>" * rods}
  </worldbody>
  <actuator>{servos}</actuator>
</mujoco>"""


def _view(rng: np.random.Generator) -> np.ndarray:
    """From above, tilted up to ~25 degrees, any roll."""
    tilt, azimuth = rng.uniform(0.0, 0.45), rng.uniform(0, 2 * np.pi)
    forward = np.array(
        [np.sin(tilt) * np.cos(azimuth), np.sin(tilt) * np.sin(azimuth), -np.cos(tilt)]
    )
    return look_rotation(forward, np.array([0.0, 1.0, 0.0]), roll=rng.uniform(-np.pi, np.pi))


def _reset(model: mujoco.MjModel, data: mujoco.MjData, rng: np.random.Generator) -> None:
    random_joint_angles(model, data, rng, fraction=0.8)
    data.qpos[2] = rng.uniform(-np.pi, np.pi)  # heading
    data.qvel[:2] = rng.uniform(-0.5, 0.5, size=2)
    data.qvel[2] = rng.uniform(-2.0, 2.0)


def build(variant: str, rng: np.random.Generator) -> SimObject:
    """Builds ``swimmer-N`` (N in 2..7) with random sizes and colours."""
    rods = num_rods(variant)
    model = mujoco.MjModel.from_xml_string(mjcf(rods, rng))
    tune_servos(model, omega=25.0)
    tail = float(2 * model.geom_size[model.geom(f"rod_{rods - 1}").id, 1])
    keypoints = [Keypoint("head", "rod_0")]
    keypoints += [Keypoint(f"bend_{i}", f"rod_{i}") for i in range(1, rods)]
    keypoints.append(Keypoint("tail", f"rod_{rods - 1}", (-tail, 0.0, 0.0)))
    return SimObject(
        variant=variant,
        model=model,
        keypoints=keypoints,
        edges=[(i, i + 1) for i in range(rods)],
        root_body="rod_0",
        view=_view,
        reset=_reset,
        frame_skip=8,
        roam=(0.15, 0.45),
    )
