"""Random colour, light and sensor changes of a batch of frames, seeded by ``(seed, step)``.

``distill --photometric`` applies them to the randomised look that π learns from (never
to the plain twin the teacher sees), so that π cannot tell a body by its hue or a scene
by its brightness: the held-out looks have colours and lights that no training look
draws. Every change keeps a pixel in [0, 1] and acts on whole images, so the letterbox's
replicated border stays a copy of the image's edge.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class PhotometricConfig:
    """Ranges of the per-image changes (each drawn uniformly).

    Attributes:
        gray: Probability that an image becomes grey (its channels' mean).
        log_gamma: Range of log γ; each pixel value v becomes v ** γ.
        contrast: Range of the factor on each image's deviation from its mean.
        brightness: Range of the factor on every pixel.
        noise: Range of the Gaussian pixel noise's σ (in [0, 1] units).
    """

    gray: float = 0.2
    log_gamma: tuple[float, float] = (-0.5, 0.5)
    contrast: tuple[float, float] = (0.5, 1.3)
    brightness: tuple[float, float] = (0.4, 1.2)
    noise: tuple[float, float] = (0.0, 0.03)


def photometric_jitter(
    images: torch.Tensor, seed: int, step: int, cfg: PhotometricConfig = PhotometricConfig()
) -> torch.Tensor:
    """A changed copy of ``images``, by ``(seed, step)`` only.

    Per image: the colour channels in a random order, grey with probability ``cfg.gray``,
    then γ, contrast about the image's mean, brightness and pixel noise.

    Args:
        images: (B, 3, H, W) float in [0, 1].
        seed: the run's seed.
        step: the training step (so a resumed run draws the same changes).
        cfg: the ranges.

    Returns:
        (B, 3, H, W) float in [0, 1], on ``images``' device.
    """
    g = torch.Generator().manual_seed(seed * 1_000_003 + step + 500_009)
    b = images.shape[0]

    def uniform(bounds: tuple[float, float]) -> torch.Tensor:  # (B, 1, 1, 1)
        low, high = bounds
        return (low + (high - low) * torch.rand(b, generator=g)).view(b, 1, 1, 1)

    order = torch.stack([torch.randperm(3, generator=g) for _ in range(b)])  # (B, 3)
    gray = (torch.rand(b, generator=g) < cfg.gray).view(b, 1, 1, 1)
    gamma, contrast = uniform(cfg.log_gamma).exp(), uniform(cfg.contrast)
    brightness, sigma = uniform(cfg.brightness), uniform(cfg.noise)
    noise = torch.randn(images.shape, generator=g)
    params = (order, gray, gamma, contrast, brightness, sigma, noise)
    order, gray, gamma, contrast, brightness, sigma, noise = (p.to(images.device) for p in params)
    x = images.gather(1, order[:, :, None, None].expand_as(images))
    x = torch.where(gray, x.mean(1, keepdim=True).expand_as(x), x)
    x = x.clamp_min(1e-6) ** gamma
    mean = x.mean((1, 2, 3), keepdim=True)
    x = (x - mean) * contrast + mean
    return (x * brightness + sigma * noise).clamp(0.0, 1.0)
