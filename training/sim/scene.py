"""A randomised scene around an episode's object: floor, sky, light, distractors.

The object's own model stays as its family built it (its physics already ran); the scene
is a second, static model compiled per episode from a :class:`.appearance.Look`: a
textured floor below everything the episode shows, a textured sky box (the walls around
the scene), one directional light (optionally casting shadows) plus a dim headlight, and
static distractor geoms placed behind the object in every frame, so that they never hide
a ground-truth joint. Each frame, the scene is drawn with the object's geoms added to it
(``mjv_addGeoms``), so the object casts its shadow on the floor.
"""

from __future__ import annotations

import colorsys
from typing import TYPE_CHECKING

import mujoco
import numpy as np
from skeleton_perception.training.sim.appearance import (
    Look,
    Surface,
    scheme_colours,
    scheme_shine,
    texture,
)
from skeleton_perception.training.sim.families.base import recolour
from skeleton_perception.training.sim.render import FrameRenderer

if TYPE_CHECKING:
    from skeleton_perception.training.sim.episode import PlannedEpisode

_FLOOR_TEXELS = 64  # per floor tile
_SKY_TEXELS = 32  # per sky box face
# Shadow map size: MuJoCo draws a shadow-casting light in two extra passes (~3x the time
# of a frame without shadows at 64x64, whatever this size); 128 is sharp enough there.
_SHADOW_TEXELS = 128
_SHAPES = ("box", "sphere", "capsule", "cylinder", "ellipsoid")
_HIDDEN_GROUP = 3  # families hide props in geom group 3


def _fmt(values) -> str:
    return " ".join(f"{float(v):.5g}" for v in np.ravel(values))


def _object_geoms(model: mujoco.MjModel) -> list[int]:
    return [g for g in range(model.ngeom) if model.geom_group[g] < _HIDDEN_GROUP]


def _sky_xml(sky: Surface) -> str:
    if sky.kind == "gradient":  # MuJoCo's own sky gradient, top colour to bottom colour
        top, bottom = sky.colours[1], sky.colours[0]
        return (
            f'<texture name="sky" type="skybox" builtin="gradient" width="{_SKY_TEXELS}" '
            f'height="{_SKY_TEXELS}" rgb1="{_fmt(top)}" rgb2="{_fmt(bottom)}"/>'
        )
    return (
        f'<texture name="sky" type="skybox" builtin="flat" width="{_SKY_TEXELS}" '
        f'height="{_SKY_TEXELS}" rgb1="0 0 0"/>'
    )


def scene_xml(planned: PlannedEpisode, look: Look, rng: np.random.Generator) -> str:
    """MJCF of the static scene of an episode (``rng``: the look's generator)."""
    keypoints = planned.rollout.keypoints  # (T, J, 3)
    root = planned.rollout.root  # (T, 3)
    cams, rotation = planned.camera.positions, planned.camera.rotation
    model = planned.obj.model
    bound = float(max((model.geom_rbound[g] for g in _object_geoms(model)), default=0.0))
    radius = float(np.max(np.linalg.norm(keypoints - root[:, None], axis=-1))) + bound
    reach = float(np.max(np.linalg.norm(cams - root.mean(axis=0), axis=-1))) + radius
    parts = []
    if look.floor is not None:
        low = min(float(keypoints[..., 2].min()) - bound, float(cams[:, 2].min()))
        height = low - rng.uniform(0.1, 0.5) * radius
        half = 20.0 * reach
        repeat = 1.0 / (look.tile_size * 2.0 * radius)
        parts.append(
            f'<geom name="floor" type="plane" size="{half:.5g} {half:.5g} {half:.5g}" '
            f'pos="{_fmt(root.mean(axis=0)[:2])} {height:.5g}" material="floor"/>'
        )
        floor_asset = (
            f'<texture name="floor" type="2d" builtin="flat" width="{_FLOOR_TEXELS}" '
            f'height="{_FLOOR_TEXELS}" rgb1="0 0 0"/>'
            f'<material name="floor" texture="floor" texuniform="true" '
            f'texrepeat="{repeat:.5g} {repeat:.5g}" specular="0.1" shininess="0.1"/>'
        )
    else:
        floor_asset = ""
    parts += _distractors(planned, look.distractors, radius, bound, rng)
    el, az = np.deg2rad(look.light_elevation_deg), np.deg2rad(look.light_azimuth_deg)
    direction = -np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
    light_pos = root.mean(axis=0) - direction * 2.0 * reach
    diffuse = look.light_intensity
    return f"""
<mujoco model="scene">
  <visual>
    <global offwidth="64" offheight="64"/>
    <quality shadowsize="0" offsamples="0"/>
    <headlight ambient="{_fmt([look.ambient] * 3)}" diffuse=".15 .15 .15" specular="0 0 0"/>
    <map shadowclip="{1.2 * reach / max(float(model.stat.extent), 1e-6):.5g}"/>
  </visual>
  <asset>{_sky_xml(look.sky)}{floor_asset}</asset>
  <worldbody>
    <light name="sun" directional="true" pos="{_fmt(light_pos)}" dir="{_fmt(direction)}"
           diffuse="{_fmt([diffuse] * 3)}" specular=".3 .3 .3"
           castshadow="{str(look.shadows).lower()}"/>
    <camera name="view" pos="{_fmt(cams[0])}" xyaxes="{_fmt(rotation[:, :2].T)}"/>
    {"".join(parts)}
  </worldbody>
</mujoco>"""


