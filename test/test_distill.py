"""Plain-look twins of randomised episodes and ``distill`` on them (real MuJoCo renders)."""

from __future__ import annotations

import csv
import json
import shutil
from dataclasses import replace

import numpy as np
import pytest
import torch
from skeleton_perception.training.distill import (
    TwinFrames,
    _episode_of,
    distillation_loss,
    get_frames,
)
from skeleton_perception.training.sim.appearance import BROAD, HELDOUT, TRAINING
from skeleton_perception.training.sim.datasets import episode_seed, get_dataset
from skeleton_perception.training.sim.episode import EpisodeConfig, open_episode
from skeleton_perception.training.sim.families import build

from skeleton_perception.checkpoint import build_model_from_checkpoint, load_checkpoint
from skeleton_perception.cli import main
from skeleton_perception.detector import DEFAULT_WEIGHTS
from skeleton_perception.preprocess import Letterbox

RANDOMISED = EpisodeConfig(num_frames=4, appearance=TRAINING)


def _generate(out, *extra) -> None:
    args = ["generate", "--dataset", "cartpoles", "--out", str(out), "--episodes", "2"]
    args += ["--val-episodes", "0", "--test-episodes", "0", "--frames", "6", "--quiet"]
    assert main([*args, *extra]) == 0


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """A tiny randomised Cartpoles dataset and its plain twin."""
    root = tmp_path_factory.mktemp("twins")
    _generate(root / "look", "--randomise")
    _generate(root / "twin", "--randomise", "--plain-twin")
    return root / "look", root / "twin"


def test_twin_has_the_randomised_truth_in_the_plain_look():
    spec = get_dataset("cartpoles")
    plain = spec.episode("train", 1, EpisodeConfig(num_frames=4))  # plain look and camera
    for split in ("train", "appearance"):  # appearance: always the held-out look
        look = spec.episode(split, 1, RANDOMISED)
        twin = spec.episode(split, 1, replace(RANDOMISED, plain_twin=True))
        assert np.array_equal(twin.joints, look.joints) and twin.family == look.family
        assert not np.array_equal(twin.joints, plain.joints)  # the look's camera
        assert np.abs(twin.frames.astype(int) - look.frames).mean() > 10  # another look
        # the plain look: the family's background colour in the top corners, as in plain frames
        assert np.abs(twin.frames[:, :2, :2].astype(int) - plain.frames[:, :2, :2]).max() < 40


def test_twin_is_drawn_through_the_looks_camera():
    """The twin's bodies cover the joints' pixels: rendered with the look's field of view."""
    rng = np.random.default_rng(episode_seed("cartpoles", "appearance", 2))
    config = replace(RANDOMISED, appearance=HELDOUT, plain_twin=True)
    obj = build("cartpole-1", rng)
    planned, renderer, sensor = open_episode(obj, rng, config, seed=7, fine=True)
    assert sensor is None and 60 <= planned.camera.fovy <= 72
    try:
        hits = []
        for t in range(config.num_frames):
            _, depth = renderer.frame_with_depth(t)
            x, y = np.round(planned.joints[t][planned.visible[t]]).astype(int).T
            hits += list(np.isfinite(depth[y, x]))
    finally:
        renderer.close()
    assert np.mean(hits) >= 0.8, np.mean(hits)


def test_generate_plain_twin_needs_randomise(tmp_path, capsys):
    with pytest.raises(ValueError, match="plain_twin needs appearance"):
        EpisodeConfig(plain_twin=True)
    args = ["generate", "--dataset", "cartpoles", "--out", str(tmp_path / "t"), "--plain-twin"]
    assert main([*args, "--episodes", "1", "--frames", "3", "--quiet"]) == 2
    assert "--plain-twin needs --randomise" in capsys.readouterr().err
    args = ["generate", "--dataset", "cartpoles", "--out", str(tmp_path / "t"), "--look", "broad"]
    assert main([*args, "--episodes", "1", "--frames", "3", "--quiet"]) == 2
    assert "--look needs --randomise" in capsys.readouterr().err


