"""ψ, the skeleton predictor: image + point heatmaps -> symmetric connectivity S.

Architecture (paper, supplementary VIII-a): 8 Conv-BatchNorm-LeakyReLU layers with
kernel sizes 7, 5, 3, 3, 3, 3, 3, 1, layer normalisation and a fully connected layer with
P(P-1)/2 outputs, one per unordered pair of points.

Choices where the paper is silent:
- the first four layers have stride 2 (64 -> 4 pixels), so the fully connected layer
  sees a (4 * width) x 4 x 4 feature map; channels are width, width, 2w, 2w, 4w, 4w,
  4w, 4w;
- S = sigmoid(clip(z)) with the logits z clipped to [-c, c] by :class:`BoundedLogit`:
  forward a clamp; backward the identity inside the range and, outside it, only the
  gradient that moves z back in. S stays in [sigmoid(-c), sigmoid(c)], its gradient never
  vanishes, and a loss that keeps pushing (the sparsity term always does) cannot drive z
  far out where it would take many steps to return. The throwaway version with a plain
  sigmoid saturated to one fixed graph for every image.
"""

from __future__ import annotations

import torch
from torch import nn

KERNELS = (7, 5, 3, 3, 3, 3, 3, 1)
STRIDES = (2, 2, 2, 2, 1, 1, 1, 1)
WIDTH_MULT = (1, 1, 2, 2, 4, 4, 4, 4)


class BoundedLogit(torch.autograd.Function):
    """Clamp to [-c, c] whose gradient passes inside the range, or when it points back in."""

    @staticmethod
    def forward(ctx, z: torch.Tensor, c: float) -> torch.Tensor:  # noqa: D102
        ctx.save_for_backward(z)
        ctx.c = c
        return z.clamp(-c, c)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # noqa: D102
        (z,) = ctx.saved_tensors
        # gradient descent moves z by -grad: block steps that push further out
        outward = ((z > ctx.c) & (grad < 0)) | ((z < -ctx.c) & (grad > 0))
        return grad.masked_fill(outward, 0.0), None


def pair_indices(num_points: int, device: torch.device | None = None) -> torch.Tensor:
    """(2, P(P-1)/2) row/column indices of the strict upper triangle (triu_indices order)."""
    return torch.triu_indices(num_points, num_points, offset=1, device=device)


def pairs_to_matrix(values: torch.Tensor, num_points: int) -> torch.Tensor:
    """(B, P(P-1)/2) pair values -> (B, P, P) symmetric matrix with a zero diagonal."""
    i, j = pair_indices(num_points, values.device)
    out = values.new_zeros(values.shape[0], num_points, num_points)
    out[:, i, j] = values
    out[:, j, i] = values
    return out


class SkeletonNet(nn.Module):
    """ψ: (B, 3 + P, H, W) -> (B, P, P) connectivity probabilities.

    Args:
        num_points: P.
        width: channels of the first layers (see module docstring).
        image_size: H = W of the input.
        logit_clip: c, the bound on the link logits (straight-through clamp).
    """

    def __init__(
        self, num_points: int, width: int = 32, image_size: int = 64, logit_clip: float = 4.0
    ):
        super().__init__()
        self.num_points = num_points
        self.logit_clip = logit_clip
        layers: list[nn.Module] = []
        cin = 3 + num_points
        size = image_size
        for k, s, m in zip(KERNELS, STRIDES, WIDTH_MULT, strict=True):
            cout = width * m
            layers += [
                nn.Conv2d(cin, cout, k, stride=s, padding=k // 2, bias=False),
                nn.BatchNorm2d(cout),
                nn.LeakyReLU(0.2, inplace=True),
            ]
            cin, size = cout, (size + s - 1) // s
        self.features = nn.Sequential(*layers)
        flat = cin * size * size
        self.norm = nn.LayerNorm(flat)
        self.fc = nn.Linear(flat, num_points * (num_points - 1) // 2)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3 + P, H, W) -> (B, P(P-1)/2) unclipped link logits."""
        return self.fc(self.norm(self.features(x).flatten(1)))

    def probabilities(self, z: torch.Tensor) -> torch.Tensor:
        """(B, P(P-1)/2) link logits -> (B, P, P) symmetric S in [0, 1], empty diagonal."""
        if self.logit_clip > 0:
            z = BoundedLogit.apply(z, self.logit_clip)
        return pairs_to_matrix(torch.sigmoid(z), self.num_points)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3 + P, H, W) -> (B, P, P) symmetric S in [0, 1] with an empty diagonal."""
        return self.probabilities(self.logits(x))
