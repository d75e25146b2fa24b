"""π, the foreground point extractor: a U-Net producing P location-map logits.

Architecture (paper, supplementary VIII-a): a Double-Convolution (two 3x3
Conv-BatchNorm-ReLU, stride 1, padding 1), 4 down steps (2x2 max-pool + Double-Conv),
4 up steps (x2 upsampling + Double-Conv) and a final 1x1 convolution.

Choices where the paper is silent (the common "bilinear" U-Net variant, e.g.
milesial/Pytorch-UNet): channel widths double at every down step starting at ``width``
except the last, which keeps its input width (16, 32, 64, 128, 128 for width 16); each up
step upsamples bilinearly, concatenates the skip connection of the same resolution and
its Double-Conv halves the channels (128+128 -> 64, 64+64 -> 32, 32+32 -> 16,
16+16 -> 16). This costs ~25% fewer operations than doubling to 16w at the bottleneck;
the time goes into the full-resolution layers either way. The network runs in
``channels_last`` memory format (about 1.5-2x faster on CPU with oneDNN).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class DoubleConv(nn.Sequential):
    """Two 3x3 Conv-BatchNorm-ReLU layers (stride 1, padding 1)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class UNet(nn.Module):
    """U-Net mapping (B, C, H, W) images to (B, out_channels, H, W) logits.

    Args:
        in_channels: input channels (3 for RGB).
        out_channels: output channels (P location maps).
        width: channels of the first Double-Conv; doubled at every down step.
        depth: number of down (and up) steps; H and W must be divisible by 2**depth.
    """

    def __init__(
        self, in_channels: int = 3, out_channels: int = 32, width: int = 16, depth: int = 4
    ):
        super().__init__()
        chans = [width * 2**i for i in range(depth)]
        chans.append(chans[-1])  # the bottleneck keeps the width of the level above
        self.inc = DoubleConv(in_channels, chans[0])
        self.down = nn.ModuleList(DoubleConv(chans[i], chans[i + 1]) for i in range(depth))
        ups, c = [], chans[-1]
        for i in reversed(range(depth)):
            out = chans[i - 1] if i > 0 else width
            ups.append(DoubleConv(c + chans[i], out))
            c = out
        self.up = nn.ModuleList(ups)
        self.head = nn.Conv2d(width, out_channels, 1)
        self.channels_last = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, out_channels, H, W)."""
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        x = self.inc(x)
        skips = [x]
        for down in self.down:
            x = down(F.max_pool2d(x, 2))
            skips.append(x)
        skips.pop()  # the bottleneck itself
        for up in self.up:
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
            x = up(torch.cat([x, skips.pop()], dim=1))
        return self.head(x)