def test_broad_look_is_recorded_and_its_twin_pairs_only_with_it(pair, tmp_path):
    look, _ = pair
    _generate(tmp_path / "broad", "--randomise", "--look", "broad")
    _generate(tmp_path / "broad-twin", "--randomise", "--look", "broad", "--plain-twin")
    identity = json.loads((tmp_path / "broad" / "dataset.json").read_text())["identity"]
    assert identity["appearance"]["colour_schemes"] == list(BROAD.colour_schemes)
    assert len(TwinFrames(tmp_path / "broad", tmp_path / "broad-twin")) == 2 * 6
    with pytest.raises(ValueError, match=r"not the same appearance\)"):
        TwinFrames(look, tmp_path / "broad-twin")


def test_twin_frames_pair_up_and_refuse_strangers(pair, tmp_path):
    look, twin = pair
    assert json.loads((twin / "dataset.json").read_text())["identity"]["plain_twin"] is True
    frames = TwinFrames(look, twin)
    assert len(frames) == 2 * 6
    item = frames[7]  # episode 1, frame 1
    assert item["look"].shape == item["plain"].shape == (3, 64, 64)
    expected = torch.from_numpy(frames.twin.frames(1, (1,))[0]).permute(2, 0, 1).float()
    assert torch.equal(item["plain"] * 255, expected)
    with pytest.raises(ValueError, match="not the plain twin"):
        TwinFrames(look, look)
    _generate(tmp_path / "other", "--randomise", "--plain-twin", "--seed", "3")
    with pytest.raises(ValueError, match=r"not the same seed\)"):
        TwinFrames(look, tmp_path / "other")
    with pytest.raises(ValueError, match=r"dataset\.json: no such file"):
        TwinFrames(look, tmp_path / "missing")


def test_distillation_loss_pulls_the_student_to_the_teachers_mode():
    torch.manual_seed(0)
    teacher = torch.randn(2, 3, 8, 8) * 3
    assert float(distillation_loss(teacher, teacher)) == pytest.approx(0.0, abs=1e-6)
    student = torch.randn(2, 3, 8, 8, requires_grad=True)
    first = float(distillation_loss(student.detach(), teacher))
    opt = torch.optim.SGD([student], lr=5.0)
    for _ in range(200):
        opt.zero_grad()
        distillation_loss(student, teacher).backward()
        opt.step()
    assert float(distillation_loss(student.detach(), teacher)) < 0.1 * first
    modes = student.detach().flatten(2).argmax(-1)
    assert torch.equal(modes, teacher.flatten(2).argmax(-1))


def test_episode_frames_draw_whole_episodes_and_share_the_matching(pair, tmp_path, capsys):
    from torch.utils.data import ConcatDataset

    look, twin = pair
    frames = TwinFrames(look, twin)  # 2 episodes of 6 frames
    both = ConcatDataset([frames, frames])
    assert [_episode_of(both, k) for k in (0, 5, 6, 11, 12, 23)] == [
        (0, 6), (0, 6), (6, 6), (6, 6), (12, 6), (18, 6)
    ]  # fmt: skip
    images, _, _, episode = get_frames(both, 8, seed=0, step=3, per_episode=4)
    assert episode.tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    firsts = {tuple(_episode_of(both, k)) for k in range(len(both))}
    for group in (images[:4], images[4:]):  # each group's frames belong to one episode
        owners = [
            {s for s, n in firsts if any(torch.equal(img, both[s + t]["look"]) for t in range(n))}
            for img in group
        ]
        assert set.intersection(*owners)
    run = tmp_path / "episodes"
    args = ["distill", "--data", str(look), "--twin", str(twin), "--out", str(run), "--no-progress",
            "--match", "--episode-frames", "4", "--steps", "4", "--set", "threads=1", "log_every=2",
            "ckpt_every=2"]  # fmt: skip
    assert main(args) == 0
    assert load_checkpoint(run / "checkpoint.pt")["metadata"]["distill"]["episode_frames"] == 4
    args[args.index("--episode-frames") + 1] = "3"  # does not divide the batch of 8
    assert main(args) == 2
    assert "--episode-frames 3" in capsys.readouterr().err


