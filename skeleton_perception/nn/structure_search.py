"""Structure by search: the link set that minimises the skeleton losses for given points.

The paper's ψ is a network trained by gradient descent on the skeleton losses
(ℓ_near, ℓ_sparse, ℓ_uniform, ℓ_length; Sec. III-B) through a relaxed S. Trained that way
on our data it predicts one fixed graph over point ids for every image (docs/model.md,
"Skeleton stage: what was tried"). With binary S the same losses can be minimised
directly for the points of one image (or of a training pair): :func:`search_skeleton`
does it greedily, and ``ModelConfig.structure = "search"`` makes it the model's
structure predictor at inference (π's points in, S out; no labels anywhere).

The objective of a link set L, for frames f (one image: f = that image; a training pair:
source and target, with the same point ids), is the skeleton losses at binary S (``max``
is exact, as the relaxation's forward pass):

    - near * sum_f mean_p max_{e in L} exp(-d_f[p || e] / near_scale)
    + sparse_joints * (|joints(L)| / P)^q + sparse_links * (|L| / E)^q
    + uniform * sum_f sum_{e in L} [δ_f(e) < α] / #{e : δ_f(e) < α}
    + length * sum_f sum_{e in L} hinge_f(e) / E

(ℓ_sparse's power means with p = 1/2 are (count / total)^2 at binary S: q = 2.) Greedy:
start empty, add the link that lowers the objective most, stop when none does.

Geometry shared with the training losses (``training/losses.py`` imports it from here):
:func:`segment_distance`, :func:`occupancy`, :func:`link_coverage`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from .dictconfig import DictConfig
from .skeleton_net import pair_indices, pairs_to_matrix


@dataclass
class SearchConfig(DictConfig):
    """Weights and hyperparameters of the searched objective (see the module docstring).

    The defaults were chosen on the validation splits of Cartpoles, Swimmers, Spiders and
    M+W+H+C (20 episodes each) by scoring the searched graphs of the shipped default
    model's points with the evaluation protocol (docs/model.md, "Structure by search").

    Attributes:
        near: weight of the ℓ_near reward; also ℓ_near's weight in training (one weight
            for the loss and the search, ``model.search.near``).
        near_scale: pixels; closeness is exp(-d / near_scale).
        sparse_joints: weight of the joint count term.
        sparse_links: weight of the link count term.
        count_power: the count terms are weight * (count / total)^count_power; 2 is
            ℓ_sparse with the paper's p = 1/2 (the marginal cost of a joint grows with the
            joints already there, which starves objects with many joints); 1 makes every
            joint cost the same.
        uniform: weight of the ℓ_uniform term (links over gaps between points).
        uniform_kernel: max-pool kernel of the point occupancy.
        uniform_alpha: α, links covering less than this fraction are gapped.
        uniform_samples: samples along a segment when measuring its coverage δ.
        length: weight of ℓ_length.
        length_min: l_min as a fraction of the image side.
        length_max: l_max as a fraction of the image side.
        max_links: stop after this many links (0: P - 1).
    """

    config_name: ClassVar[str] = "search config"
    retired: ClassVar[dict] = {"rigid": 0.0}  # ℓ_rigid (docs/model.md, "Removed options")

    near: float = 10.0
    near_scale: float = 6.0
    sparse_joints: float = 20.0
    sparse_links: float = 0.0
    count_power: float = 1.0
    uniform: float = 200.0
    uniform_kernel: int = 5
    uniform_alpha: float = 0.8
    uniform_samples: int = 32
    length: float = 100.0
    length_min: float = 0.05
    length_max: float = 0.75
    max_links: int = 0


def segment_distance(p: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Distance from points to segments.

    Args:
        p: (B, Q, 2) points.
        a: (B, E, 2) segment starts.
        b: (B, E, 2) segment ends.

    Returns:
        (B, Q, E) Euclidean distances.
    """
    ab = (b - a)[:, None]  # (B, 1, E, 2)
    ap = p[:, :, None] - a[:, None]  # (B, Q, E, 2)
    t = ((ap * ab).sum(-1) / (ab * ab).sum(-1).clamp_min(1e-9)).clamp(0, 1)  # (B, Q, E)
    return (ap - t[..., None] * ab).norm(dim=-1)


