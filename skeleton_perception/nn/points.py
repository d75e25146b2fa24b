"""Point representations: categorical location maps (Gumbel-Softmax) or spatial softmax.

π outputs (B, P, H, W) logits, one categorical variable over the H*W pixels per point.

- ``"categorical"`` (the paper): during training each map is a soft Gumbel-Softmax
  sample softmax((logits + g) / tau) (``hard=True``: straight-through one-hot). Its argmax
  is an exact sample of the categorical (Gumbel-max), used wherever a hard location is
  needed (segment end points). Without sampling (evaluation) the map is
  softmax(logits / tau) and the hard location the mode.
- ``"spatial_softmax"`` (ablation, paper Table III): the point is the expected xy of
  softmax(logits); its "map" is an isotropic Gaussian of ``sigma`` pixels rendered at
  that xy and normalised to sum 1, so every downstream loss runs unchanged but only the
  mean location carries gradient.

Pixel coordinates: x = column, y = row, pixel centres at integers 0 .. W-1 / H-1.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class PointSet:
    """Points of a batch of images.

    Attributes:
        logits: (B, P, H, W) raw π output.
        maps: (B, P, H, W) location maps, each summing to 1 (differentiable).
        xy: (B, P, 2) expected pixel xy under ``maps`` (differentiable; eq. 8).
        xy_hard: (B, P, 2) hard pixel xy (sample argmax; no gradient for categorical).
    """

    logits: torch.Tensor
    maps: torch.Tensor
    xy: torch.Tensor
    xy_hard: torch.Tensor


def pixel_grid(h: int, w: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """(H*W, 2) xy coordinates of the pixels in row-major order."""
    ys, xs = torch.meshgrid(
        torch.arange(h, device=device, dtype=dtype),
        torch.arange(w, device=device, dtype=dtype),
        indexing="ij",
    )
    return torch.stack([xs.flatten(), ys.flatten()], dim=1)


def index_to_xy(index: torch.Tensor, w: int) -> torch.Tensor:
    """Flat pixel index (...) -> (..., 2) float xy."""
    return torch.stack([index % w, torch.div(index, w, rounding_mode="floor")], dim=-1).float()


def expected_xy(maps: torch.Tensor) -> torch.Tensor:
    """(B, P, H, W) maps summing to 1 -> (B, P, 2) expected xy."""
    B, P, H, W = maps.shape
    grid = pixel_grid(H, W, maps.device, maps.dtype)
    return maps.reshape(B, P, H * W) @ grid


def render_gaussians(xy: torch.Tensor, h: int, w: int, sigma: float) -> torch.Tensor:
    """(B, P, 2) xy -> (B, P, H, W) separable Gaussians normalised to sum 1."""
    xs = torch.arange(w, device=xy.device, dtype=xy.dtype)
    ys = torch.arange(h, device=xy.device, dtype=xy.dtype)
    gx = torch.exp(-((xs - xy[..., :1]) ** 2) / (2 * sigma**2))  # (B, P, W)
    gy = torch.exp(-((ys - xy[..., 1:]) ** 2) / (2 * sigma**2))  # (B, P, H)
    gx = gx / gx.sum(-1, keepdim=True)
    gy = gy / gy.sum(-1, keepdim=True)
    return gy[..., :, None] * gx[..., None, :]


def categorical_points(
    logits: torch.Tensor, tau: float = 1.0, sample: bool = True, hard: bool = False
) -> PointSet:
    """Categorical (Gumbel-Softmax) points from (B, P, H, W) logits."""
    B, P, H, W = logits.shape
    flat = logits.reshape(B, P, H * W)
    if sample:
        # Gumbel noise -log(-log(u)), kept so the argmax is the Gumbel-max sample of the
        # same draw (uniform sampling is ~5x faster on CPU than exponential_()).
        u = torch.rand_like(flat).clamp_(1e-10, 1.0 - 1e-7)
        g = -torch.log(-torch.log(u))
        perturbed = (flat + g) / tau
    else:
        perturbed = flat / tau
    soft = torch.softmax(perturbed, dim=-1)
    index = perturbed.detach().argmax(-1)  # (B, P)
    if hard:
        one_hot = F.one_hot(index, H * W).to(soft.dtype)
        soft = one_hot + soft - soft.detach()
    maps = soft.view(B, P, H, W)
    return PointSet(logits, maps, expected_xy(maps), index_to_xy(index, W).to(logits.dtype))


def spatial_softmax_points(logits: torch.Tensor, sigma: float = 1.5) -> PointSet:
    """Spatial-softmax (expected xy) points from (B, P, H, W) logits (the ablation)."""
    B, P, H, W = logits.shape
    prob = torch.softmax(logits.reshape(B, P, H * W), dim=-1).view(B, P, H, W)
    xy = expected_xy(prob)
    return PointSet(logits, render_gaussians(xy, H, W, sigma), xy, xy)


def refine_subpixel(logits: torch.Tensor) -> torch.Tensor:
    """Mode of each map refined by the softmax-weighted centroid of its 3x3 neighbourhood.

    Args:
        logits: (B, P, H, W).

    Returns:
        (B, P, 2) pixel xy (inference only; no gradient needed).
    """
    B, P, H, W = logits.shape
    flat = logits.reshape(B, P, H * W)
    index = flat.argmax(-1)  # (B, P)
    x0 = index % W
    y0 = torch.div(index, W, rounding_mode="floor")
    offsets = torch.tensor([-1, 0, 1], device=logits.device)
    xs = (x0[..., None, None] + offsets[None, None, None, :]).clamp(0, W - 1)  # (B, P, 1, 3)
    ys = (y0[..., None, None] + offsets[None, None, :, None]).clamp(0, H - 1)  # (B, P, 3, 1)
    nb_index = (ys * W + xs).reshape(B, P, 9)
    nb = torch.gather(flat, 2, nb_index)
    wts = torch.softmax(nb - nb.amax(-1, keepdim=True), dim=-1)
    x = (wts * xs.expand(B, P, 3, 3).reshape(B, P, 9).to(wts.dtype)).sum(-1)
    y = (wts * ys.expand(B, P, 3, 3).reshape(B, P, 9).to(wts.dtype)).sum(-1)
    return torch.stack([x, y], dim=-1)
