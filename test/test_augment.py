"""Photometric augmentation (training/augment.py)."""

from __future__ import annotations

import torch
from skeleton_perception.training.augment import AugmentConfig, photometric


def _images() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    base = torch.rand(6, 3, 1, 1, generator=g).expand(6, 3, 32, 32).clone()
    base[:, :, 8:24, 12:20] = torch.rand(6, 3, 1, 1, generator=g)  # a bar on a flat floor
    return base


def test_same_generator_state_same_images_and_range():
    images = _images()
    a = photometric(images, AugmentConfig(), torch.Generator().manual_seed(3))
    b = photometric(images, AugmentConfig(), torch.Generator().manual_seed(3))
    c = photometric(images, AugmentConfig(), torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == images.shape and a.min() >= 0.0 and a.max() <= 1.0
    assert torch.equal(images, _images())  # the input is not changed in place


def test_each_change_alone():
    images = _images()
    none = AugmentConfig(p=0.0)
    assert torch.equal(photometric(images, none, torch.Generator().manual_seed(0)), images)
    every = AugmentConfig(p=1.0)
    out = photometric(images, every, torch.Generator().manual_seed(0))
    assert (out - images).abs().flatten(1).amax(1).min() > 0.02  # every image changed
    # blur alone spreads the bar's edge; noise alone keeps the mean; geometry never moves
    blur = AugmentConfig(
        p=1.0, hue_deg=(0, 0), saturation=(1, 1), brightness=(1, 1), contrast=(1, 1),
        gamma=(1, 1), blur_sigma=(1.0, 1.0), noise_std=(0, 0), jpeg_quality=(100, 100),
    )  # fmt: skip
    blurred = photometric(images, blur, torch.Generator().manual_seed(0))
    edge = (images[:, :, 16, 12] - images[:, :, 16, 11]).abs().sum()  # the bar's left edge
    assert (images[:, :, 16, 11] - images[:, :, 16, 10]).abs().sum() == 0  # flat floor...
    assert (blurred[:, :, 16, 11] - blurred[:, :, 16, 10]).abs().sum() > 0.05 * edge  # ...not now
    assert (blurred - images).abs().mean() < 0.05
    centre = (blurred[:, :, 16, 16] - images[:, :, 16, 16]).abs().max()
    assert centre < 0.02  # the bar's middle keeps its colour
