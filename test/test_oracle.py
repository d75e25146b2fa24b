"""The oracle (supervised ceiling): its targets, that it learns, resumes and loads as ours."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import torch
from skeleton_perception.training import oracle
from skeleton_perception.training.config import TrainConfig
from skeleton_perception.training.sim.pairs import PairDataset
from skeleton_perception.training.sim.storage import EpisodeStore

from skeleton_perception import SkeletonDetector
from skeleton_perception.checkpoint import load_checkpoint
from skeleton_perception.cli import main

P = 8  # Cartpoles have at most 6 joints: channels 6 and 7 are never joints
TINY = [
    f"model.num_points={P}", "model.unet_width=4", "model.psi_width=4", "model.bg_width=4",
    "model.bg_latent=4", "batch_size=4", "threads=1", "lr=0.003",
]  # fmt: skip


@pytest.fixture(scope="module")
def cartpoles(tiny_cartpoles):
    return tiny_cartpoles


def read_log(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_point_targets_on_known_joints():
    joints = torch.tensor([[[3.2, 5.7], [10.4, 0.4], [-0.3, 63.4]]])  # (1, 3, 2) xy
    valid = torch.tensor([[True, True, False]])
    nearest = [6 * 16 + 3, 0 * 16 + 10]  # row-major pixel indices
    one_hot = oracle.point_targets(joints, valid, 16, 16, sigma=0.0)  # (1, 3, 256)
    assert one_hot.shape == (1, 3, 256)
    assert one_hot[0, :2].argmax(-1).tolist() == nearest
    assert one_hot[0, :2].sum(-1).tolist() == [1.0, 1.0] and one_hot[0, :2].max() == 1.0
    assert not one_hot[0, 2].any()  # an invisible joint: no target
    gauss = oracle.point_targets(joints, valid, 16, 16, sigma=1.0)
    assert gauss[0, 0].argmax() == nearest[0]
    assert torch.allclose(gauss[0, :2].sum(-1), torch.ones(2))
    assert 0.1 < gauss[0, 0].max() < 0.5  # spread over the neighbours
    assert not gauss[0, 2].any()


def test_targets_of_real_episodes_are_their_ground_truth(cartpoles):
    pairs = PairDataset(cartpoles, "train", seed=0, pairs_per_episode=2, max_joints=P)
    store = EpisodeStore(cartpoles, "train")
    batch = oracle.get_batch(pairs, 4, seed=0, step=0)
    assert batch["images"].shape == (8, 3, 64, 64) and batch["joints"].shape == (8, P, 2)
    index = torch.randint(len(pairs), (4,), generator=torch.Generator().manual_seed(0))
    for k in (0, 5):  # the source of pair 0, the target of pair 1
        item = pairs[int(index[k % 4])]
        frame = item["source_index"] if k < 4 else item["target_index"]
        ep = store[item["episode"]]
        J = ep.joints.shape[1]
        np.testing.assert_array_equal(
            (batch["images"][k] * 255).round().byte().permute(1, 2, 0).numpy(), ep.frames[frame]
        )
        target = oracle.point_targets(batch["joints"], batch["valid"], 64, 64, sigma=1.0)[k]
        for j in range(J):
            if ep.visible[frame, j]:
                x, y = np.clip(np.round(ep.joints[frame, j]), 0, 63).astype(int)
                assert target[j].argmax() == y * 64 + x, (k, j)
        assert not target[J:].any()  # absent channels: no point target

        links = oracle.link_targets(batch["adjacency"][k : k + 1])[0]  # (P(P-1)/2,)
        i, j = torch.triu_indices(P, P, offset=1)
        expected = np.zeros((P, P), bool)
        expected[:J, :J] = ep.adjacency
        assert links.tolist() == expected[i, j].astype(float).tolist()
        assert links.sum() == ep.adjacency.sum() / 2 > 0
        assert not links[(i >= J) | (j >= J)].any()  # pairs with an absent channel: S target 0


def test_oracle_learns_and_is_an_ordinary_checkpoint(cartpoles, tmp_path):
    run = tmp_path / "run"
    argv = ["oracle", "--data", str(cartpoles), "--out", str(run), "--steps", "40"]
    assert main([*argv, "--set", *TINY, "log_every=5", "ckpt_every=20", "point_sigma=0.7"]) == 0
    rows = read_log(run / "log.csv")
    assert [int(r["step"]) for r in rows] == list(range(5, 45, 5))
    first, last = rows[0], rows[-1]
    assert float(last["points"]) < float(first["points"]) - 1.0, (first, last)
    assert float(last["links"]) < 0.5 * float(first["links"]), (first, last)

    ckpt = load_checkpoint(run / "checkpoint.pt")
    assert ckpt["step"] == 40 and ckpt["metadata"]["supervised"] is True
    assert ckpt["metadata"]["method"] == oracle.METHOD
    assert ckpt["metadata"]["oracle"]["point_sigma"] == 0.7
    cfg = TrainConfig.from_dict(ckpt["config"])  # an ordinary training config
    assert cfg.model.num_points == P and cfg.lr == 0.003 and cfg.dataset == "cartpoles"

    det = SkeletonDetector.from_checkpoint(run / "checkpoint.pt", device="cpu")
    frames = EpisodeStore(cartpoles, "test")[0].frames
    sk = det(frames[0])
    assert sk.points.shape == (P, 2) and sk.connectivity.shape == (P, P)
    assert np.isfinite(sk.points).all() and ((sk.points >= 0) & (sk.points <= 63)).all()
    assert (sk.connectivity[6:] < 0.5).all()  # never-joint channels are not linked

    out = tmp_path / "scores.json"
    argv = ["evaluate", "--model", "ours", "--checkpoint", str(run / "checkpoint.pt")]
    assert main([*argv, "--data", str(cartpoles), "--split", "test", "--out", str(out)]) == 0
    summary = json.loads(out.read_text())["summary"]
    assert all(math.isfinite(summary["joints"][k]) for k in ("f1", "prec", "rec"))
    assert summary["structure"] is not None and summary["joints"]["prec"] > 0


def test_resume_continues_exactly(cartpoles, tmp_path):
    cfg = oracle.load_oracle_config(None, [*TINY, "log_every=1", "ckpt_every=3", "steps=6"])
    data = PairDataset(cartpoles, "train", seed=0, max_joints=P)
    whole = oracle.train_oracle(cfg, data, tmp_path / "whole")
    cfg.steps = 3
    oracle.train_oracle(cfg, data, tmp_path / "parts")
    cfg.steps = 6
    resumed = oracle.train_oracle(cfg, data, tmp_path / "parts", resume=True)
    assert resumed["step"] == whole["step"] == 6
    a = load_checkpoint(tmp_path / "whole" / "checkpoint.pt")["model"]
    b = load_checkpoint(tmp_path / "parts" / "checkpoint.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [r["step"] for r in read_log(tmp_path / "parts" / "log.csv")] == list("123456")


def test_config_keys():
    cfg = oracle.load_oracle_config(None, ["point_sigma=0", "link_pos_weight=5", "lr=0.002"])
    assert (cfg.point_sigma, cfg.link_pos_weight, cfg.lr) == (0.0, 5.0, 0.002)
    assert "point_sigma" not in cfg.train_config().to_dict()
    with pytest.raises(ValueError, match="nope"):
        oracle.load_oracle_config(None, ["nope=1"])
    with pytest.raises(ValueError, match="point_sigma"):
        oracle.load_oracle_config(None, ["point_sigma=-1"])