def test_colour_chains_train_and_need_episodes(pair, tmp_path, capsys):
    look, twin = pair
    run = tmp_path / "chains"
    args = ["distill", "--data", str(look), "--twin", str(twin), "--out", str(run), "--no-progress",
            "--match", "--colour-chains", "--steps", "2", "--set", "threads=1",
            "log_every=1"]  # fmt: skip
    assert main([*args, "--episode-frames", "4"]) == 0
    assert load_checkpoint(run / "checkpoint.pt")["metadata"]["distill"]["colour_chains"]
    assert main(args) == 2  # one frame per episode: nothing to chain
    assert "--colour-chains needs --match and --episode-frames" in capsys.readouterr().err


def _rows(run):
    with open(run / "log.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_distill_trains_pi_only_and_resumes(pair, tmp_path, capsys):
    look, twin = pair
    run = tmp_path / "run"
    args = ["distill", "--data", str(look), "--twin", str(twin), "--out", str(run), "--no-progress"]
    settings = ["--set", "threads=1", "log_every=5", "ckpt_every=5", "lr=1e-3"]
    assert main([*args, "--steps", "30", *settings]) == 0
    rows = _rows(run)
    assert [int(r["step"]) for r in rows] == list(range(5, 31, 5))
    assert float(rows[-1]["look"]) < float(rows[0]["look"])  # it learns the twin's maps
    ckpt = load_checkpoint(run / "checkpoint.pt")
    assert ckpt["step"] == 30 and ckpt["metadata"]["distill"]["teacher"] == "default"
    teacher = load_checkpoint(DEFAULT_WEIGHTS)
    student = build_model_from_checkpoint(ckpt)  # a whole model that evaluate and export take
    assert student.cfg == build_model_from_checkpoint(teacher).cfg  # joints, structure, sizes
    for name, value in ckpt["model"].items():
        same = torch.equal(value.float(), teacher["model"][name].float())
        if name.startswith(("psi.", "background.")) or "running_" in name or "num_batches" in name:
            assert same, name  # frozen, BatchNorm statistics included
    assert not all(
        torch.equal(v.float(), teacher["model"][k].float())
        for k, v in ckpt["model"].items()
        if k.startswith("pi.")
    )
    # a killed run continues from its checkpoint and keeps its log
    assert main([*args, "--steps", "35", "--resume", *settings]) == 0
    assert "resumed from" in capsys.readouterr().out
    assert [int(r["step"]) for r in _rows(run)] == list(range(5, 36, 5))
    assert load_checkpoint(run / "checkpoint.pt")["step"] == 35
    # ... and one resumed at another learning rate trains on at that rate
    assert main([*args, "--steps", "40", "--resume", *settings[:-1], "lr=1e-4"]) == 0
    assert load_checkpoint(run / "checkpoint.pt")["optimizer"]["param_groups"][0]["lr"] == 1e-4


def test_a_run_from_an_exported_model_counts_only_its_own_steps(pair, tmp_path):
    """A run started from a shipped model goes on counting from its step; export adds only
    the run's own steps to the shipped model's record."""
    from skeleton_perception.checkpoint import save_checkpoint

    look, twin = pair
    run, shipped = tmp_path / "run", load_checkpoint(DEFAULT_WEIGHTS)
    start = shipped["step"]
    model = build_model_from_checkpoint(shipped).float()
    save_checkpoint(run / "checkpoint.pt", model.state_dict(), shipped["config"], start)
    args = ["distill", "--data", str(look), "--twin", str(twin), "--out", str(run),
            "--no-progress", "--resume", "--set", "threads=1", "log_every=3",
            "ckpt_every=3"]  # fmt: skip
    for steps in (6, 9):  # the second call resumes the run's own checkpoint
        assert main([*args, "--steps", str(start + steps)]) == 0
        ckpt = load_checkpoint(run / "checkpoint.pt")
        assert (ckpt["step"], ckpt["metadata"]["first_step"]) == (start + steps, start)
    out = tmp_path / "model.pt"
    assert main(["export", str(run), "--after-model", str(DEFAULT_WEIGHTS), "--out", str(out)]) == 0
    meta = load_checkpoint(out)["metadata"]
    assert meta["total_steps"] == shipped["metadata"]["total_steps"] + 9
    assert "first_step" not in meta
    # a run branched from another run's checkpoint (Adam's state and all) counts from there
    branch = tmp_path / "branch"
    branch.mkdir()
    shutil.copy(run / "checkpoint.pt", branch / "checkpoint.pt")
    args[args.index("--out") + 1] = str(branch)
    assert main([*args, "--steps", str(start + 12)]) == 0
    assert load_checkpoint(branch / "checkpoint.pt")["metadata"]["first_step"] == start + 9
    assert main(["export", str(branch), "--after-model", str(out), "--out", str(out)]) == 0
    assert load_checkpoint(out)["metadata"]["total_steps"] == meta["total_steps"] + 3


def test_distill_a_wider_student_on_matched_sets(pair, tmp_path):
    """A fresh π of another width, batch statistics, the matched loss: a model that loads."""
    from skeleton_perception import SkeletonDetector

    look, twin = pair
    run = tmp_path / "wide"
    args = ["distill", "--data", str(look), "--twin", str(twin), "--out", str(run), "--no-progress",
            "--student-width", "24", "--batchnorm", "train", "--match", "--steps", "12",
            "--set", "threads=1", "log_every=4", "ckpt_every=4", "lr=1e-3"]  # fmt: skip
    assert main(args) == 0
    ckpt = load_checkpoint(run / "checkpoint.pt")
    assert ckpt["config"]["model"]["unet_width"] == 24
    distilled = ckpt["metadata"]["distill"]
    assert distilled["match"] and distilled["student_width"] == 24
    assert ckpt["model"]["pi.inc.0.weight"].shape[0] == 24
    teacher = load_checkpoint(DEFAULT_WEIGHTS)
    for name, value in ckpt["model"].items():
        if name.startswith(("psi.", "background.")):
            assert torch.equal(value.float(), teacher["model"][name].float()), name
    rows = _rows(run)
    assert float(rows[-1]["look"]) < float(rows[0]["look"])
    detector = SkeletonDetector.from_checkpoint(run / "checkpoint.pt", device="cpu")
    skeleton = detector(np.zeros((48, 64, 3), np.uint8))
    assert len(skeleton.joints) == len(teacher["config"]["model"]["joint_ids"])


def test_distill_names_a_bad_teacher(pair, tmp_path, capsys):
    look, twin = pair
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    args = ["distill", "--data", str(look), "--twin", str(twin), "--out", str(tmp_path / "r")]
    assert main([*args, "--teacher", str(bad), "--steps", "1"]) == 2
    assert f"checkpoint {bad}" in capsys.readouterr().err
    assert main([*args[:4], str(twin), str(twin), *args[5:], "--steps", "1"]) == 2
    assert "one --twin root per --data root" in capsys.readouterr().err


def test_twin_frames_of_a_camera_aspect_are_letterboxed_as_the_detector_does(tmp_path):
    _generate(tmp_path / "look", "--randomise", "--size", "48x64")
    _generate(tmp_path / "twin", "--randomise", "--size", "48x64", "--plain-twin")
    frames = TwinFrames(tmp_path / "look", tmp_path / "twin")
    item = frames[3]
    assert item["look"].shape == item["plain"].shape == (3, 64, 64)
    raw = frames.look.frames(0, (3,))[0]  # (48, 64, 3)
    expected = Letterbox.fit(64, 48, 64).apply(raw)  # 8 replicated rows above and below
    assert torch.equal(item["look"] * 255, torch.from_numpy(expected).permute(2, 0, 1).float())
    assert torch.equal(item["look"][:, 0], item["look"][:, 8])
