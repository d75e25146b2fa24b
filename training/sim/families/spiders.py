"""Spiders: an ant-like torso with 3 to 8 legs (``spider-Klegs``), built procedurally.

No spider exists in the Control Suite, so the MJCF is generated: a round torso with a
free joint, and K legs spread around it at random angles, each a thigh on a two-axis hip
(swing and lift) and a shin on a knee. Sizes and the colour of every leg are random per
episode. The spider floats in zero gravity and starts in a random orientation with a
random spin, so it turns and tumbles (the paper's spiders "turn, spin, fall"), while the
random policy sets new hip and knee targets for position servos every few frames.

Ground truth: the torso centre, and per leg its hip, knee and foot (1 + 3K joints); the
torso links the centre to every hip, the thigh a hip to its knee, the shin a knee to its
foot.
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

MIN_LEGS, MAX_LEGS = 3, 8
VARIANTS = tuple(f"spider-{k}legs" for k in range(MIN_LEGS, MAX_LEGS + 1))


def num_legs(variant: str) -> int:
    """``spider-5legs`` -> 5."""
    legs = int(variant.split("-")[1].removesuffix("legs"))
    if not MIN_LEGS <= legs <= MAX_LEGS:
        raise ValueError(f"{variant}: spiders have {MIN_LEGS} to {MAX_LEGS} legs")
    return legs


def num_keypoints(variant: str) -> int:
    """Torso centre plus hip, knee and foot per leg."""
    return 1 + 3 * num_legs(variant)


def mjcf(legs: int, rng: np.random.Generator) -> str:
    """MJCF of a random spider with ``legs`` legs."""
    torso = rng.uniform(0.12, 0.28)
    thigh = rng.uniform(0.2, 0.45, size=legs) * rng.uniform(0.8, 1.2)
    shin = rng.uniform(0.25, 0.6, size=legs) * rng.uniform(0.8, 1.2)
    width = rng.uniform(0.13, 0.19) * float(np.mean(np.r_[thigh, shin]))
    # Legs spread around the torso, each within a fraction of its even share of the circle.
    angles = (np.arange(legs) + rng.uniform(-0.25, 0.25, size=legs)) * 2 * np.pi / legs
    angles += rng.uniform(0, 2 * np.pi)
    density = 300.0
    bodies, actuators = [], []
    for k in range(legs):
        c, s = np.cos(angles[k]), np.sin(angles[k])
        colour = bright_colour(rng)
        shin_colour = bright_colour(rng, rng.uniform()) if rng.uniform() < 0.3 else colour
        bodies.append(f"""
      <body name="hip_{k}" pos="{torso * c:.4g} {torso * s:.4g} 0" euler="0 0 {angles[k]:.4g}">
        <joint name="swing_{k}" axis="0 0 1" range="-0.7 0.7"/>
        <joint name="lift_{k}" axis="0 -1 0" range="-0.9 0.9"/>
        <geom name="thigh_{k}" fromto="0 0 0 {thigh[k]:.4g} 0 0" size="{width:.4g}"
              rgba="{_fmt(colour)}"/>
        <body name="knee_{k}" pos="{thigh[k]:.4g} 0 0">
          <joint name="knee_{k}" axis="0 -1 0" range="-2.3 0.5"/>
          <geom name="shin_{k}" fromto="0 0 0 {shin[k]:.4g} 0 0" size="{0.85 * width:.4g}"
                rgba="{_fmt(shin_colour)}"/>
        </body>
      </body>""")
        for joint, (lo, hi) in (("swing", (-0.7, 0.7)), ("lift", (-0.9, 0.9))):
            actuators.append(f'<position joint="{joint}_{k}" ctrlrange="{lo} {hi}"/>')
        actuators.append(f'<position joint="knee_{k}" ctrlrange="-2.3 0.5"/>')
    return f"""
<mujoco model="spider-{legs}legs">
  <compiler angle="radian"/>
  {VISUAL}
  <asset>{skybox(rng)}</asset>
  <option timestep="0.005" gravity="0 0 0" integrator="implicitfast">
    <flag contact="disable"/>
  </option>
  <default>
    <joint type="hinge" limited="true" damping="{0.002 * density * width:.4g}"/>
    <geom type="capsule" density="{density}"/>
    <position ctrllimited="true" kp="1" kv="0.1"/>
  </default>
  <worldbody>
    <light name="light" pos="0 0 5" dir="0 0 -1" directional="true" diffuse=".5 .5 .5"/>
    <camera name="view" pos="0 -5 0" fovy="{FOVY}"/>
    <body name="torso">
      <freejoint name="root"/>
      <geom name="torso" type="sphere" size="{torso:.4g}" rgba="{_fmt(bright_colour(rng))}"/>
      {"".join(bodies)}
    </body>
  </worldbody>
  <actuator>{"".join(actuators)}</actuator>
</mujoco>"""


def _view(rng: np.random.Generator) -> np.ndarray:
    """Any direction (the spider tumbles): uniform on the sphere, random roll."""
    forward = rng.normal(size=3)
    return look_rotation(forward, np.array([0.0, 0.0, 1.0]), roll=rng.uniform(-np.pi, np.pi))


def _reset(model: mujoco.MjModel, data: mujoco.MjData, rng: np.random.Generator) -> None:
    random_joint_angles(model, data, rng)
    quat = rng.normal(size=4)
    data.qpos[3:7] = quat / np.linalg.norm(quat)  # uniform random orientation
    data.qvel[3:6] = rng.uniform(-1.5, 1.5, size=3)  # spin


def build(variant: str, rng: np.random.Generator) -> SimObject:
    """Builds ``spider-Klegs`` (K in 3..8) with random sizes and leg colours."""
    legs = num_legs(variant)
    model = mujoco.MjModel.from_xml_string(mjcf(legs, rng))
    tune_servos(model)
    keypoints = [Keypoint("centre", "torso")]
    edges = []
    for k in range(legs):
        shin = float(2 * model.geom_size[model.geom(f"shin_{k}").id, 1])
        base = len(keypoints)
        keypoints += [
            Keypoint(f"hip_{k}", f"hip_{k}"),
            Keypoint(f"knee_{k}", f"knee_{k}"),
            Keypoint(f"foot_{k}", f"knee_{k}", (shin, 0.0, 0.0)),
        ]
        edges += [(0, base), (base, base + 1), (base + 1, base + 2)]
    return SimObject(
        variant=variant,
        model=model,
        keypoints=keypoints,
        edges=edges,
        root_body="torso",
        view=_view,
        reset=_reset,
        frame_skip=8,
        roam=(0.15, 0.45),
    )