def occupancy(xy_hard: torch.Tensor, h: int, w: int, kernel: int = 5) -> torch.Tensor:
    """π̄ of eq. 7: 1 where some point lies within the max-pool kernel, else 0.

    Built from the hard (sampled) point pixels, so it is exactly {0, 1} (δ only enters
    ℓ_uniform through the indicator [δ < α], which has no gradient).

    Returns:
        (B, H, W) occupancy.
    """
    B = xy_hard.shape[0]
    x = xy_hard[..., 0].round().long().clamp(0, w - 1)
    y = xy_hard[..., 1].round().long().clamp(0, h - 1)
    occ = torch.zeros(B, h * w, device=xy_hard.device)
    occ.scatter_(1, y * w + x, 1.0)
    return F.max_pool2d(occ.view(B, 1, h, w), kernel, stride=1, padding=kernel // 2)[:, 0]


def link_coverage(occ: torch.Tensor, xy_hard: torch.Tensor, samples: int = 32) -> torch.Tensor:
    """δ_ij: fraction of the segment i-j lying on occupied pixels.

    The paper weighs pixels by exp(-distance to the segment) (eq. 7); here the segment
    is sampled at ``samples`` evenly spaced points (nearest pixel), i.e. that weight
    taken as an indicator of the segment itself.

    Args:
        occ: (B, H, W) occupancy from :func:`occupancy`.
        xy_hard: (B, P, 2) hard pixel xy.
        samples: points along each segment.

    Returns:
        (B, E) δ in [0, 1].
    """
    B, H, W = occ.shape
    P = xy_hard.shape[1]
    i, j = pair_indices(P, occ.device)
    t = torch.linspace(0, 1, samples, device=occ.device)[None, None, :, None]
    a, b = xy_hard[:, i, None, :], xy_hard[:, j, None, :]  # (B, E, 1, 2)
    pts = (a + t[0] * (b - a)).round().long()  # (B, E, K, 2)
    x, y = pts[..., 0].clamp(0, W - 1), pts[..., 1].clamp(0, H - 1)
    flat = occ.flatten(1)
    vals = torch.gather(flat, 1, (y * W + x).flatten(1)).view(B, -1, samples)
    return vals.mean(-1)


def _frame_terms(xy: torch.Tensor, size: int, cfg: SearchConfig):
    """One frame's pieces: closeness (B, P, E), ℓ_uniform cost (B, E), ℓ_length cost (B, E)."""
    B, P, _ = xy.shape
    i, j = pair_indices(P, xy.device)
    E = i.numel()
    clo = torch.exp(-segment_distance(xy, xy[:, i], xy[:, j]) / cfg.near_scale)
    uniform = xy.new_zeros(B, E)
    if cfg.uniform:
        occ = occupancy(xy, size, size, cfg.uniform_kernel)
        gap = (link_coverage(occ, xy, cfg.uniform_samples) < cfg.uniform_alpha).to(xy.dtype)
        uniform = cfg.uniform * gap / gap.sum(-1, keepdim=True).clamp_min(1.0)
    length = (xy[:, i] - xy[:, j]).norm(dim=-1) / size
    hinge = F.relu(cfg.length_min - length) + F.relu(length - cfg.length_max)
    return clo, uniform, cfg.length * hinge / E


@torch.no_grad()
def search_skeleton(
    frames: list[torch.Tensor] | tuple[torch.Tensor, ...], size: int, cfg: SearchConfig
) -> torch.Tensor:
    """Greedy binary minimiser of the skeleton objective (module docstring).

    Args:
        frames: one or two (B, P, 2) point-pixel tensors (the same point ids in each).
        size: image side in pixels.
        cfg: weights and hyperparameters.

    Returns:
        (B, P, P) symmetric {0, 1} S with an empty diagonal.
    """
    frames = [f.float() for f in frames]
    B, P, _ = frames[0].shape
    device = frames[0].device
    i, j = pair_indices(P, device)
    E = i.numel()
    terms = [_frame_terms(f, size, cfg) for f in frames]
    clo = torch.stack([t[0] for t in terms], 1)  # (B, F, P, E)
    fixed = sum(t[1] + t[2] for t in terms)  # (B, E): cost of a link whatever the rest
    best = clo.new_zeros(B, len(frames), P)  # each point's closeness to its nearest link
    is_joint = torch.zeros(B, P, dtype=torch.bool, device=device)
    chosen = torch.zeros(B, E, dtype=torch.bool, device=device)
    active = torch.ones(B, dtype=torch.bool, device=device)
    n_links = clo.new_zeros(B)
    q = cfg.count_power
    for _ in range(cfg.max_links or P - 1):
        gain = (clo - best[..., None]).clamp_min(0).mean(2).sum(1)  # (B, E)
        joints = is_joint.sum(-1, keepdim=True).to(gain.dtype)  # (B, 1)
        new = (~is_joint[:, i]).to(gain.dtype) + (~is_joint[:, j]).to(gain.dtype)  # (B, E)
        delta = (
            fixed
            - cfg.near * gain
            + cfg.sparse_joints * (((joints + new) / P) ** q - (joints / P) ** q)
            + cfg.sparse_links * (((n_links + 1) / E) ** q - (n_links / E) ** q)[:, None]
        ).masked_fill(chosen, float("inf"))
        value, e = delta.min(-1)  # (B,)
        active = active & (value < 0)
        if not active.any():
            break
        b = active.nonzero()[:, 0]
        eb = e[b]
        chosen[b, eb] = True
        is_joint[b, i[eb]] = True
        is_joint[b, j[eb]] = True
        n_links[b] += 1
        best[b] = torch.maximum(best[b], clo[b, :, :, eb])
    return pairs_to_matrix(chosen.to(frames[0].dtype), P)


def clip_config(cfg: SearchConfig, num_frames: int) -> SearchConfig:
    """The objective of :func:`search_skeleton` averaged over ``num_frames`` frames.

    :func:`search_skeleton` sums the per-frame terms (ℓ_near, ℓ_uniform, ℓ_length) over the
    frames it is given while the count terms stay whole; dividing the per-frame weights by
    the number of frames makes a clip's search use the same balance as one image's.
    """
    scale = 1.0 / max(1, int(num_frames))
    return SearchConfig.from_dict(
        {**cfg.to_dict(), **{k: getattr(cfg, k) * scale for k in ("near", "uniform", "length")}}
    )


@torch.no_grad()
def tree_skeleton(
    xy: torch.Tensor,
    joint_ids: list[int] | tuple[int, ...],
    size: int,
    kernel: int = 5,
    length: float = 0.5,
) -> torch.Tensor:
    """Links a fixed set of joints by the tree that best follows the object in each image.

    Every joint in ``joint_ids`` is linked (a spanning tree, so the published joint set
    cannot change from image to image); which pairs are linked is decided per image. A
    pair's cost is the fraction of its segment off the object, the object being taken as
    the occupancy of *all* P points (:func:`occupancy`, what ℓ_uniform uses), plus
    ``length`` times its length as a fraction of the image side (between two trees that
    follow the object equally well, the one of shorter links). Prim's algorithm, batched.

    Args:
        xy: (B, P, 2) point pixels.
        joint_ids: K >= 2 point ids that are the joints.
        size: image side in pixels.
        kernel: max-pool kernel of the occupancy.
        length: weight of the length term.

    Returns:
        (B, P, P) symmetric {0, 1} S with an empty diagonal, non-zero only between joints.
    """
    B, P, _ = xy.shape
    ids = torch.as_tensor(list(joint_ids), dtype=torch.long, device=xy.device)
    K = ids.numel()
    sub = xy[:, ids].float()  # (B, K, 2)
    i, j = pair_indices(K, xy.device)
    gap = 1.0 - link_coverage(occupancy(xy.float(), size, size, kernel), sub)  # (B, E)
    cost_e = gap + length * (sub[:, i] - sub[:, j]).norm(dim=-1) / size
    cost = sub.new_full((B, K, K), float("inf"))
    cost[:, i, j] = cost_e
    cost[:, j, i] = cost_e
    rows = torch.arange(B, device=xy.device)
    in_tree = torch.zeros(B, K, dtype=torch.bool, device=xy.device)
    in_tree[:, 0] = True
    best, parent = cost[:, 0].clone(), torch.zeros(B, K, dtype=torch.long, device=xy.device)
    S = xy.new_zeros(B, P, P)
    for _ in range(K - 1):
        k = best.masked_fill(in_tree, float("inf")).argmin(-1)  # (B,) next joint
        a, b = ids[k], ids[parent[rows, k]]
        S[rows, a, b] = 1.0
        S[rows, b, a] = 1.0
        in_tree[rows, k] = True
        closer = cost[rows, k] < best  # (B, K)
        best = torch.where(closer, cost[rows, k], best)
        parent = torch.where(closer, k[:, None].expand(-1, K), parent)
    return S
