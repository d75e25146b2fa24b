"""Domain randomisation and the held-out appearance split, on real MuJoCo renders (64x64)."""

from __future__ import annotations

import colorsys
import dataclasses
import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
from skeleton_perception.training.sim.appearance import (
    _SCHEME_HSV,
    BROAD,
    DIM,
    HELDOUT,
    SCHEMES,
    TEXTURES,
    TRAINING,
    VALIDATION,
    Look,
    Sensor,
    Surface,
    look_rng,
    sample,
    scheme_colours,
    texture,
)
from skeleton_perception.training.sim.datasets import DATASETS, episode_seed, get_dataset
from skeleton_perception.training.sim.episode import EpisodeConfig
from skeleton_perception.training.sim.storage import EpisodeStore

FLAT = EpisodeConfig(num_frames=3)
RANDOMISED = EpisodeConfig(num_frames=3, appearance=TRAINING)


def _sha256(arrays) -> str:
    h = hashlib.sha256()
    for array in arrays:
        h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()


def _digest(ep) -> str:
    return _sha256((ep.frames, ep.joints, ep.visible, ep.adjacency))


# sha256 of frames, joints, visible and adjacency of test episode 3 (6 frames, 64x64, seed 0)
# as rendered by main at eee23a6, before randomisation existed (Mesa llvmpipe over EGL).
BEFORE = {
    "cartpoles": "1dd28234e5236b07bc740153ccb588d919bbf722d428c8315ec654b64c1e868d",
    "mwhc": "b3f4cde0aaf8dabeacd71744d8d8b42b9bf8158af71e588b10b9f020023fb983",
}


@pytest.mark.parametrize("name", sorted(BEFORE))
def test_default_output_is_byte_identical_to_before(name):
    ep = get_dataset(name).episode("test", 3, EpisodeConfig(num_frames=6), 0)
    assert _digest(ep) == BEFORE[name]


def _live(name: str, count: int, **kwargs) -> list:
    from skeleton_perception.training.sim.live import SimulatedCamera

    with SimulatedCamera(name, seed=3, size=(48, 64), num_frames=2, **kwargs) as cam:
        return [cam.step() for _ in range(count)]


def _live_digest(frames: list) -> str:
    return _sha256(
        a for f in frames for a in (f.image, f.joints, f.visible, f.adjacency, f.joints_3d)
    )


LIVE_PLAIN = Path(__file__).parent / "fixtures" / "live_plain.npz"


@pytest.mark.parametrize("name", ["cartpoles", "mwhc"])
@pytest.mark.parametrize("appearance", [None, "none"])
def test_plain_live_camera_matches_its_reference(name, appearance):
    """The plain camera renders what it rendered before looks existed (fixtures/make_live_plain.py).

    Exact bytes differ between CPUs (the rasteriser's and the physics' last float bits), so
    images must agree but for rasteriser noise and joints to a hundredth of a pixel.
    """
    from fixtures.make_live_plain import FIELDS, frames
    from skeleton_perception.training.sim.live import SimulatedCamera

    with SimulatedCamera(name, 3, (48, 64), num_frames=4, appearance=appearance) as cam:
        fx = 24 / math.tan(math.radians(45 / 2))  # the families' 45 degree camera
        assert cam.intrinsics == pytest.approx((fx, fx, 31.5, 23.5))
    now, reference = frames(name, appearance=appearance), np.load(LIVE_PLAIN)
    for key, value in now.items():
        expected = reference[f"{name}/{key}"]
        field = key.split("/")[1]
        if field == "image":
            off = np.abs(value.astype(int) - expected.astype(int)).max(-1) > 8  # (H, W)
            assert off.mean() < 0.01, f"{name} {key}: {off.mean():.1%} of the pixels changed"
        elif field in ("joints", "joints_3d"):  # pixels, metres
            tolerance = 1e-2 if field == "joints" else 1e-4
            np.testing.assert_allclose(value, expected, atol=tolerance, err_msg=f"{name} {key}")
        else:
            np.testing.assert_array_equal(value, expected, err_msg=f"{name} {key}")
    assert set(k.split("/")[1] for k in now) == set(FIELDS)


