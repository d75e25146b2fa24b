"""`skeleton-perception train` from the command line: mixtures, --init, input errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from skeleton_perception.checkpoint import load_checkpoint
from skeleton_perception.cli import main

CONFIGS = Path(__file__).resolve().parents[1] / "training" / "configs"
TINY = [
    "model.num_points=8", "model.unet_width=4", "model.psi_width=4", "model.bg_width=4",
    "model.bg_latent=4", "batch_size=2", "threads=1", "plot_every=1000", "ckpt_every=2",
    "num_samples=2",
]  # fmt: skip


@pytest.fixture(scope="module")
def two_datasets(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    for name in ("cartpoles", "swimmers"):
        argv = ["generate", "--dataset", name, "--out", str(root / name), "--episodes", "2"]
        assert main([*argv, "--val-episodes", "1", "--test-episodes", "1", "--quiet"]) == 0
    return root / "cartpoles", root / "swimmers"


def test_mixture_then_fine_tune_from_its_checkpoint(two_datasets, tmp_path, capsys):
    a, b = two_datasets
    first = tmp_path / "mix"
    argv = ["train", "--data", str(a), str(b), "--out", str(first), "--steps", "2"]
    assert main([*argv, "--no-progress", "--set", *TINY]) == 0
    ckpt = load_checkpoint(first / "checkpoint.pt")
    assert ckpt["step"] == 2 and ckpt["config"]["model"]["num_points"] == 8

    # --init takes the architecture from the checkpoint, whatever the config file says.
    tuned = tmp_path / "tuned"
    argv = ["train", "--config", str(CONFIGS / "cartpoles.yaml"), "--data", str(b)]
    argv += ["--out", str(tuned), "--steps", "1", "--init", str(first / "checkpoint.pt")]
    assert main([*argv, "--no-progress", "--set", "threads=1", "plot_every=1000"]) == 0
    tuned_ckpt = load_checkpoint(tuned / "checkpoint.pt")
    assert tuned_ckpt["config"]["model"] == ckpt["config"]["model"]
    assert "done: step 1" in capsys.readouterr().out

    # the ψ-only stage; a model key given with --set survives --init
    psi = tmp_path / "psi"
    argv = ["train", "--config", str(CONFIGS / "cartpoles-psi.yaml"), "--data", str(b)]
    argv += ["--out", str(psi), "--steps", "1", "--init", str(first / "checkpoint.pt")]
    sets = ["threads=1", "plot_every=1000", "model.link_logit_clip=3.0"]
    assert main([*argv, "--no-progress", "--set", *sets]) == 0
    psi_ckpt = load_checkpoint(psi / "checkpoint.pt")
    assert psi_ckpt["config"]["model"]["link_logit_clip"] == 3.0
    assert psi_ckpt["config"]["model"]["num_points"] == 8
    same = [k for k in ckpt["model"] if not k.startswith("psi.")]
    assert all(psi_ckpt["model"][k].equal(ckpt["model"][k]) for k in same)


def test_input_errors_are_one_line(tmp_path, capsys):
    assert main(["train", "--out", str(tmp_path / "x")]) == 2
    assert "exactly one of --data" in capsys.readouterr().err
    missing = tmp_path / "missing.pt"
    argv = ["train", "--data", str(tmp_path), "--out", str(tmp_path / "x")]
    assert main([*argv, "--init", str(missing)]) == 2
    assert f"checkpoint {missing}" in capsys.readouterr().err
    assert main(["train", "--bag", str(tmp_path / "none.mcap"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("train: bag") and "does not exist" in err and len(err.splitlines()) == 1
