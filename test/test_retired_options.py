"""Removed options: old checkpoints still load where the option did nothing, and only there.

The committed models were trained before the pairwise ψ head, ℓ_rigid, ψ trained on
searched graphs and the second ℓ_near weight (``loss.near``) were removed; their configs
still carry those keys at the inert values (docs/model.md, "Removed options").
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from skeleton_perception.training.config import TrainConfig, flatten, load_config

from skeleton_perception.checkpoint import CheckpointError, build_model_from_checkpoint
from skeleton_perception.nn import ModelConfig, SkeletonModel

ROOT = Path(__file__).resolve().parents[1]
OURS = [
    p
    for p in [
        *sorted((ROOT / "models").glob("*.pt")),
        ROOT / "skeleton_perception/weights/default.pt",
    ]
    if not p.stem.startswith("transporter")
]


@pytest.mark.parametrize("path", OURS, ids=lambda p: p.stem)
def test_committed_training_configs_load_with_their_removed_keys(path):
    config = torch.load(path, map_location="cpu", weights_only=True)["config"]
    cfg = TrainConfig.from_dict(config)  # raises on a removed option that was in use
    if "near" in config["loss"]:  # written before ℓ_near had one weight (not the default now)
        assert cfg.model.search.near == config["loss"]["near"] == 10  # the one ℓ_near weight
    kept = {k: v for k, v in flatten(config) if not k.startswith("loss.near")}
    now = dict(flatten(cfg.to_dict()))
    assert all(now[k] == v for k, v in kept.items() if k in now)  # nothing else changed


def test_the_committed_models_carry_removed_keys():
    keys = set()
    for path in OURS:
        keys |= {k for k, _ in flatten(torch.load(path, weights_only=True)["config"])}
    assert {"model.psi_head", "loss.psi_target", "loss.rigid", "loss.near"} <= keys


def small_checkpoint(**model_keys) -> dict:
    cfg = ModelConfig(num_points=4, unet_width=4, psi_width=4, bg_width=4)
    model = SkeletonModel(cfg)
    return {"model": model.state_dict(), "config": {"model": {**cfg.to_dict(), **model_keys}}}


def test_a_removed_model_option_at_its_inert_value_is_dropped():
    ckpt = small_checkpoint(psi_head="conv", psi_samples=9, psi_gain=2.0)
    ckpt["config"]["model"]["search"]["rigid"] = 0.0
    model = build_model_from_checkpoint(ckpt)
    assert not hasattr(model.cfg, "psi_head") and not hasattr(model.cfg.search, "rigid")


@pytest.mark.parametrize(
    "key, value, name",
    [("psi_head", "pairwise", "psi_head"), ("psi_hidden", 32, "psi_hidden"),
     ("search", {"rigid": 50.0}, "rigid")],
)  # fmt: skip
def test_a_removed_model_option_in_use_is_an_error_naming_it(key, value, name):
    with pytest.raises(CheckpointError, match=f"'{name}' = .*removed"):
        build_model_from_checkpoint(small_checkpoint(**{key: value}), "old.pt")


@pytest.mark.parametrize(
    "loss, name",
    [({"rigid": 1.0}, "rigid"), ({"psi_target": "search"}, "psi_target"),
     ({"search_pos_weight": 2.0}, "search_pos_weight"), ({"near": 5.0}, "near")],
)  # fmt: skip
def test_a_removed_loss_option_in_use_is_an_error_naming_it(loss, name):
    with pytest.raises(ValueError, match=f"'{name}' = "):
        TrainConfig.from_dict({"loss": loss})


def test_loss_near_must_agree_with_the_one_near_weight():
    cfg = TrainConfig.from_dict({"model": {"search": {"near": 4.0}}, "loss": {"near": 4.0}})
    assert cfg.model.search.near == 4.0
    with pytest.raises(ValueError, match=r"model\.search\.near"):
        TrainConfig.from_dict({"model": {"search": {"near": 4.0}}, "loss": {"near": 10.0}})
    with pytest.raises(ValueError, match=r"model\.psi_head: no longer an option"):
        load_config(None, ["model.psi_head=conv"])


@pytest.mark.parametrize("path", sorted((ROOT / "training/configs").glob("*.yaml")), ids=str)
def test_shipped_config_files_name_only_current_keys(path):
    current = {k for k, _ in flatten(TrainConfig().to_dict())}
    used = {k for k, _ in flatten(yaml.safe_load(path.read_text()))}
    assert used <= current, f"{path.name}: {sorted(used - current)}"
    load_config(path)
