"""The canonicaliser: a U-Net that redraws a frame of any look in the plain look.

π was trained on plain renders (one flat background, the family's colours); on textured
floors, other lights and other colours its points go astray (docs/notebook/appearance.md).
The canonicaliser learns, from frames the simulator renders twice (a randomised look and
its plain twin, the same pose and camera), to map the first to the second pixel by pixel
(``skeleton-perception distill --canon``); π then runs on its output. Two coordinate
channels (x and y in [-1, 1]) join the image, since the plain background is a gradient
that depends on where a pixel is, not on what it shows.
"""

from __future__ import annotations

import torch
from torch import nn

from .unet import UNet


class Canonicaliser(nn.Module):
    """(B, 3, H, W) images in [0, 1] -> (B, 3, H, W) the same view in the plain look.

    Args:
        width: channels of the U-Net's first Double-Conv.
    """

    def __init__(self, width: int = 16):
        super().__init__()
        self.net = UNet(5, 3, width).to(memory_format=torch.channels_last)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] -> (B, 3, H, W) in [0, 1]."""
        b, _, h, w = images.shape
        ys = torch.linspace(-1.0, 1.0, h, dtype=images.dtype, device=images.device)
        xs = torch.linspace(-1.0, 1.0, w, dtype=images.dtype, device=images.device)
        grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"))  # (2, H, W): x, y
        x = torch.cat([images - 0.5, grid.expand(b, 2, h, w)], dim=1)  # (B, 5, H, W)
        return torch.sigmoid(self.net(x))