def _distractors(
    planned: PlannedEpisode, count: int, radius: float, bound: float, rng: np.random.Generator
) -> list[str]:
    """Static geoms, each behind every point of the object in every frame.

    Args:
        planned: The episode.
        count: Number of distractors.
        radius: The object's size (farthest keypoint from the root, plus ``bound``).
        bound: Largest bounding radius of the object's geoms (how far its surface may
            lie behind a keypoint).
        rng: The look's generator.
    """
    cams, rotation = planned.camera.positions, planned.camera.rotation
    keypoints = planned.rollout.keypoints
    z = rotation[:, 2]  # the camera looks along -z
    depth = -np.einsum("tjc,c->tj", keypoints - cams[:, None], z)  # (T, J)
    deepest = depth.max(axis=1) + bound  # (T,) behind the object's surface
    tan_half = np.tan(np.deg2rad(planned.camera.fovy) / 2.0)
    out = []
    for k in range(count):
        size = rng.uniform(0.15, 0.4) * radius
        t = int(rng.integers(len(cams)))
        d = float(deepest[t]) + 2 * size + rng.uniform(0.2, 1.5) * radius
        lateral = rng.uniform(-1.0, 1.0, size=2) * d * tan_half
        point = cams[t] + rotation @ np.array([lateral[0], lateral[1], -d])
        # Push it farther along the view until it is behind the object in every frame
        # (2 * size bounds every shape's reach from its centre).
        shortfall = float(np.max(deepest + 2 * size + np.einsum("tc,c->t", point - cams, z)))
        if shortfall > 0:
            point = point - z * shortfall
        shape = str(_SHAPES[rng.integers(len(_SHAPES))])
        dims = size * rng.uniform(0.5, 1.0, size=3)
        hue = rng.uniform()
        rgb = colorsys.hsv_to_rgb(hue, rng.uniform(0.0, 0.8), rng.uniform(0.2, 0.9))
        euler = rng.uniform(-np.pi, np.pi, size=3)
        out.append(
            f'<geom name="distractor_{k}" type="{shape}" size="{_fmt(dims)}" '
            f'pos="{_fmt(point)}" euler="{_fmt(euler)}" rgba="{_fmt(rgb)} 1"/>'
        )
    return out


def build_scene(planned: PlannedEpisode, look: Look, rng: np.random.Generator) -> mujoco.MjModel:
    """Compiles the scene model and writes its procedural textures into it."""
    scene = mujoco.MjModel.from_xml_string(scene_xml(planned, look, rng))
    for name, surface, faces in (("floor", look.floor, 1), ("sky", look.sky, 6)):
        if surface is None or (name == "sky" and surface.kind == "gradient"):
            continue
        tex = scene.texture(name)
        size = int(tex.width[0])
        pixels = np.concatenate(  # (faces * size, size, 3): each face its own pattern
            [
                texture(Surface(surface.kind, surface.colours, surface.seed + f), size)
                for f in range(faces)
            ]
        )
        adr = int(tex.adr[0])
        scene.tex_data[adr : adr + pixels.size] = pixels.reshape(-1)
    obj = planned.obj.model
    extent = float(obj.stat.extent)
    scene.stat.extent = extent
    scene.vis.map.znear = float(obj.vis.map.znear)
    cams = planned.camera.positions
    far = float(np.max(np.linalg.norm(cams - planned.rollout.root.mean(axis=0), axis=-1)))
    scene.vis.map.zfar = max(float(obj.vis.map.zfar), 60.0 * far / extent)
    scene.cam_fovy[0] = planned.camera.fovy
    return scene


class SceneRenderer:
    """Renders the frames of a planned episode inside its randomised scene."""

    def __init__(
        self, planned: PlannedEpisode, look: Look, size: tuple[int, int], rng: np.random.Generator
    ):
        """Builds the scene, recolours the object by the look's scheme, opens a context.

        Args:
            planned: The episode (its object model is recoloured in place).
            look: The episode's look.
            size: Image ``(height, width)``.
            rng: The look's generator (colours, floor height, distractors).
        """
        self.planned = planned
        obj = planned.obj.model
        geoms = _object_geoms(obj)
        colours = scheme_colours(look.scheme, len(geoms), rng)
        if colours is not None:
            for g, rgba in zip(geoms, colours, strict=True):
                recolour(obj, [g], rgba)
        self._shine = scheme_shine(look.scheme)
        self._scene = build_scene(planned, look, rng)
        self._scene_data = mujoco.MjData(self._scene)
        mujoco.mj_kinematics(self._scene, self._scene_data)
        mujoco.mj_camlight(self._scene, self._scene_data)
        self._object_data = mujoco.MjData(obj)
        self._option = mujoco.MjvOption()
        self._perturb = mujoco.MjvPerturb()
        shadow_size = _SHADOW_TEXELS if look.shadows else 0
        self._renderer = FrameRenderer(
            self._scene, size, shadow_size=shadow_size, extra_geoms=obj.ngeom
        )

    def _add_object(self, scene: mujoco.MjvScene) -> None:
        first = scene.ngeom
        mujoco.mjv_addGeoms(
            self.planned.obj.model,
            self._object_data,
            self._option,
            self._perturb,
            mujoco.mjtCatBit.mjCAT_ALL,
            scene,
        )
        for i in range(first, scene.ngeom):
            geom = scene.geoms[i]
            geom.matid = -1  # material ids index the object's model, not the scene's
            if self._shine is not None:
                geom.specular, geom.shininess = self._shine

    def frame(self, t: int) -> np.ndarray:
        """Frame ``t`` as ``(H, W, 3)`` uint8 RGB."""
        model, data = self.planned.obj.model, self._object_data
        data.qpos[:] = self.planned.rollout.qpos[t]
        mujoco.mj_kinematics(model, data)
        track = self.planned.camera
        return self._renderer.render(
            self._scene_data, track.positions[t], track.rotation, add=self._add_object
        )

    def close(self) -> None:
        """Frees the rendering context."""
        self._renderer.close()
