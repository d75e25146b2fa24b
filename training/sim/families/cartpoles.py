"""Cartpoles: a cart on a frictionless slider with 1 to 5 chained poles (``cartpole-N``).

Like ``dm_control/suite/cartpole.py`` but built procedurally for any number of poles, with
random pole lengths, widths and colours. Only the cart is actuated, as in the suite; the
random policy pushes it and the poles, starting from random angles, swing under gravity.
Poles are thicker than the suite's so that they stay visible at 64x64, and hang in front
of the cart so that it does not hide them.
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
    skybox,
)

MIN_POLES, MAX_POLES = 1, 5
VARIANTS = tuple(f"cartpole-{n}" for n in range(MIN_POLES, MAX_POLES + 1))


def num_keypoints(variant: str) -> int:
    """Cart (first hinge) + one per further hinge + the last pole's tip."""
    return int(variant.split("-")[1]) + 1


def mjcf(num_poles: int, rng: np.random.Generator) -> str:
    """MJCF of a cart with ``num_poles`` chained poles of random sizes and colours."""
    cart = rng.uniform([0.18, 0.1, 0.08], [0.35, 0.2, 0.18])  # half sizes
    lengths = rng.uniform(0.35, 0.9, size=num_poles) * (1.5 / (1.0 + 0.25 * num_poles))
    radius = rng.uniform(0.035, 0.06) * max(1.0, lengths.sum())
    hue = rng.uniform()
    cart_rgba = bright_colour(rng, hue)
    poles, close = [], []
    for i, length in enumerate(lengths):
        # The first pole hangs in front of the cart, each next one on its parent's tip.
        pos = f"0 {-(cart[1] + radius):.4g} 0" if i == 0 else f"0 0 {lengths[i - 1]:.4g}"
        rgba = bright_colour(rng, hue + rng.uniform(0.15, 0.85))
        poles.append(
            f'<body name="pole_{i + 1}" pos="{pos}">'
            f'<joint name="hinge_{i + 1}" type="hinge" axis="0 1 0" damping="0.005"/>'
            f'<geom name="pole_{i + 1}" type="capsule" fromto="0 0 0 0 0 {length:.4g}" '
            f'size="{radius:.4g}" mass="{0.1 * length:.4g}" rgba="{_fmt(rgba)}"/>'
        )
        close.append("</body>")
    gear = rng.uniform(8.0, 20.0)
    return f"""
<mujoco model="cartpole-{num_poles}">
  <compiler angle="radian"/>
  {VISUAL}
  <asset>{skybox(rng)}</asset>
  <option timestep="0.01"><flag contact="disable"/></option>
  <worldbody>
    <light name="light" pos="0 -3 4" dir="0 .6 -1" directional="true" diffuse=".5 .5 .5"/>
    <camera name="view" pos="0 -5 0" fovy="{FOVY}"/>
    <body name="cart">
      <joint name="slider" type="slide" axis="1 0 0" damping="0.5"/>
      <geom name="cart" type="box" size="{_fmt(cart)}" mass="1" rgba="{_fmt(cart_rgba)}"/>
      {"".join(poles)}{"".join(close)}
    </body>
  </worldbody>
  <actuator>
    <motor name="slide" joint="slider" gear="{gear:.4g}" ctrlrange="-1 1" ctrllimited="true"/>
  </actuator>
</mujoco>"""


def _view(rng: np.random.Generator) -> np.ndarray:
    """A side view with random azimuth, elevation and roll jitter."""
    az = rng.uniform(-0.35, 0.35)
    el = rng.uniform(-0.3, 0.35)
    forward = np.array([np.sin(az) * np.cos(el), np.cos(az) * np.cos(el), -np.sin(el)])
    return look_rotation(forward, np.array([0.0, 0.0, 1.0]), roll=rng.uniform(-0.2, 0.2))


def _reset(model: mujoco.MjModel, data: mujoco.MjData, rng: np.random.Generator) -> None:
    data.qpos[1:] = rng.uniform(-np.pi, np.pi, size=model.nq - 1)  # poles anywhere
    data.qvel[0] = rng.uniform(-1.0, 1.0)
    data.qvel[1:] = rng.uniform(-2.0, 2.0, size=model.nv - 1)


def build(variant: str, rng: np.random.Generator) -> SimObject:
    """Builds ``cartpole-N`` with random sizes and colours.

    Args:
        variant: ``"cartpole-N"``, N in 1..5.
        rng: Random generator of the episode.
    """
    num_poles = int(variant.split("-")[1])
    if not MIN_POLES <= num_poles <= MAX_POLES:
        raise ValueError(f"{variant}: cartpoles have {MIN_POLES} to {MAX_POLES} poles")
    model = mujoco.MjModel.from_xml_string(mjcf(num_poles, rng))
    keypoints = [Keypoint("cart", "pole_1")]
    keypoints += [Keypoint(f"hinge_{i}", f"pole_{i}") for i in range(2, num_poles + 1)]
    tip = float(model.geom_size[-1, 1] * 2)  # last capsule's length
    keypoints.append(Keypoint("tip", f"pole_{num_poles}", (0.0, 0.0, tip)))
    edges = [(i, i + 1) for i in range(num_poles)]
    return SimObject(
        variant=variant,
        model=model,
        keypoints=keypoints,
        edges=edges,
        root_body="cart",
        view=_view,
        reset=_reset,
        frame_skip=4,
        roam=(0.15, 0.45),
    )
