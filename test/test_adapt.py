"""``adapt``: the background a moving camera explains, and π kept off it (real rosbag2 files)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from skeleton_perception.training.bags.motion import (
    MotionConfig,
    MotionFrames,
    _Held,
    explained_background,
    letterboxed_mask,
    partner,
)
from skeleton_perception.training.distill import masked_target

from skeleton_perception.checkpoint import load_checkpoint
from skeleton_perception.cli import main
from skeleton_perception.detector import DEFAULT_WEIGHTS


def _scene(shift: tuple[int, int], box: tuple[int, int]) -> np.ndarray:
    """A 240x320 textured backdrop moved by ``shift`` with a striped square object at ``box``."""
    rng = np.random.default_rng(0)
    noise = cv2.GaussianBlur(rng.normal(0.0, 1.0, (300, 400, 3)), (0, 0), 3)
    big = np.clip(128 + 400 * noise, 0, 255).astype(np.uint8)  # smooth blobs, like a texture
    dy, dx = shift
    frame = np.ascontiguousarray(big[20 + dy : 260 + dy, 20 + dx : 340 + dx])
    y, x = box
    rows = np.arange(40)[:, None, None] % 6 < 3  # the object's own stripes move with it
    frame[y : y + 40, x : x + 40] = np.where(rows, (250, 30, 30), (40, 40, 200))
    return frame


def test_a_panning_camera_explains_the_backdrop_not_the_moving_object():
    source = _scene((0, 0), (100, 100))
    target = _scene((3, 7), (110, 130))  # the camera moved; the object moved otherwise
    mask = explained_background(source, target, MotionConfig(margin_px=4))
    assert mask.mean() > 0.7  # most of the frame moved with the camera
    assert not mask[108:152, 128:172].any()  # the object and its margin are not background
    # a still camera: identity explains everything but the object's old and new places
    still = explained_background(_scene((0, 0), (100, 100)), _scene((0, 0), (100, 140)))
    assert still[:, :90].all() and not still[110:140, 145:175].any()


def test_frames_of_different_sizes_are_refused():
    with pytest.raises(ValueError, match="different sizes"):
        explained_background(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 6, 3), np.uint8))


def test_letterbox_padding_is_background_and_the_image_keeps_its_mask():
    mask = np.zeros((240, 320), bool)
    mask[:, :160] = True  # the left half is background
    small = letterboxed_mask(mask, 64)  # 320x240 -> 64x48 inside rows 8..55
    assert small[:8].all() and small[56:].all()
    assert small[8:56, :30].all() and not small[8:56, 34:].any()


def test_masked_target_moves_the_teachers_mass_off_the_mask():
    logits = torch.randn(2, 3, 8, 8)
    mask = torch.zeros(2, 8, 8, dtype=torch.bool)
    mask[:, :4] = True
    p = masked_target(logits, mask).flatten(2).softmax(-1).view(2, 3, 8, 8)
    assert p[:, :, :4].sum() < 1e-6
    expected = logits[:, :, 4:].flatten(2).softmax(-1)  # the rest, renormalised
    assert torch.allclose(p[:, :, 4:].flatten(2), expected, atol=1e-6)
    assert torch.equal(masked_target(logits, torch.zeros_like(mask)), logits)
    whole = mask.clone()
    whole[1] = True  # nowhere left in frame 1: its maps stay the teacher's
    assert torch.equal(masked_target(logits, whole)[1], logits[1])


def test_partner_is_a_gap_earlier_in_the_same_segment_else_later():
    cfg = MotionConfig(gap_s=0.3)
    stamps = [(0.0, 1), (0.1, 1), (0.3, 1), (0.45, 1), (0.5, 2)]  # (seconds, segment)
    rgb = np.zeros((2, 2, 3), np.uint8)
    held = [_Held(i, int(t * 1e9), seg, rgb) for i, (t, seg) in enumerate(stamps)]
    assert partner(held[3], held, cfg).index == 1  # 0.35 s earlier beats 0.45 s earlier
    assert partner(held[0], held, cfg).index == 2  # a segment's first frame looks ahead
    assert partner(held[4], held, cfg) is None  # alone in its segment


@pytest.fixture(scope="module")
def bag(tmp_path_factory):
    """A recorded held-out-look Cartpoles bag: 48 frames at 30 Hz, 4:3."""
    out = tmp_path_factory.mktemp("adapt") / "heldout.mcap"
    args = ["record-sim", "--family", "cartpoles", "--frames", "48", "--out", str(out),
            "--width", "160", "--height", "120", "--appearance", "heldout"]  # fmt: skip
    assert main(args) == 0
    return out


def test_motion_frames_pair_each_frame_with_one_a_gap_away(bag):
    frames = MotionFrames(bag, cfg=MotionConfig(gap_s=0.2))
    assert len(frames) == 48
    item = frames[0]
    assert item["look"].shape == (3, 64, 64) and item["look"] is item["plain"]
    assert item["mask"].dtype == torch.bool and item["mask"].shape == (64, 64)
    masks = frames.masks
    assert masks[:, :8].all() and masks[:, 56:].all()  # 4:3 padding rows
    assert masks[:, 8:56].mean() > 0.05  # some of the scene is explained by the camera
    assert not masks[:, 8:56].all(axis=(1, 2)).any()  # never the whole image


def test_adapt_trains_pi_only_and_loads(bag, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["adapt", "--bag", str(bag), "--out", str(run), "--no-progress", "--steps", "6",
            "--gap", "0.2", "--set", "threads=1", "log_every=3", "ckpt_every=3",
            "lr=1e-3"]  # fmt: skip
    assert main(args) == 0
    assert "of the input is background" in capsys.readouterr().out
    ckpt = torch.load(run / "checkpoint.pt", weights_only=True)
    assert ckpt["step"] == 6 and ckpt["metadata"]["distill"]["plain_weight"] == 0.0
    teacher = load_checkpoint(DEFAULT_WEIGHTS)
    changed = [
        k
        for k, v in ckpt["model"].items()
        if not torch.equal(v.float(), teacher["model"][k].float())
    ]
    assert changed and all(k.startswith("pi.") and "running_" not in k for k in changed)


def test_adapt_names_a_missing_bag(tmp_path, capsys):
    missing = tmp_path / "nope.mcap"
    assert main(["adapt", "--bag", str(missing), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("adapt:") and "nope.mcap" in err