def test_live_camera_in_the_heldout_look():
    """Each episode draws a held-out look; camera intrinsics follow its field of view."""
    shifted, plain = _live("cartpoles", 6, appearance="heldout"), _live("cartpoles", 6)
    # The same objects as the plain camera (the look has its own generator) ...
    assert [f.family for f in shifted] == [f.family for f in plain]
    images = np.stack([f.image for f in shifted]).astype(int)
    assert np.abs(images - np.stack([f.image for f in plain])).mean() > 10
    # ... seen through each episode's own camera, which the intrinsics describe.
    fx = [f.intrinsics[0] for f in shifted]
    assert fx[0] == fx[1] and fx[2] == fx[3] and len({fx[0], fx[2], fx[4]}) == 3
    for f in shifted:
        fovy = math.degrees(2 * math.atan(24 / f.intrinsics[1]))
        assert HELDOUT.fovy_deg[0] <= fovy <= HELDOUT.fovy_deg[1]
        (fx_, fy_, cx, cy), p = f.intrinsics, f.joints_3d
        projected = np.stack([fx_ * p[:, 0] / p[:, 2] + cx, fy_ * p[:, 1] / p[:, 2] + cy], 1)
        np.testing.assert_allclose(projected, f.joints, atol=1e-3)
    assert _live_digest(shifted) == _live_digest(_live("cartpoles", 6, appearance="heldout"))
    from skeleton_perception.training.sim.live import SimulatedCamera

    other = SimulatedCamera("cartpoles", seed=4, size=(48, 64), appearance="heldout")
    with other:
        assert not np.array_equal(other.step().image, shifted[0].image)
    with pytest.raises(ValueError, match="no depth images"):
        SimulatedCamera("cartpoles", appearance="training", depth=True)
    with pytest.raises(ValueError, match="unknown appearance 'photo'"):
        SimulatedCamera("cartpoles", appearance="photo")


def test_same_seed_same_frames_other_seed_other_look():
    spec = get_dataset("cartpoles")
    a = spec.episode("train", 0, RANDOMISED, base_seed=0)
    b = spec.episode("train", 0, RANDOMISED, base_seed=0)
    assert _digest(a) == _digest(b)
    c = spec.episode("train", 0, RANDOMISED, base_seed=1)
    assert not np.array_equal(a.frames, c.frames)
    looks = [sample(TRAINING, look_rng(episode_seed("cartpoles", "train", 0, s))) for s in (0, 1)]
    assert looks[0] != looks[1]
    assert looks[0] == sample(TRAINING, look_rng(episode_seed("cartpoles", "train", 0, 0)))
    textures = [texture(look.sky, 32) for look in looks]
    assert not np.array_equal(*textures)


@pytest.mark.parametrize("name", ["swimmers", "spiders"])
def test_randomised_render_differs_from_flat_and_keeps_truth_in_view(name):
    spec = get_dataset(name)
    flat = spec.episode("train", 1, FLAT)
    rand = spec.episode("train", 1, RANDOMISED)
    assert flat.family == rand.family
    assert rand.frames.shape == flat.frames.shape == (3, 64, 64, 3)
    assert rand.frames.dtype == np.uint8
    assert np.abs(rand.frames.astype(int) - flat.frames.astype(int)).mean() > 10
    # Every ground-truth joint still lies inside the image (the camera plan's margin).
    assert rand.visible.all()
    assert np.all((rand.joints >= 1.0) & (rand.joints <= 62.0))


def test_sensor_effects_and_colour_schemes():
    image = texture(Surface("checker", ((0.1, 0.2, 0.3), (0.9, 0.8, 0.7)), 1), 64)
    clean = dataclasses.replace(
        sample(TRAINING, np.random.default_rng(0)), noise_std=0.0, blur_sigma=0.0, jpeg_quality=100
    )
    assert np.array_equal(Sensor(clean, (64, 64), np.random.default_rng(0))(image), image)
    for change in ({"noise_std": 5.0}, {"blur_sigma": 0.8}, {"jpeg_quality": 40}):
        look = dataclasses.replace(clean, **change)
        sensor = Sensor(look, (64, 64), np.random.default_rng(0))
        out, second = sensor(image), sensor(image)
        assert out.shape == image.shape and out.dtype == np.uint8
        assert np.abs(out.astype(int) - image).mean() > 0.5, change
        assert np.array_equal(out, Sensor(look, (64, 64), np.random.default_rng(0))(image))
        if "noise_std" in change:  # fresh noise in every frame
            assert not np.array_equal(out, second)
            assert abs(float(np.std(out.astype(float) - image)) - 5.0) < 0.5
    assert scheme_colours("bright", 4, np.random.default_rng(0)) is None
    beige = scheme_colours("beige", 4, np.random.default_rng(0))
    hsv = np.array([colorsys.rgb_to_hsv(*c[:3]) for c in beige])
    assert np.all((hsv[:, 0] >= 0.07) & (hsv[:, 0] <= 0.13) & (hsv[:, 1] <= 0.35))
    assert np.ptp(hsv[:, 0]) < 1e-6 and beige.shape == (4, 4)  # one hue, parts vary in value


