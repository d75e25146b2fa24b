"""B, the background network: a 16x16 target frame -> a 64x64 background image.

Architecture (paper, supplementary VIII-a): an encoder of 3 Conv-BatchNorm-LeakyReLU
layers and a fully connected layer to a background vector; a generator of two
upsampling + transposed-convolution layers. Its small capacity keeps it from modelling
the object.

Choices where the paper is silent: encoder strides 1, 2, 2 (16 -> 4 pixels); a latent
of ``latent`` numbers (the bottleneck; smaller blurs the background, larger lets B copy
the object, see docs/model.md); the generator starts from a fully connected layer to a
``width`` x (out/4) x (out/4) map and ends in a sigmoid (images are in [0, 1]).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _conv(cin: int, cout: int, stride: int) -> list[nn.Module]:
    return [
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.LeakyReLU(0.2, inplace=True),
    ]


class BackgroundNet(nn.Module):
    """B: (B, 3, H, W) target frame -> (B, 3, out_size, out_size) background in [0, 1].

    Args:
        width: encoder/generator channels.
        latent: size of the background vector (the bottleneck).
        input_size: side the frame is downsampled to (area interpolation) first.
        out_size: side of the produced background.
    """

    def __init__(self, width: int = 32, latent: int = 32, input_size: int = 16, out_size: int = 64):
        super().__init__()
        self.input_size = input_size
        self.out_size = out_size
        self.encoder = nn.Sequential(
            *_conv(3, width, 1), *_conv(width, 2 * width, 2), *_conv(2 * width, 2 * width, 2)
        )
        enc_side = input_size // 4
        self.to_latent = nn.Linear(2 * width * enc_side * enc_side, latent)
        self.gen_side = out_size // 4
        self.from_latent = nn.Linear(latent, width * self.gen_side * self.gen_side)
        self.width = width
        self.generator = nn.Sequential(
            nn.LeakyReLU(0.2, inplace=True),
            nn.Upsample(scale_factor=2.0, mode="bilinear", align_corners=False),
            nn.ConvTranspose2d(width, width, 3, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Upsample(scale_factor=2.0, mode="bilinear", align_corners=False),
            nn.ConvTranspose2d(width, 3, 3, padding=1),
            nn.Sigmoid(),
        )

    def forward(self, frame: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] -> (B, 3, out_size, out_size) in [0, 1]."""
        small = F.interpolate(frame, size=(self.input_size, self.input_size), mode="area")
        z = self.to_latent(self.encoder(small - 0.5).flatten(1))  # (B, latent)
        h = self.from_latent(z).view(-1, self.width, self.gen_side, self.gen_side)
        return self.generator(h)
