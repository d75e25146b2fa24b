"""Domain randomisation: what an episode looks like besides its object's shape and motion.

:class:`AppearanceConfig` holds the ranges (a typed part of :class:`.episode.EpisodeConfig`,
``None`` by default: the plain gradient background of every dataset so far);
:func:`sample` draws one episode's :class:`Look` from them. Five presets:
:data:`TRAINING` for the train/val/test splits of a randomised dataset, :data:`BROAD` and
:data:`DIM` two more training looks (``generate --look broad|dim``; :data:`TRAINING_LOOKS`
names the three),
:data:`HELDOUT` for the ``appearance`` split, whose texture kinds, colour schemes and
camera, light and image-degradation ranges no training split uses (``docs/data.md``), and
:data:`VALIDATION` for the ``appearance-val`` split, a third look for choosing models;
:data:`PRESETS` names TRAINING and HELDOUT for the simulated camera (``record-sim
--appearance``).

The look is drawn from its own generator (:func:`look_rng`), so the physics, poses and
camera sweep of an episode are the same with and without randomisation. The scene itself
(floor, sky, lights, distractors) is built by :mod:`.scene`; :func:`texture` makes the
procedural textures and :class:`Sensor` the sensor effects (noise, blur, JPEG).
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

import cv2
import numpy as np

TEXTURES = (
    "checker", "gradient", "noise", "flat", "grid", "stripes", "bricks", "marble", "dots", "waves",
    "cells", "camo", "rings", "scribble",
)  # fmt: skip
SCHEMES = (
    "bright", "beige", "grey", "metal", "wood", "dark", "pastel", "copper", "plastic", "slate",
    "olive", "navy", "white", "teal", "soot", "rust",
)  # fmt: skip

# Colour schemes: (hue range, saturation range, value range, specular, shininess) of the
# object's base colour; every geom varies its value a little. "bright" keeps the family's
# own colours.
_SCHEME_HSV = {
    "beige": ((0.07, 0.13), (0.15, 0.35), (0.7, 0.9), 0.2, 0.3),
    "grey": ((0.0, 1.0), (0.0, 0.06), (0.35, 0.8), 0.2, 0.3),
    "metal": ((0.55, 0.65), (0.02, 0.12), (0.55, 0.85), 0.9, 0.9),
    "wood": ((0.04, 0.09), (0.5, 0.7), (0.3, 0.55), 0.1, 0.2),
    "dark": ((0.0, 1.0), (0.0, 0.3), (0.1, 0.25), 0.3, 0.5),
    "pastel": ((0.0, 1.0), (0.2, 0.35), (0.85, 1.0), 0.1, 0.2),
    "copper": ((0.05, 0.1), (0.55, 0.75), (0.65, 0.85), 0.9, 0.9),
    "plastic": ((0.0, 1.0), (0.7, 0.95), (0.45, 0.7), 0.5, 0.6),
    "slate": ((0.55, 0.7), (0.2, 0.35), (0.25, 0.45), 0.3, 0.4),
    "olive": ((0.14, 0.2), (0.45, 0.65), (0.35, 0.55), 0.2, 0.3),
    "navy": ((0.6, 0.68), (0.5, 0.68), (0.2, 0.4), 0.4, 0.5),
    "white": ((0.0, 1.0), (0.0, 0.08), (0.85, 1.0), 0.3, 0.4),
    "teal": ((0.45, 0.52), (0.45, 0.65), (0.45, 0.65), 0.5, 0.6),
    "soot": ((0.0, 1.0), (0.0, 0.3), (0.02, 0.08), 0.3, 0.5),
    "rust": ((0.0, 0.035), (0.6, 0.85), (0.22, 0.42), 0.2, 0.3),
}


@dataclass(frozen=True)
class AppearanceConfig:
    """Ranges of the per-episode domain randomisation (``(low, high)`` pairs, uniform).

    Attributes:
        floor_textures: Texture kinds of the floor (see :data:`TEXTURES`).
        sky_textures: Texture kinds of the sky box (the walls around the scene).
        floor_probability: Chance that an episode has a floor under the object.
        tile_size: Floor texture repeat length, in object extents.
        colour_schemes: Object colour schemes (see :data:`SCHEMES`).
        light_elevation_deg: Elevation of the directional light above the horizon.
        light_intensity: Diffuse intensity of that light.
        ambient: Ambient light level.
        shadow_probability: Chance that the light casts shadows (they triple the
            rendering time of a frame).
        fovy_deg: Vertical field of view of the camera.
        elevation_deg: Extra camera tilt added to the family's view.
        azimuth_deg: Extra camera turn about the vertical, either sign (magnitude range).
        roam_scale: Multiplies the family's roam (larger: farther camera, smaller object).
        distractors: Number of static distractor geoms behind the object (inclusive range).
        noise_std: Gaussian pixel noise, standard deviation in 0-255 units.
        blur_sigma: Gaussian blur, pixels (below 0.3: none).
        jpeg_quality: JPEG compression quality (100: none).
    """

    floor_textures: tuple[str, ...] = ("checker", "gradient", "noise", "flat")
    sky_textures: tuple[str, ...] = ("gradient", "checker", "noise", "flat")
    floor_probability: float = 0.8
    tile_size: tuple[float, float] = (0.15, 0.6)
    colour_schemes: tuple[str, ...] = ("bright", "beige", "grey", "metal")
    light_elevation_deg: tuple[float, float] = (35.0, 85.0)
    light_intensity: tuple[float, float] = (0.35, 0.8)
    ambient: tuple[float, float] = (0.15, 0.4)
    shadow_probability: float = 0.3
    fovy_deg: tuple[float, float] = (38.0, 55.0)
    elevation_deg: tuple[float, float] = (-6.0, 6.0)
    azimuth_deg: tuple[float, float] = (0.0, 10.0)
    roam_scale: tuple[float, float] = (0.85, 1.15)
    distractors: tuple[int, int] = (0, 2)
    noise_std: tuple[float, float] = (0.0, 3.0)
    blur_sigma: tuple[float, float] = (0.0, 0.5)
    jpeg_quality: tuple[float, float] = (75.0, 100.0)

    def __post_init__(self) -> None:
        for name in ("floor_textures", "sky_textures"):
            unknown = set(getattr(self, name)) - set(TEXTURES)
            if unknown or not getattr(self, name):
                raise ValueError(f"AppearanceConfig.{name}: unknown or none {sorted(unknown)}")
        unknown = set(self.colour_schemes) - set(SCHEMES)
        if unknown or not self.colour_schemes:
            raise ValueError(f"AppearanceConfig.colour_schemes: unknown or none {sorted(unknown)}")


TRAINING = AppearanceConfig()

HELDOUT = AppearanceConfig(
    floor_textures=("grid", "stripes", "bricks", "marble"),
    sky_textures=("grid", "stripes", "bricks", "marble"),
    floor_probability=1.0,
    tile_size=(0.7, 1.0),
    colour_schemes=("wood", "dark", "pastel", "copper"),
    light_elevation_deg=(15.0, 30.0),
    light_intensity=(0.85, 1.05),
    ambient=(0.05, 0.12),
    fovy_deg=(60.0, 72.0),
    elevation_deg=(10.0, 20.0),
    azimuth_deg=(15.0, 30.0),
    roam_scale=(1.25, 1.45),
    distractors=(3, 5),
    noise_std=(4.0, 6.0),
    blur_sigma=(0.6, 0.8),
    jpeg_quality=(40.0, 60.0),
)

# A third look for choosing between models on unseen looks (the ``appearance-val`` split):
# its textures and colour schemes are in neither of the others, its ranges lie between
# theirs (the distractor count overlaps both).
VALIDATION = AppearanceConfig(
    floor_textures=("dots", "waves"),
    sky_textures=("dots", "waves"),
    floor_probability=0.9,
    tile_size=(0.6, 0.7),
    colour_schemes=("plastic", "slate"),
    light_elevation_deg=(30.0, 35.0),
    light_intensity=(0.8, 0.85),
    ambient=(0.12, 0.15),
    fovy_deg=(55.0, 60.0),
    elevation_deg=(6.0, 10.0),
    azimuth_deg=(10.0, 15.0),
    roam_scale=(1.15, 1.25),
    distractors=(2, 3),
    noise_std=(3.0, 4.0),
    blur_sigma=(0.5, 0.6),
    jpeg_quality=(60.0, 75.0),
)

# A second training look: its textures and colour schemes are in no other look; its camera,
# tile and sensor ranges lie beyond HELDOUT's (seen from TRAINING's), so there the held-out
# look falls between two training looks; its light is brighter than both (a grazing light
# beyond HELDOUT's leaves the scene black). No range overlaps HELDOUT's or VALIDATION's.
BROAD = AppearanceConfig(
    floor_textures=("cells", "camo", "rings", "scribble"),
    sky_textures=("cells", "camo", "rings", "scribble"),
    floor_probability=0.9,
    tile_size=(1.0, 1.5),
    colour_schemes=("olive", "navy", "white", "teal"),
    light_elevation_deg=(40.0, 80.0),
    light_intensity=(1.05, 1.3),
    ambient=(0.4, 0.55),
    fovy_deg=(72.0, 78.0),
    elevation_deg=(20.0, 28.0),
    azimuth_deg=(30.0, 45.0),
    roam_scale=(1.45, 1.6),
    distractors=(6, 8),
    noise_std=(6.0, 9.0),
    blur_sigma=(0.8, 1.1),
    jpeg_quality=(25.0, 39.0),
)

# A third training look, for light: a grazing sun and almost no ambient light (below
# HELDOUT's, seen from TRAINING's and BROAD's), with very dark and rust-red bodies (darker
# than HELDOUT's dark, redder than its wood and copper). Textures, camera, tiles,
# distractors and sensor are TRAINING's and BROAD's, so only the light and the colours are
# new. No range overlaps HELDOUT's or VALIDATION's.
DIM = AppearanceConfig(
    floor_textures=TRAINING.floor_textures + BROAD.floor_textures,
    sky_textures=TRAINING.sky_textures + BROAD.sky_textures,
    floor_probability=0.9,
    colour_schemes=("soot", "rust", "grey", "navy"),
    light_elevation_deg=(6.0, 14.0),
    light_intensity=(1.1, 1.4),
    ambient=(0.0, 0.04),
)

# The looks by name (``record-sim --appearance``, the ``sim_camera`` node's parameter).
PRESETS = {"training": TRAINING, "heldout": HELDOUT}
# The training looks by name (``generate --randomise --look``).
TRAINING_LOOKS = {"training": TRAINING, "broad": BROAD, "dim": DIM}


def preset(name: str) -> AppearanceConfig | None:
    """The ranges named ``name`` (a key of :data:`PRESETS`), or None for ``"none"``."""
    if name == "none":
        return None
    if name not in PRESETS:
        raise ValueError(f"unknown appearance {name!r}; choose none or one of {sorted(PRESETS)}")
    return PRESETS[name]


@dataclass(frozen=True)
class Surface:
    """A textured surface: its kind, two colours (RGB in [0, 1]) and a seed for patterns."""

    kind: str
    colours: tuple[tuple[float, float, float], tuple[float, float, float]]
    seed: int


@dataclass(frozen=True)
class Look:
    """One episode's sampled appearance (every field inside its config's range)."""

    floor: Surface | None
    sky: Surface
    tile_size: float
    scheme: str
    light_elevation_deg: float
    light_azimuth_deg: float
    light_intensity: float
    ambient: float
    shadows: bool
    fovy_deg: float
    elevation_deg: float
    azimuth_deg: float
    roam_scale: float
    distractors: int
    noise_std: float
    blur_sigma: float
    jpeg_quality: int


def look_rng(seed: int) -> np.random.Generator:
    """The generator of an episode's look: its own stream, apart from the physics'."""
    return np.random.default_rng([int(seed), 16])


def _colour_pair(rng: np.random.Generator) -> tuple:
    """Two contrasting, moderately saturated colours of a surface."""
    hue = rng.uniform()
    a = colorsys.hsv_to_rgb(hue, rng.uniform(0.0, 0.6), rng.uniform(0.15, 0.5))
    b = colorsys.hsv_to_rgb((hue + rng.uniform(-0.15, 0.15)) % 1.0, rng.uniform(0.0, 0.6), 1.0)
    b = tuple(c * rng.uniform(0.55, 0.95) for c in b)
    return (tuple(float(c) for c in a), tuple(float(c) for c in b))


def _surface(kinds: tuple[str, ...], rng: np.random.Generator) -> Surface:
    kind = str(kinds[rng.integers(len(kinds))])
    return Surface(kind, _colour_pair(rng), int(rng.integers(2**31)))


def _uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(rng.uniform(*bounds))


def sample(config: AppearanceConfig, rng: np.random.Generator) -> Look:
    """Draws one episode's look from ``config``'s ranges (deterministic given ``rng``)."""
    has_floor = rng.uniform() < config.floor_probability
    floor = _surface(config.floor_textures, rng)
    return Look(
        floor=floor if has_floor else None,
        sky=_surface(config.sky_textures, rng),
        tile_size=_uniform(rng, config.tile_size),
        scheme=str(config.colour_schemes[rng.integers(len(config.colour_schemes))]),
        light_elevation_deg=_uniform(rng, config.light_elevation_deg),
        light_azimuth_deg=float(rng.uniform(0.0, 360.0)),
        light_intensity=_uniform(rng, config.light_intensity),
        ambient=_uniform(rng, config.ambient),
        shadows=bool(rng.uniform() < config.shadow_probability),
        fovy_deg=_uniform(rng, config.fovy_deg),
        elevation_deg=_uniform(rng, config.elevation_deg),
        azimuth_deg=_uniform(rng, config.azimuth_deg) * float(rng.choice([-1.0, 1.0])),
        roam_scale=_uniform(rng, config.roam_scale),
        distractors=int(rng.integers(config.distractors[0], config.distractors[1] + 1)),
        noise_std=_uniform(rng, config.noise_std),
        blur_sigma=_uniform(rng, config.blur_sigma),
        jpeg_quality=round(_uniform(rng, config.jpeg_quality)),
    )


# --- Object colours ---------------------------------------------------------------------


def scheme_colours(scheme: str, count: int, rng: np.random.Generator) -> np.ndarray | None:
    """RGBA colours ``(count, 4)`` of an object's geoms in ``scheme`` (None: "bright").

    One base colour per object, every geom a little lighter or darker, as one material
    painted on parts that face the light differently.
    """
    if scheme == "bright":
        return None
    (h0, h1), (s0, s1), (v0, v1), _, _ = _SCHEME_HSV[scheme]
    hue, sat, val = rng.uniform(h0, h1), rng.uniform(s0, s1), rng.uniform(v0, v1)
    values = np.clip(val + rng.uniform(-0.08, 0.08, size=count), 0.0, 1.0)
    rgb = np.array([colorsys.hsv_to_rgb(hue, sat, v) for v in values]).reshape(count, 3)
    return np.concatenate([rgb, np.ones((count, 1))], axis=1)


def scheme_shine(scheme: str) -> tuple[float, float] | None:
    """``(specular, shininess)`` of a scheme's material (None: the family's own)."""
    return None if scheme == "bright" else _SCHEME_HSV[scheme][3:]


# --- Textures ---------------------------------------------------------------------------


def texture(surface: Surface, size: int) -> np.ndarray:
    """A tileable ``(size, size, 3)`` uint8 texture of ``surface``.

    Checker: two-colour squares, sometimes with edge lines. Gradient: a vertical blend.
    Noise: smooth blobs (a sum of random tileable waves). Flat: one colour with random
    specks. Grid: thin lines on a plain colour. Stripes: bands at a random angle.
    Bricks: offset rows of bricks with mortar. Marble: wavy veins. Dots: discs on a
    square lattice. Waves: bands bent by a smooth field. Cells: the borders of random
    cells (cracked paving). Camo: a smooth field cut into three levels. Rings: concentric
    bands about a random centre. Scribble: random thin strokes.
    """
    rng = np.random.default_rng(surface.seed)
    a, b = (np.asarray(c, np.float64) for c in surface.colours)
    y, x = np.mgrid[0:size, 0:size] / size  # (size, size) in [0, 1)
    kind = surface.kind
    if kind == "checker":
        cells = int(rng.choice([2, 4]))
        mix = ((np.floor(x * cells) + np.floor(y * cells)) % 2).astype(np.float64)
        if rng.uniform() < 0.5:
            edge = (np.minimum(x * cells % 1, y * cells % 1) < 1.5 * cells / size).astype(float)
            mix = np.maximum(mix, edge)
    elif kind == "gradient":
        mix = y
    elif kind == "noise":
        mix = _waves(x, y, rng, max_freq=4, count=6)
    elif kind == "flat":
        mix = (rng.uniform(size=(size, size)) < rng.uniform(0.01, 0.08)).astype(np.float64)
    elif kind == "grid":
        cells = int(rng.choice([2, 4, 8]))
        width = rng.uniform(1.0, 2.5) * cells / size
        mix = (np.minimum(x * cells % 1, y * cells % 1) < width).astype(np.float64)
    elif kind == "stripes":
        fx, fy = rng.integers(1, 5), rng.integers(0, 5)
        mix = (np.sin(2 * np.pi * (fx * x + fy * y)) > rng.uniform(-0.5, 0.5)).astype(float)
    elif kind == "bricks":
        rows = int(rng.choice([4, 8]))
        row = np.floor(y * rows)
        shifted = (x + 0.5 * (row % 2) / 2) * rows / 2 % 1
        mortar = 1.5 / size * rows
        mix = ((y * rows % 1 < mortar) | (shifted < mortar / 2)).astype(np.float64)
    elif kind == "marble":
        turbulence = _waves(x, y, rng, max_freq=3, count=5)
        mix = 0.5 + 0.5 * np.sin(2 * np.pi * (int(rng.integers(1, 4)) * x + 2.5 * turbulence))
    elif kind == "dots":
        cells = int(rng.choice([2, 4, 8]))
        radius = rng.uniform(0.2, 0.4)
        mix = (np.hypot(x * cells % 1 - 0.5, y * cells % 1 - 0.5) < radius).astype(np.float64)
    elif kind == "waves":
        bend = _waves(x, y, rng, max_freq=2, count=3)
        mix = 0.5 + 0.5 * np.sin(2 * np.pi * (int(rng.integers(2, 6)) * y + 1.5 * bend))
    elif kind == "cells":
        gap = _periodic_distances(x, y, rng.uniform(size=(int(rng.integers(4, 13)), 2)))
        gap.sort(axis=0)
        mix = (gap[1] - gap[0] < rng.uniform(0.01, 0.03)).astype(np.float64)
    elif kind == "camo":
        mix = np.digitize(_waves(x, y, rng, max_freq=5, count=8), np.sort(rng.uniform(0.3, 0.7, 2)))
        mix = mix / 2.0
    elif kind == "rings":
        radius = _periodic_distances(x, y, rng.uniform(size=(1, 2)))[0]
        mix = (np.sin(2 * np.pi * int(rng.integers(3, 9)) * radius) > 0).astype(np.float64)
    elif kind == "scribble":
        canvas = np.zeros((3 * size, 3 * size), np.uint8)  # drawn 3x3 times: tileable
        for _ in range(int(rng.integers(8, 20))):
            p, q = rng.integers(0, size, size=(2, 2)) + size
            for dy in (-size, 0, size):
                for dx in (-size, 0, size):
                    shift = np.array([dx, dy])
                    cv2.line(canvas, tuple(map(int, p + shift)), tuple(map(int, q + shift)), 1)
        mix = canvas[size : 2 * size, size : 2 * size].astype(np.float64)
    else:
        raise ValueError(f"unknown texture kind {kind!r}; choose from {TEXTURES}")
    rgb = (1.0 - mix[..., None]) * a + mix[..., None] * b  # (size, size, 3)
    return np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _waves(x, y, rng: np.random.Generator, max_freq: int, count: int) -> np.ndarray:
    """A smooth tileable field in [0, 1]: a sum of waves with integer frequencies."""
    field = np.zeros_like(x)
    for _ in range(count):
        fx, fy = rng.integers(-max_freq, max_freq + 1, size=2)
        field += np.sin(2 * np.pi * (fx * x + fy * y + rng.uniform()))
    return (field - field.min()) / max(float(np.ptp(field)), 1e-9)


def _periodic_distances(x, y, centres: np.ndarray) -> np.ndarray:
    """Distances ``(N, size, size)`` from every texel to ``N`` centres on the torus."""
    dx = np.abs(x[None] - centres[:, 0, None, None])
    dy = np.abs(y[None] - centres[:, 1, None, None])
    return np.hypot(np.minimum(dx, 1.0 - dx), np.minimum(dy, 1.0 - dy))


# --- Sensor effects ---------------------------------------------------------------------


class Sensor:
    """The camera's imperfections of an episode: blur, Gaussian noise and JPEG artefacts.

    Drawing fresh Gaussian noise costs more than rendering a 64x64 frame, so the noise of
    each frame is a random window of a bank drawn once per episode (four frames' worth):
    independent-looking noise in every frame at a fraction of the cost.
    """

    def __init__(self, look: Look, size: tuple[int, int], rng: np.random.Generator):
        """Draws the episode's noise bank.

        Args:
            look: The episode's look (noise, blur and JPEG settings).
            size: Image ``(height, width)``.
            rng: The look's generator (the bank and each frame's window).
        """
        self.look = look
        self._rng = rng
        height, width = size
        self._bank = None
        if look.noise_std > 0:
            bank = rng.standard_normal((2 * height, 2 * width, 3), dtype=np.float32)
            self._bank = bank * np.float32(look.noise_std) + np.float32(0.5)  # 0.5: rounding

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """The degraded copy of a ``(H, W, 3)`` uint8 RGB frame."""
        look, out = self.look, frame
        if look.blur_sigma >= 0.3:
            out = cv2.GaussianBlur(out, (0, 0), look.blur_sigma)
        if self._bank is not None:
            height, width = out.shape[:2]
            y, x = self._rng.integers(0, height), self._rng.integers(0, width)
            noisy = self._bank[y : y + height, x : x + width] + out
            out = np.clip(noisy, 0, 255, out=noisy).astype(np.uint8)
        if look.jpeg_quality < 100:
            bgr = np.ascontiguousarray(out[..., ::-1])
            ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, look.jpeg_quality])
            if not ok:
                raise RuntimeError("Sensor: JPEG encoding failed")
            out = cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1].copy()
        return out
