"""Photometric augmentation of training images: colour, light, blur, noise and JPEG.

A camera on a robot sees colours, exposures and compression that no rendered look covers.
:func:`photometric` changes each image of a batch by its own random draw (from a
``torch.Generator``, so a run is reproducible): with probability ``p`` each, a hue turn and
a saturation, brightness, contrast and gamma change, a Gaussian blur, Gaussian pixel noise
and a JPEG round trip. Geometry is never changed, so points and ground truth stay where
they were. Used by ``distill --augment`` on the student's randomised frames.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges of :func:`photometric` (``(low, high)``, uniform).

    Attributes:
        p: Probability of each of the five changes (colour, gamma, blur, noise, JPEG).
        hue_deg: Turn of the hue, either sign (magnitude range), degrees.
        saturation: Saturation factor.
        brightness: Brightness factor.
        contrast: Contrast factor (about the image's mean).
        gamma: Gamma exponent.
        blur_sigma: Gaussian blur, pixels.
        noise_std: Gaussian noise, in 0-255 units.
        jpeg_quality: JPEG quality.
    """

    p: float = 0.5
    hue_deg: tuple[float, float] = (0.0, 180.0)
    saturation: tuple[float, float] = (0.3, 1.5)
    brightness: tuple[float, float] = (0.6, 1.3)
    contrast: tuple[float, float] = (0.6, 1.3)
    gamma: tuple[float, float] = (0.7, 1.5)
    blur_sigma: tuple[float, float] = (0.3, 1.2)
    noise_std: tuple[float, float] = (1.0, 8.0)
    jpeg_quality: tuple[float, float] = (25.0, 90.0)


def _uniform(g: torch.Generator, n: int, bounds: tuple[float, float]) -> torch.Tensor:
    lo, hi = bounds
    return lo + (hi - lo) * torch.rand(n, generator=g)


def _hue_matrix(angle: torch.Tensor) -> torch.Tensor:
    """(B,) radians -> (B, 3, 3) RGB rotations about the grey axis."""
    c, s = torch.cos(angle), torch.sin(angle)
    k = 1.0 / 3.0
    r = math.sqrt(k)
    a = c + (1 - c) * k
    b = (1 - c) * k - s * r
    d = (1 - c) * k + s * r
    return torch.stack(
        [torch.stack([a, b, d], -1), torch.stack([d, a, b], -1), torch.stack([b, d, a], -1)], -2
    )


def _blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """(3, H, W) -> the same blurred by a separable Gaussian of ``sigma`` px."""
    radius = max(1, math.ceil(3 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=images.dtype)
    k = torch.exp(-(x**2) / (2 * sigma**2))
    k = k / k.sum()
    out = F.pad(images[None], (radius, radius, radius, radius), mode="replicate")
    out = F.conv2d(out, k.view(1, 1, 1, -1).expand(3, 1, 1, -1), groups=3)
    out = F.conv2d(out, k.view(1, 1, -1, 1).expand(3, 1, -1, 1), groups=3)
    return out[0]


def _jpeg(image: torch.Tensor, quality: int) -> torch.Tensor:
    """(3, H, W) in [0, 1] -> its JPEG round trip at ``quality``."""
    rgb = (image.permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)
    ok, data = cv2.imencode(".jpg", rgb, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    back = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    return torch.from_numpy(back).permute(2, 0, 1).to(image.dtype) / 255.0


def photometric(images: torch.Tensor, config: AugmentConfig, g: torch.Generator) -> torch.Tensor:
    """Each image changed by its own draw of ``config``'s ranges.

    Args:
        images: (B, 3, H, W) float in [0, 1], on the CPU.
        config: the ranges.
        g: the random generator (the same state gives the same output).

    Returns:
        (B, 3, H, W) float in [0, 1], a new tensor.
    """
    n = images.shape[0]
    on = torch.rand(n, 5, generator=g) < config.p  # colour, gamma, blur, noise, JPEG
    sign = torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0)
    hue = torch.deg2rad(_uniform(g, n, config.hue_deg) * sign)
    sat, bright = _uniform(g, n, config.saturation), _uniform(g, n, config.brightness)
    contrast, gamma = _uniform(g, n, config.contrast), _uniform(g, n, config.gamma)
    sigma, noise = _uniform(g, n, config.blur_sigma), _uniform(g, n, config.noise_std)
    quality = _uniform(g, n, config.jpeg_quality).round()
    noise_field = torch.randn(images.shape, generator=g)
    out = images.clone()
    for i in range(n):
        x = out[i]
        if on[i, 0]:
            x = torch.einsum("ij,jhw->ihw", _hue_matrix(hue[i : i + 1])[0], x)
            grey = x.mean(0, keepdim=True)
            x = grey + sat[i] * (x - grey)
            x = x * bright[i]
            x = x.mean() + contrast[i] * (x - x.mean())
        x = x.clamp(0.0, 1.0)
        if on[i, 1]:
            x = x ** gamma[i]
        if on[i, 2]:
            x = _blur(x, float(sigma[i]))
        if on[i, 3]:
            x = (x + noise_field[i] * noise[i] / 255.0).clamp(0.0, 1.0)
        if on[i, 4]:
            x = _jpeg(x, int(quality[i]))
        out[i] = x
    return out
