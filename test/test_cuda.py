"""CUDA: the detector and the training loop on a GPU (skipped where there is none).

CI has no GPU; these run where one is present, e.g. on a lent machine with
``python3 -m pytest test/test_cuda.py`` (docs/gpu.md).
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from detector_fixtures import randomise_batchnorm
from skeleton_perception.training import train as train_mod
from test_default_model import FRAMES, MIN_FRAMES_WITH_HALF_THE_JOINTS, frame_scores
from test_train import SwingingBar, tiny_config
from torch import nn

from skeleton_perception import SkeletonDetector
from skeleton_perception.nn.inference import count_modules
from skeleton_perception.nn.model import ModelConfig, SkeletonModel

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


@pytest.mark.parametrize("half", [False, True])
def test_optimised_detector_on_cuda_gives_the_same_skeletons(half):
    model = randomise_batchnorm(SkeletonModel(ModelConfig()))
    plain = SkeletonDetector(copy.deepcopy(model), device="cuda", half=half, optimize=False)
    fast = SkeletonDetector(model, device="cuda", half=half)
    assert count_modules(fast.inference_model, nn.BatchNorm2d) < count_modules(
        plain.model, nn.BatchNorm2d
    )
    image = np.random.default_rng(0).integers(0, 256, (120, 160, 3), np.uint8)
    a, b = plain(image), fast(image)
    # cuDNN (TF32 by default) and float16 round more than the CPU: S is continuous and
    # stays close; a point of a flat random map may move to a near-tied pixel, so most
    # (not all) points must agree.
    np.testing.assert_allclose(b.connectivity, a.connectivity, atol=3e-2 if half else 1e-2)
    assert np.median(np.abs(b.points - a.points)) < 0.5


def test_auto_device_is_cuda_and_half_applies():
    det = SkeletonDetector.from_checkpoint(None, device="auto", half=True)
    assert det.device.startswith("cuda") and det.half
    assert det(np.zeros((48, 64, 3), np.uint8)).image_size == (64, 48)


@pytest.mark.parametrize("half", [False, True])
def test_shipped_model_on_cuda_finds_the_joints_the_cpu_finds(half):
    data = np.load(FRAMES)
    cpu = SkeletonDetector.from_checkpoint(None, device="cpu")
    gpu = SkeletonDetector.from_checkpoint(None, device="cuda", half=half)
    recall_cpu, _ = frame_scores(cpu, data)
    recall_gpu, _ = frame_scores(gpu, data)
    assert (recall_gpu >= 0.5).mean() >= MIN_FRAMES_WITH_HALF_THE_JOINTS
    assert abs(recall_gpu.mean() - recall_cpu.mean()) < 0.05
    images = list(data["images"][:8])
    for a, b in zip(cpu.predict_batch(images), gpu.predict_batch(images), strict=True):
        assert np.median(np.abs(a.points - b.points)) <= 1.0  # pixels of the 64x64 input


def test_training_on_cuda_resumes_and_its_checkpoint_loads_on_the_cpu(tmp_path):
    data = SwingingBar(n=32)
    cfg = tiny_config(steps=10, device="cuda")
    result = train_mod.train(cfg, data, tmp_path, progress=False)
    assert result["step"] == 10 and np.isfinite(result["recon"])
    ckpt = torch.load(tmp_path / "checkpoint.pt", weights_only=True)  # no map_location
    tensors = [v for v in ckpt["model"].values() if isinstance(v, torch.Tensor)]
    assert tensors and all(t.device.type == "cpu" for t in tensors)
    assert ckpt["metadata"]["device"].startswith("cuda") and "cuda_rng_state" in ckpt["metadata"]
    resumed = train_mod.train(tiny_config(steps=15, device="cuda"), data, tmp_path, resume=True,
                              progress=False)  # fmt: skip
    assert resumed["step"] == 15
    det = SkeletonDetector.from_checkpoint(tmp_path / "checkpoint.pt", device="cpu")
    assert det(np.zeros((64, 64, 3), np.uint8)).points.shape == (8, 2)