def test_texture_kinds_are_patterns_of_two_colours():
    colours = ((0.1, 0.2, 0.3), (0.9, 0.8, 0.7))
    seen = set()
    for kind in TEXTURES:
        tex = texture(Surface(kind, colours, seed=3), 32)
        assert tex.shape == (32, 32, 3) and tex.dtype == np.uint8
        assert tex.std() > 3.0, kind  # not a plain colour
        assert tex.min() >= 25 and tex.max() <= 230, kind  # between the two colours
        seen.add(tex.tobytes())
    assert len(seen) == len(TEXTURES)
    with pytest.raises(ValueError, match="unknown texture"):
        texture(Surface("photo", colours, 0), 8)


def _outside(value: float, bounds) -> bool:
    return value < bounds[0] or value > bounds[1]


def test_appearance_split_never_uses_training_ranges():
    """Every sampled held-out look (the seeds generate uses) is outside the training ranges."""
    assert not set(HELDOUT.floor_textures) & set(TRAINING.floor_textures)
    assert not set(HELDOUT.sky_textures) & (
        set(TRAINING.sky_textures) | set(TRAINING.floor_textures)
    )
    assert not set(HELDOUT.colour_schemes) & set(TRAINING.colour_schemes)
    trained = (TRAINING, BROAD, DIM)
    schemes = [set(look.colour_schemes) for look in (HELDOUT, VALIDATION)]
    schemes.append({s for look in trained for s in look.colour_schemes})
    assert sorted(k for used in schemes for k in used) == sorted(SCHEMES)  # unseen: one look
    kinds = [set(look.floor_textures) | set(look.sky_textures) for look in (HELDOUT, VALIDATION)]
    kinds.append({k for look in trained for k in look.floor_textures + look.sky_textures})
    assert sorted(k for used in kinds for k in used) == sorted(TEXTURES)  # unseen: one look
    ranged = [f.name for f in dataclasses.fields(Look) if f.name in TRAINING.__dict__]
    for name in DATASETS:
        for i in range(50):
            look = sample(HELDOUT, look_rng(episode_seed(name, "appearance", i)))
            assert look.floor is not None and look.floor.kind in HELDOUT.floor_textures
            assert look.floor.kind not in TRAINING.floor_textures
            assert look.sky.kind not in TRAINING.sky_textures
            assert look.scheme not in TRAINING.colour_schemes
            for field in ranged:
                value = getattr(look, field)
                if field == "azimuth_deg":
                    value = abs(value)
                assert _outside(value, getattr(TRAINING, field)), (name, i, field, value)
                lo, hi = getattr(HELDOUT, field)
                assert lo <= value <= hi or math.isclose(value, hi), (field, value)


def test_validation_look_is_neither_the_training_nor_the_heldout_one():
    """Every sampled look of appearance-val is outside both other looks' ranges."""
    others = (TRAINING, HELDOUT)
    for kinds in ("floor_textures", "sky_textures"):
        used = {k for c in others for k in c.floor_textures + getattr(c, kinds)}
        assert not set(getattr(VALIDATION, kinds)) & used
    assert not set(VALIDATION.colour_schemes) & {s for c in others for s in c.colour_schemes}
    ranged = [f.name for f in dataclasses.fields(Look) if f.name in TRAINING.__dict__]
    ranged.remove("distractors")  # 2-3 objects: between the other looks' counts, overlapping
    spec = get_dataset("spiders")
    assert spec.variants("appearance-val") == spec.variants("val")
    for name in DATASETS:
        for i in range(30):
            look = sample(VALIDATION, look_rng(episode_seed(name, "appearance-val", i)))
            assert look.sky.kind in VALIDATION.sky_textures
            assert look.scheme in VALIDATION.colour_schemes
            for field in ranged:
                value = getattr(look, field)
                value = abs(value) if field == "azimuth_deg" else value
                for other in others:
                    lo, hi = getattr(other, field)
                    assert value <= lo or value >= hi, (name, i, field, value)


