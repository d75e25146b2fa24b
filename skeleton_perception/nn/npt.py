"""The neural point transporter (NPT): reconstructs the target from source colours.

For each point p (paper, Sec. III-A):

1. smooth its source location map with a 3x3 Gaussian G and take the weighted mean
   colour under it, c_p = sum(x_source * (m_p * G)) / sum(m_p * G);
2. splat c_p at its *target* location: coverage a_p = m_p^target * G;
3. composite all splats over the predicted target background with a weighted softmax
   (SoftRas-style): pixel weights softmax over {log a_p + a_p / gamma} for the points
   and {eps / gamma} for the background. A splat wins a pixel where its coverage is well
   above ``eps``; ``gamma`` sets how sharp that decision is.

Only the target *point locations* and the target background enter; never target pixels.

Smarter formulation of step 1: for a symmetric G, sum(x * (m * G)) = sum(m * (x * G)),
so the image (3 channels) is blurred once instead of blurring P maps, and the
denominator is m @ (1 * G) (border-aware). Both are then one (P x HW) @ (HW x 3)
matrix product per image.

G here has peak 1 (unnormalised), so a one-hot target map gives a 3x3 splat with
coverage 1 at its centre.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def gaussian_kernel3(sigma: float = 1.0) -> torch.Tensor:
    """(3, 3) Gaussian with peak value 1 at the centre."""
    r = torch.tensor([-1.0, 0.0, 1.0])
    g = torch.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma**2))
    return g / g.max()


class NeuralPointTransporter(nn.Module):
    """Parameter-free NPT.

    Args:
        sigma: standard deviation (pixels) of the 3x3 Gaussian G.
        gamma: softmax temperature of the compositing (smaller = harder).
        bg_depth: eps, the coverage above which a splat beats the background.
    """

    def __init__(self, sigma: float = 1.0, gamma: float = 0.1, bg_depth: float = 0.2):
        super().__init__()
        self.gamma = gamma
        self.bg_depth = bg_depth
        self.register_buffer("kernel", gaussian_kernel3(sigma)[None, None], persistent=False)

    def _blur(self, x: torch.Tensor) -> torch.Tensor:
        """Depthwise 3x3 Gaussian (zero padding): (B, C, H, W) -> (B, C, H, W)."""
        c = x.shape[1]
        return F.conv2d(x, self.kernel.expand(c, 1, 3, 3).to(x.dtype), padding=1, groups=c)

    def colours(self, source: torch.Tensor, source_maps: torch.Tensor) -> torch.Tensor:
        """Colour under each point: (B, 3, H, W), (B, P, H, W) -> (B, P, 3)."""
        B, P, H, W = source_maps.shape
        ones = torch.ones_like(source[:, :1])
        blurred = self._blur(torch.cat([source, ones], dim=1)).flatten(2)  # (B, 4, HW)
        acc = torch.bmm(source_maps.reshape(B, P, H * W), blurred.transpose(1, 2))  # (B, P, 4)
        return acc[..., :3] / acc[..., 3:].clamp_min(1e-12)

    def coverage(self, target_maps: torch.Tensor) -> torch.Tensor:
        """Splat coverage a_p = m_p * G: (B, P, H, W) -> (B, P, H, W)."""
        return self._blur(target_maps)

    def composite_weights(self, coverage: torch.Tensor) -> torch.Tensor:
        """(B, P, H, W) coverage -> (B, P + 1, H, W) softmax weights (background last)."""
        logits = torch.log(coverage.clamp_min(1e-12)) + coverage / self.gamma
        bg = torch.full_like(logits[:, :1], self.bg_depth / self.gamma)
        return torch.softmax(torch.cat([logits, bg], dim=1), dim=1)

    def forward(
        self,
        source: torch.Tensor,
        source_maps: torch.Tensor,
        target_maps: torch.Tensor,
        background: torch.Tensor,
    ) -> torch.Tensor:
        """Reconstructs the target.

        Args:
            source: (B, 3, H, W) source image in [0, 1].
            source_maps: (B, P, H, W) source location maps (each sums to 1).
            target_maps: (B, P, H, W) target location maps (each sums to 1).
            background: (B, 3, H, W) predicted target background.

        Returns:
            (B, 3, H, W) reconstruction of the target.
        """
        B, P, H, W = target_maps.shape
        colours = self.colours(source, source_maps)  # (B, P, 3)
        weights = self.composite_weights(self.coverage(target_maps))  # (B, P+1, H, W)
        fg = torch.bmm(colours.transpose(1, 2), weights[:, :P].reshape(B, P, H * W))  # (B, 3, HW)
        return fg.view(B, 3, H, W) + weights[:, P:] * background


def splat_logit_floor(gamma: float, bg_depth: float) -> float:
    """Coverage at which a lone splat and the background weigh the same (for docs/tests)."""
    # solve log a + a / gamma = bg_depth / gamma numerically (a in (0, 1))
    lo, hi = 1e-9, 1.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if math.log(mid) + mid / gamma < bg_depth / gamma:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)
