"""``skeleton-perception export``: fp16 weights, provenance over runs, inference-only changes."""

from __future__ import annotations

import argparse

import pytest
import torch
from skeleton_perception.training import export

from skeleton_perception.checkpoint import load_checkpoint, save_checkpoint
from skeleton_perception.nn import ModelConfig, SkeletonModel

CFG = ModelConfig(num_points=4, unet_width=4, psi_width=4, bg_width=4)


def fake_run(path, steps: int, seconds: float):
    """A run directory as `train` leaves it: checkpoint.pt and log.csv."""
    model = SkeletonModel(CFG)
    config = {"model": CFG.to_dict(), "loss": {"near": 10.0, "rigid": 0.0}}  # old keys too
    save_checkpoint(path / "checkpoint.pt", model.state_dict(), config, steps, {"x": 1}, {})
    (path / "log.csv").write_text(f"step,time_s\n1,1.0\n{steps},{seconds}\n")
    return path


def run(*argv) -> int:
    parser = argparse.ArgumentParser()
    export.add_arguments(parser)
    return export.run(parser.parse_args([str(a) for a in argv]))


def test_export_records_the_runs_and_the_parent_model(tmp_path):
    first = fake_run(tmp_path / "first", 100, 60.0)
    second = fake_run(tmp_path / "second", 50, 30.0)
    parent = tmp_path / "parent.pt"
    joints = {"chosen_k": 3}
    save_checkpoint(parent, {}, {"model": {}}, 7, None, dict(
        train_seconds=1000.0, total_steps=700, training_runs=["old"], joint_selection=joints
    ))  # fmt: skip
    out = tmp_path / "model.pt"
    assert run(second, "--after", first, "--after-model", parent, "--out", out) == 0
    ckpt = load_checkpoint(out)
    meta = ckpt["metadata"]
    assert ckpt["optimizer"] is None and ckpt["step"] == 50
    assert all(v.dtype == torch.float16 for v in ckpt["model"].values() if v.is_floating_point())
    assert meta["train_seconds"] == 1000.0 + 60.0 + 30.0
    assert meta["total_steps"] == 700 + 100 + 50
    assert meta["training_runs"] == ["old", str(first), str(second)]
    assert meta["started_from"] == str(parent) and meta["joint_selection"] == joints
    assert "config_changes" not in meta


def test_export_changes_inference_settings_of_a_shipped_model(tmp_path):
    shipped = tmp_path / "shipped.pt"
    assert run(fake_run(tmp_path, 10, 5.0), "--out", shipped) == 0
    out = tmp_path / "search.pt"
    assert run(shipped, "--out", out, "--set", "model.structure=search",
               "model.search.sparse_joints=3") == 0  # fmt: skip
    ckpt = load_checkpoint(out)
    assert ckpt["config"]["model"]["structure"] == "search"
    assert ckpt["config"]["model"]["search"]["sparse_joints"] == 3.0
    assert "near" not in ckpt["config"]["loss"]  # written without the removed keys
    assert ckpt["metadata"]["config_changes"] == {
        "model.structure": "search", "model.search.sparse_joints": 3
    }  # fmt: skip
    assert ckpt["metadata"]["train_seconds"] == 5.0  # the shipped model's record is kept


@pytest.mark.parametrize("setting", ["lr=0.1", "model.psi_head=conv", "model.nope=1"])
def test_export_refuses_other_changes_before_writing(tmp_path, setting, capsys):
    out = tmp_path / "out.pt"
    assert run(fake_run(tmp_path, 10, 5.0), "--out", out, "--set", setting) == 2
    assert not out.exists()
    assert setting.split("=")[0] in capsys.readouterr().err
