"""ψ as a pairwise head: scores each pair of points from what lies between them.

The paper's ψ (:class:`~skeleton_perception.nn.skeleton_net.SkeletonNet`) ends in a fully
connected layer with one output per pair of point *ids*. Because π's point ids are
consistent across images (the same id sits on the same part), that layer can, and on
our data does, learn one fixed graph over ids for every image (docs/model.md, "Skeleton
stage: what was tried"). This head cannot: it is permutation-equivariant, so a link
between two points depends only on where they are and what the image shows there.

For an image and its P points (xy in network pixels):

1. a small convolutional trunk turns the image and the points' occupancy (the maximum
   of the point heatmaps) into a (C, H/2, W/2) feature map;
2. for each unordered pair (i, j) the feature map is sampled bilinearly at K points
   evenly spaced on the segment i-j; the pair's features are symmetric in i and j:
   f_i + f_j, |f_i - f_j| (end points), the mean and the minimum of the interior
   samples (is the object continuous along the segment?), and the segment's length,
   |dx| and |dy| as fractions of the image side;
3. after a LayerNorm of those features, an MLP embeds each pair (h_ij), each point
   pools the embeddings of its pairs (max), and a second MLP scores the pair from h_ij,
   m_i + m_j and |m_i - m_j|. The pooling lets a pair compete with the other pairs of
   its end points (one link along a pole instead of links between every two points on it).

The logits are clipped like SkeletonNet's (:class:`BoundedLogit`).

Optionally (``standardize``) the logits of each image are standardised over its pairs
and mapped to ``gain * z - offset``. All pairs share the head's weights, so a loss that
pushes every link down (ℓ_sparse, ℓ_uniform: their summed gradient over the 496 pairs of
32 points is ~40x ℓ_near's) otherwise wins by a shift common to all pairs: within ~100
steps every pair sat at the floor sigmoid(-c), where all S are equal and ℓ_near's
relaxed max picks pairs by index, a signal no equivariant head can follow. With the
shift removed the losses can only change *which* pairs stand out and by how much; the
number of links still varies with the image (a pair is a link when it lies more than
offset / gain standard deviations above the image's mean).
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import nn

from .skeleton_net import BoundedLogit, pair_indices, pairs_to_matrix


def _conv(cin: int, cout: int, k: int, stride: int = 1, dilation: int = 1) -> list[nn.Module]:
    pad = dilation * (k // 2)
    return [
        nn.Conv2d(cin, cout, k, stride=stride, padding=pad, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout),
        nn.LeakyReLU(0.2, inplace=True),
    ]


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(sizes):
        layers += [nn.Linear(a, b), nn.LeakyReLU(0.2, inplace=True)]
    return nn.Sequential(*layers[:-1])  # no activation after the last layer


class PairwiseSkeletonNet(nn.Module):
    """ψ: image, point heatmaps and point xy -> (B, P, P) connectivity probabilities.

    Args:
        num_points: P.
        width: C, channels of the trunk.
        image_size: H = W of the input.
        logit_clip: c, the bound on the link logits (straight-through clamp).
        samples: K, points sampled on each segment (end points included).
        hidden: width of the pair MLPs.
        standardize: standardise each image's logits over its pairs (see above).
        gain: scale of the standardised logits.
        offset: subtracted from the scaled standardised logits.
    """

    def __init__(
        self,
        num_points: int,
        width: int = 32,
        image_size: int = 64,
        logit_clip: float = 4.0,
        samples: int = 9,
        hidden: int = 64,
        standardize: bool = False,
        gain: float = 2.0,
        offset: float = 4.0,
    ):
        super().__init__()
        if samples < 3:
            raise ValueError(f"samples must be >= 3 (end points and interior), got {samples}")
        self.num_points = num_points
        self.image_size = image_size
        self.logit_clip = logit_clip
        self.samples = samples
        self.standardize = standardize
        self.gain = gain
        self.offset = offset
        self.trunk = nn.Sequential(
            *_conv(4, width, 5, stride=2),
            *_conv(width, width, 3),
            *_conv(width, width, 3, dilation=2),
            *_conv(width, width, 3),
        )
        self.norm = nn.LayerNorm(4 * width + 3)
        self.embed = _mlp([4 * width + 3, hidden, hidden])
        self.score = _mlp([3 * hidden, hidden, 1])
        # start undecided (S ~ 0.5 for every pair) so no loss wins by a global shift first
        nn.init.zeros_(self.score[-1].bias)
        self.score[-1].weight.data.mul_(0.1)

    def pair_features(self, feat: torch.Tensor, xy: torch.Tensor) -> torch.Tensor:
        """Symmetric features of every pair.

        Args:
            feat: (B, C, h, w) trunk features.
            xy: (B, P, 2) point xy in network pixels.

        Returns:
            (B, E, 4C + 3) pair features, E = P(P-1)/2 in ``triu_indices`` order.
        """
        P = xy.shape[1]
        i, j = pair_indices(P, xy.device)
        a, b = xy[:, i], xy[:, j]  # (B, E, 2)
        t = torch.linspace(0, 1, self.samples, device=xy.device, dtype=xy.dtype)
        pts = a[:, :, None] + t[None, None, :, None] * (b - a)[:, :, None]  # (B, E, K, 2)
        # pixel centres at 0 .. size-1 -> grid_sample's [-1, 1] with align_corners=False
        grid = (pts + 0.5) / self.image_size * 2 - 1
        s = F.grid_sample(feat, grid, mode="bilinear", padding_mode="border", align_corners=False)
        s = s.permute(0, 2, 3, 1)  # (B, E, K, C)
        fa, fb, inner = s[:, :, 0], s[:, :, -1], s[:, :, 1:-1]
        d = (b - a).abs() / self.image_size  # (B, E, 2)
        geom = torch.cat([d.norm(dim=-1, keepdim=True), d], dim=-1)
        return torch.cat([fa + fb, (fa - fb).abs(), inner.mean(2), inner.amin(2), geom], dim=-1)

    def logits(self, image: torch.Tensor, heat: torch.Tensor, xy: torch.Tensor) -> torch.Tensor:
        """Unclipped link logits.

        Args:
            image: (B, 3, H, W) centred image (pixel values - 0.5).
            heat: (B, P, H, W) point heatmaps, each with peak 1.
            xy: (B, P, 2) point xy in network pixels.

        Returns:
            (B, E) logits, E = P(P-1)/2 in ``triu_indices`` order.
        """
        occupancy = heat.amax(1, keepdim=True)  # (B, 1, H, W), the same for any point order
        feat = self.trunk(torch.cat([image, occupancy], dim=1))  # (B, C, H/2, W/2)
        h = self.embed(self.norm(self.pair_features(feat, xy)))  # (B, E, D)
        B, _, D = h.shape
        P = xy.shape[1]
        i, j = pair_indices(P, xy.device)
        grid = h.new_full((B, P, P, D), float("-inf"))
        grid[:, i, j] = h
        grid[:, j, i] = h
        m = grid.amax(2)  # (B, P, D): each point's strongest pair embedding
        mi, mj = m[:, i], m[:, j]
        z = self.score(torch.cat([h, mi + mj, (mi - mj).abs()], dim=-1))[..., 0]  # (B, E)
        if self.standardize:
            mean, std = z.mean(-1, keepdim=True), z.std(-1, keepdim=True)
            z = self.gain * (z - mean) / (std + 1e-4) - self.offset
        return z

    def probabilities(self, z: torch.Tensor) -> torch.Tensor:
        """(B, E) link logits -> (B, P, P) symmetric S in [0, 1], empty diagonal."""
        if self.logit_clip > 0:
            z = BoundedLogit.apply(z, self.logit_clip)
        return pairs_to_matrix(torch.sigmoid(z), self.num_points)
