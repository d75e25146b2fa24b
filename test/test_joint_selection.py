"""select-joints: episode skeletons, joint frequency, the chosen set, the written model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skeleton_perception.training import joint_selection
from skeleton_perception.training.config import TrainConfig
from skeleton_perception.training.sim.storage import EpisodeStore

from skeleton_perception import SkeletonDetector
from skeleton_perception.checkpoint import load_checkpoint, save_checkpoint
from skeleton_perception.nn.model import SkeletonModel
from skeleton_perception.nn.structure_search import SearchConfig

P = 8


@pytest.fixture(scope="module")
def data(tiny_cartpoles):
    return tiny_cartpoles


@pytest.fixture(scope="module")
def init(tmp_path_factory):
    cfg = TrainConfig()
    cfg.model.num_points = P
    cfg.model.unet_width = 4
    cfg.model.psi_width = 4
    cfg.model.bg_width = 4
    cfg.model.bg_latent = 4
    cfg.model.structure = "search"
    cfg.model.search = SearchConfig(sparse_joints=2.0, uniform=0.0)  # links for an untrained π
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("init") / "init.pt"
    save_checkpoint(path, SkeletonModel(cfg.model).state_dict(), cfg.to_dict(), 7, None, {})
    return path


def test_joint_frequency_and_top_ids():
    sk = np.zeros((4, 5, 5), bool)
    for e in range(4):
        sk[e, 0, 3] = sk[e, 3, 0] = True  # ids 0 and 3 in every episode
    sk[0, 1, 2] = sk[0, 2, 1] = True  # ids 1 and 2 in one
    freq = joint_selection.joint_frequency(sk)
    np.testing.assert_allclose(freq, [1.0, 0.25, 0.25, 1.0, 0.0])
    assert joint_selection.top_ids(freq, 2) == [0, 3]
    assert joint_selection.top_ids(freq, 3) == [0, 1, 3]  # ties: the lower id


def test_episode_skeletons_are_the_clip_search_of_each_episode(data, init):
    det = SkeletonDetector.from_checkpoint(init, device="cpu", optimize=False)
    store = EpisodeStore(data, "train")
    sk = joint_selection.episode_skeletons(det, store, every=4)
    assert sk.shape == (3, P, P) and sk.any()
    want = det.predict_video(list(store[1].frames), every=4)[0].connectivity > 0.5
    np.testing.assert_array_equal(sk[1], want)


def test_select_writes_the_chosen_joint_set(data, init, tmp_path):
    out = tmp_path / "fixed.pt"
    record = joint_selection.select(init, [data], out, ks=(2, 3), every=4, val_episodes=2)
    ckpt = load_checkpoint(out)
    model = ckpt["config"]["model"]
    assert model["structure"] == "fixed" and len(model["joint_ids"]) == record["chosen_k"]
    best = max(record["table"], key=lambda r: (r["val_f1"], -r["k"]))
    assert model["joint_ids"] == best["joint_ids"]
    freq = np.array(record["frequency"])
    assert model["joint_ids"] == joint_selection.top_ids(freq, record["chosen_k"])
    assert ckpt["metadata"]["joint_selection"]["chosen_k"] == record["chosen_k"]
    for name, value in load_checkpoint(init)["model"].items():
        assert torch.equal(ckpt["model"][name], value)  # weights unchanged
    det = SkeletonDetector.from_checkpoint(out, device="cpu")
    for sk in det.predict_batch(list(EpisodeStore(data, "test")[0].frames[:3])):
        assert sk.joint_ids.tolist() == model["joint_ids"]


def test_psi_ids_are_the_ids_psi_links_in_half_the_frames(data, init):
    det = SkeletonDetector.from_checkpoint(init, device="cpu", optimize=False)
    store = EpisodeStore(data, "train")
    got = joint_selection.psi_ids(det, [store], every=3)
    assert det.model.cfg.structure == "search"  # restored
    psi = SkeletonDetector.from_checkpoint(init, device="cpu", structure="psi")
    counts, n = np.zeros(P), 0
    for ep in store:
        for sk in psi.predict_batch(list(ep.frames[::3])):
            counts[sk.joint_ids] += 1
            n += 1
    assert got == [int(i) for i in np.flatnonzero(counts >= n / 2)]
