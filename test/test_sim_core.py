"""Storage, determinism, resume, corruption, pairs and the live camera (real renders)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from skeleton_perception.training.sim import families
from skeleton_perception.training.sim.datasets import DATASETS, episode_seed, get_dataset
from skeleton_perception.training.sim.episode import EpisodeConfig
from skeleton_perception.training.sim.generate import GenerateConfig, generate
from skeleton_perception.training.sim.live import SimulatedCamera
from skeleton_perception.training.sim.pairs import PairDataset
from skeleton_perception.training.sim.storage import EpisodeStore

SMALL = EpisodeConfig(num_frames=12, action_every=5, size=(64, 64))


def _generate(out: Path, dataset: str = "cartpoles", workers: int = 1) -> int:
    config = GenerateConfig(
        dataset=dataset,
        out=out,
        counts={"train": 3, "val": 1, "test": 2},
        episode=SMALL,
        shard_size=2,
        workers=workers,
    )
    return generate(config, progress=False)


def _shard_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.glob("*/shard-*.npz"))}


@pytest.fixture(scope="module")
def cartpoles(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("data") / "cartpoles"
    assert _generate(out) == 4  # train: 2 shards, val: 1, test: 1
    return out


def test_registry():
    assert set(DATASETS) == {"spiders", "cartpoles", "swimmers", "mwhc", "spiders0shot"}
    eps = {k: v.epsilon for k, v in DATASETS.items()}
    assert eps == {
        "spiders": 0.20,
        "cartpoles": 0.15,
        "swimmers": 0.20,
        "mwhc": 0.30,
        "spiders0shot": 0.20,
    }
    assert get_dataset("cartpoles").max_joints == 6
    assert get_dataset("spiders").max_joints == 25
    zero = get_dataset("spiders0shot")
    assert set(zero.variants("train")) == {f"spider-{k}legs" for k in (3, 6, 7, 8)}
    assert set(zero.variants("val")) == set(zero.variants("train"))
    assert set(zero.variants("test")) == {"spider-4legs", "spider-5legs"}
    assert episode_seed("a", "train", 1) != episode_seed("a", "train", 2)
    assert episode_seed("a", "train", 1) != episode_seed("a", "test", 1)
    with pytest.raises(ValueError, match="unknown dataset"):
        get_dataset("nope")


def test_families_register_themselves():
    table = families.registry()
    assert {m.__name__.rsplit(".", 1)[1] for m in table.values()} == {
        "cartpoles", "swimmers", "spiders", "mwhc"
    }  # fmt: skip
    assert table["cartpole-3"].__name__.endswith("cartpoles") and "base" not in str(table)
    for spec in DATASETS.values():  # every dataset draws registered variants only
        assert set(spec.train) | set(spec.test) <= set(table)
    assert get_dataset("cartpoles").variants("test") == tuple(f"cartpole-{n}" for n in range(1, 6))
    with pytest.raises(ValueError, match="unknown object variant 'cartpole-9'"):
        families.build("cartpole-9", np.random.default_rng(0))


def test_store_reads_what_was_generated(cartpoles):
    store = EpisodeStore(cartpoles, "train")
    assert len(store) == 3
    episodes = list(store)
    assert [ep.index for ep in episodes] == [0, 1, 2]
    for ep in episodes:
        t, j = ep.joints.shape[:2]
        assert ep.frames.shape == (12, 64, 64, 3) and ep.frames.dtype == np.uint8
        assert ep.joints.dtype == np.float32 and ep.visible.shape == (t, j)
        assert ep.adjacency.shape == (j, j) and ep.family.startswith("cartpole-")
        assert ep.frames.std() > 5  # not a blank image
    assert len(EpisodeStore(cartpoles, "test")) == 2
    info = json.loads((cartpoles / "dataset.json").read_text())
    assert info["counts"] == {"train": 3, "val": 1, "test": 2}


def test_same_seed_same_bytes(cartpoles, tmp_path):
    _generate(tmp_path / "again")
    assert _shard_bytes(tmp_path / "again") == _shard_bytes(cartpoles)


def test_two_workers_write_the_same_bytes(cartpoles, tmp_path):
    assert _generate(tmp_path / "workers", workers=2) == 4
    assert _shard_bytes(tmp_path / "workers") == _shard_bytes(cartpoles)


def test_interrupted_generation_resumes(cartpoles, tmp_path):
    out = tmp_path / "resume"
    _generate(out)
    # Simulate a crash: one shard renamed into place but not yet in the manifest, one
    # half-written temporary file, one truncated shard.
    manifest_path = out / "train" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    del manifest["shards"]["shard-00001.npz"]
    manifest_path.write_text(json.dumps(manifest))
    (out / "train" / ".shard-00002.npz.abc.tmp").write_bytes(b"partial")
    test_shard = out / "test" / "shard-00000.npz"
    test_shard.write_bytes(test_shard.read_bytes()[:1000])
    assert _generate(out) == 2  # only the two damaged shards are rendered again
    assert _shard_bytes(out) == _shard_bytes(cartpoles)
    assert not list(out.glob("*/*.tmp"))
    assert _generate(out) == 0  # finished: nothing to do


def test_corrupt_shard_is_reported_and_skipped(cartpoles, tmp_path):
    out = tmp_path / "corrupt"
    _generate(out)
    shard = out / "train" / "shard-00000.npz"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match=str(shard)):
        store = EpisodeStore(out, "train")
    assert [ep.index for ep in store] == [2]  # the shard with episodes 0 and 1 is skipped
    (out / "test" / "shard-00000.npz").write_bytes(b"")
    with pytest.warns(UserWarning, match="truncated"):
        assert len(EpisodeStore(out, "test")) == 0


def test_pairs_are_different_frames_of_one_episode(cartpoles):
    pairs = PairDataset(cartpoles, "train", min_gap=3, seed=0, pairs_per_episode=4, max_joints=6)
    assert len(pairs) == 12
    store = EpisodeStore(cartpoles, "train")
    for k in (0, 5, 11):
        item = pairs[k]
        assert item["episode"] == k // 4
        s, t = item["source_index"], item["target_index"]
        assert abs(s - t) >= 3
        assert item["source"].shape == (3, 64, 64) and item["source"].dtype == torch.float32
        assert float(item["source"].min()) >= 0.0 and float(item["source"].max()) <= 1.0
        frames = store[item["episode"]].frames
        np.testing.assert_array_equal(
            (item["target"] * 255).round().byte().numpy(), frames[t].transpose(2, 0, 1)
        )
        n = int(item["joint_mask"].sum())
        np.testing.assert_allclose(item["source_joints"][:n], store[k // 4].joints[s])
    assert pairs[3]["source_index"] == pairs[3]["source_index"]  # seeded: repeatable
    loader = torch.utils.data.DataLoader(
        PairDataset(cartpoles, "train"), batch_size=8, shuffle=True, num_workers=2
    )
    batch = next(iter(loader))
    assert batch["source"].shape == (8, 3, 64, 64)
    assert bool((batch["source_index"] != batch["target_index"]).all())


def test_live_camera_plays_new_episodes():
    with SimulatedCamera("cartpoles", seed=3, size=(48, 64), num_frames=6) as cam:
        fx, fy, cx, cy = cam.intrinsics
        assert (cx, cy) == (31.5, 23.5) and fx == fy > 0
        frames = [cam.step() for _ in range(13)]
    for f in frames:
        assert f.image.shape == (48, 64, 3) and f.image.dtype == np.uint8
        assert f.joints.shape == (len(f.visible), 2) and f.visible.all()
        assert f.adjacency.shape == (len(f.visible),) * 2
    assert not np.array_equal(frames[0].image, frames[5].image)


def test_generate_command_line(tmp_path):
    from skeleton_perception.cli import main

    out = tmp_path / "cli"
    argv = ["generate", "--dataset", "cartpoles", "--out", str(out), "--episodes", "1"]
    argv += ["--val-episodes", "0", "--test-episodes", "1", "--frames", "6", "--quiet"]
    assert main(argv) == 0
    assert len(EpisodeStore(out, "test")) == 1
    png = tmp_path / "p.png"
    assert main(["preview", "--data", str(out), "--out", str(png), "--frames", "3"]) == 0
    assert png.stat().st_size > 1000
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(EpisodeStore(out, "train")) == 1