def test_generate_writes_the_appearance_split(tmp_path):
    from skeleton_perception.cli import main

    out = tmp_path / "cartpoles"
    args = ["generate", "--dataset", "cartpoles", "--out", str(out), "--episodes", "1"]
    args += ["--val-episodes", "0", "--test-episodes", "1", "--appearance-episodes", "2"]
    assert main([*args, "--frames", "3", "--quiet"]) == 0
    info = json.loads((out / "dataset.json").read_text())
    assert info["counts"] == {"train": 1, "val": 0, "test": 1, "appearance": 2}
    assert "appearance" not in info["identity"]  # train/val/test are not randomised
    test, heldout = EpisodeStore(out, "test"), EpisodeStore(out, "appearance")
    assert len(heldout) == 2
    ep = heldout[1]
    assert ep.frames.shape == (3, 64, 64, 3) and ep.joints.shape[1:] == (ep.joints.shape[1], 2)
    assert ep.family in get_dataset("cartpoles").test
    assert ep.adjacency.shape == (ep.joints.shape[1],) * 2 and ep.visible.all()
    # The same object and seed rule as any split; the look is the held-out one.
    again = get_dataset("cartpoles").episode("appearance", 1, EpisodeConfig(num_frames=3))
    assert np.array_equal(again.frames, ep.frames)
    assert not np.array_equal(test[0].frames, heldout[0].frames)
    # Randomised train/val/test change the identity, so they never mix with plain shards.
    with pytest.raises(SystemExit, match="other settings"):
        main([*args, "--frames", "3", "--quiet", "--randomise"])


def test_distractors_stay_behind_the_object_in_every_frame():
    from skeleton_perception.training.sim import families
    from skeleton_perception.training.sim.episode import plan
    from skeleton_perception.training.sim.scene import build_scene

    rng = np.random.default_rng(5)
    obj = families.build("spider-6legs", rng)
    look = dataclasses.replace(sample(HELDOUT, np.random.default_rng(5)), distractors=5)
    planned = plan(obj, rng, EpisodeConfig(num_frames=20), look)
    scene = build_scene(planned, look, np.random.default_rng(0))
    z = planned.camera.rotation[:, 2]  # the camera looks along -z
    cams = planned.camera.positions  # (T, 3)
    depth = -np.einsum("tjc,c->tj", planned.rollout.keypoints - cams[:, None], z)  # (T, J)
    names = [scene.geom(g).name for g in range(scene.ngeom)]
    found = 0
    for g, name in enumerate(names):
        if not name.startswith("distractor_"):
            continue
        found += 1
        centre = -np.einsum("tc,c->t", scene.geom_pos[g] - cams, z)  # (T,) depth of its centre
        assert np.all(centre - scene.geom_rbound[g] > depth.max(axis=1)), name
    assert found == 5 and "floor" in names


def test_preview_shows_randomised_and_heldout_episodes(tmp_path):
    import cv2

    from skeleton_perception.cli import main

    images = []
    for extra in (["--randomise"], ["--split", "appearance"], []):  # [0], [2]: one episode
        png = tmp_path / f"p{len(images)}.png"
        args = ["preview", "--dataset", "swimmers", "--episodes", "1", "--frames", "2"]
        assert main([*args, "--out", str(png), *extra]) == 0
        images.append(cv2.imread(str(png))[:, 150:])  # the frames, not the label column
    assert images[0].shape == images[1].shape == images[2].shape
    plain = images[2].astype(int)
    assert np.abs(images[0] - plain).mean() > 10 and np.abs(images[1] - plain).mean() > 10


@pytest.mark.parametrize("trained", [BROAD, DIM], ids=["broad", "dim"])
def test_other_training_looks_stay_off_the_heldout_and_validation_ranges(trained):
    """Every sampled look of the other training looks is outside both unseen looks' ranges."""
    ranged = [f.name for f in dataclasses.fields(Look) if f.name in TRAINING.__dict__]
    for name in DATASETS:
        for i in range(30):
            look = sample(trained, look_rng(episode_seed(name, "train", i, 1)))
            assert look.sky.kind in trained.sky_textures
            assert look.scheme in trained.colour_schemes
            for field in ranged:
                value = getattr(look, field)
                value = abs(value) if field == "azimuth_deg" else value
                for other in (HELDOUT, VALIDATION):
                    bounds = getattr(other, field)
                    if trained is BROAD:
                        assert _outside(value, bounds), (name, i, field, value)
                    elif (other, field) != (VALIDATION, "distractors"):
                        # DIM keeps TRAINING's distractors (0-2, which VALIDATION's 2-3
                        # overlaps, as tested above) and sensor (a shared end: JPEG 75)
                        assert value <= bounds[0] or value >= bounds[1], (name, i, field, value)


def test_broad_and_dim_colour_schemes_are_apart_from_the_unseen_ones():
    """No colour a BROAD or DIM scheme can draw is one an unseen look's scheme can draw.

    (TRAINING's beige and HELDOUT's pastel share a corner: light, pale orange.)
    """
    for trained in BROAD.colour_schemes + DIM.colour_schemes:
        if trained in TRAINING.colour_schemes:
            continue
        for other in HELDOUT.colour_schemes + VALIDATION.colour_schemes:
            boxes = zip(_SCHEME_HSV[trained][:3], _SCHEME_HSV[other][:3], strict=True)
            assert any(a[1] < b[0] or b[1] < a[0] for a, b in boxes), (trained, other)
