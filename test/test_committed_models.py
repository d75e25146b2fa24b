"""Every model committed under ``models/`` stays small, loads safely and still predicts.

RESULTS.md scores these files; a broken export, a format change that old checkpoints no
longer load under, or a file that grew past the 20 MB limit of the repository fails here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from skeleton_perception import SkeletonDetector

MODELS = sorted((Path(__file__).resolve().parents[1] / "models").glob("*.pt"))
FRAMES = Path(__file__).with_name("fixtures") / "sim_frames.npz"


def test_models_are_committed():
    assert len(MODELS) >= 5, "RESULTS.md needs a model per dataset under models/"


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.stem)
def test_model_is_small_and_records_how_it_was_trained(path):
    assert path.stat().st_size < 20 * 1024 * 1024
    ckpt = torch.load(path, map_location="cpu", weights_only=True)  # no pickled code
    meta = ckpt.get("metadata", ckpt)
    assert meta.get("hardware"), f"{path.name}: no hardware recorded"
    assert meta.get("train_seconds", 0) > 0, f"{path.name}: no training time recorded"
    assert ckpt.get("config"), f"{path.name}: no training config"


@pytest.mark.parametrize(
    "path", [p for p in MODELS if not p.stem.startswith("transporter")], ids=lambda p: p.stem
)
def test_our_model_predicts_joints_on_a_simulated_frame(path):
    det = SkeletonDetector.from_checkpoint(path, device="cpu")
    images = np.load(FRAMES)["images"][:4]  # (4, 64, 64, 3) uint8
    skeletons = det.predict_batch(list(images))
    assert len(skeletons) == 4
    assert sum(len(sk.joints) for sk in skeletons) > 0, f"{path.name} found no joint"
    for sk in skeletons:
        assert np.all((sk.joints >= -0.5) & (sk.joints <= 63.5))


@pytest.mark.parametrize(
    "path", [p for p in MODELS if p.stem.startswith("transporter")], ids=lambda p: p.stem
)
def test_transporter_baseline_finds_keypoints_on_simulated_frames(path):
    from skeleton_perception.training.evaluation.predictors import TransporterPredictor

    predictor = TransporterPredictor(str(path))
    skeletons = predictor.predict_episode(np.load(FRAMES)["images"][:4], episode_index=0)
    assert len(skeletons) == 4
    for sk in skeletons:
        assert len(sk.joints) == predictor.model.cfg.num_keypoints
        assert np.isfinite(sk.joints).all()
        assert len(sk.link_ids) == 0  # the baseline predicts no links
