"""A discrete minimiser of the skeleton losses: the best binary graph for a pair of frames.

ψ is trained by gradient descent through a relaxed S (paper Sec. III-B). With binary S
the same losses can instead be minimised directly for one training pair, given its
points in both frames: this module does it greedily. It serves two purposes:

* a diagnostic: how good are the graphs that minimise our losses (scored against the
  ground truth by the evaluation protocol, with no network in between)?
* a target: ψ can be trained to predict, from the source image alone, the graph this
  search finds for the pair (``TrainConfig.psi_target = "search"``), instead of following
  the relaxed losses' gradients, which for a head whose weights all pairs share drive
  every link to the same value (docs/model.md).

The objective of a link set L for one pair (source s, target t), with the weights of
:class:`~skeleton_perception.training.losses.LossConfig` (its terms are the losses of
``losses.py`` evaluated at binary S; ``max`` is exact, as the relaxation's forward is):

    - near   * sum_f mean_p max_{e in L} exp(-d_f[p || e] / near_scale)
    + sparse_joints * (|joints(L)| / P)^2 + sparse_links * (|L| / E)^2
    + uniform * sum_f sum_{e in L} [δ_f(e) < α] / #{e : δ_f(e) < α}
    + length  * sum_f sum_{e in L} hinge_f(e) / E
    + rigid   * sum_{e in L} |l_s(e) - l_t(e)| / size / P

Greedy: start empty; add the link that lowers the objective most; stop when none does.
"""

from __future__ import annotations

import torch

from skeleton_perception.nn.skeleton_net import pair_indices, pairs_to_matrix

from .losses import LossConfig, link_coverage, occupancy, segment_distance


def _frame_terms(xy: torch.Tensor, size: int, cfg: LossConfig):
    """Per-frame pieces: closeness (B, P, E), uniform cost (B, E), length hinge (B, E)."""
    B, P, _ = xy.shape
    i, j = pair_indices(P, xy.device)
    clo = torch.exp(-segment_distance(xy, xy[:, i], xy[:, j]) / cfg.near_scale)  # (B, P, E)
    E = i.numel()
    uniform = xy.new_zeros(B, E)
    if cfg.use_uniform and cfg.uniform:
        delta = link_coverage(
            occupancy(xy, size, size, cfg.uniform_kernel), xy, cfg.uniform_samples
        )
        gap = (delta < cfg.uniform_alpha).to(xy.dtype)
        uniform = cfg.uniform * gap / gap.sum(-1, keepdim=True).clamp_min(1.0)
    length = (xy[:, i] - xy[:, j]).norm(dim=-1) / size
    hinge = torch.relu(cfg.length_min - length) + torch.relu(length - cfg.length_max)
    return clo, uniform, cfg.length * hinge / E


@torch.no_grad()
def search_skeleton(
    xy_source: torch.Tensor,
    xy_target: torch.Tensor,
    size: int,
    cfg: LossConfig,
    max_links: int | None = None,
) -> torch.Tensor:
    """Greedy binary minimiser of the skeleton objective (module docstring).

    Args:
        xy_source: (B, P, 2) point pixels in the source frame.
        xy_target: (B, P, 2) the same points in the target frame.
        size: image side in pixels.
        cfg: loss weights and hyperparameters.
        max_links: stop after this many links (default: P - 1).

    Returns:
        (B, P, P) symmetric {0, 1} S with an empty diagonal.
    """
    B, P, _ = xy_source.shape
    xy_source, xy_target = xy_source.float(), xy_target.float()
    i, j = pair_indices(P, xy_source.device)
    E = i.numel()
    clo_s, uni_s, len_s = _frame_terms(xy_source, size, cfg)
    clo_t, uni_t, len_t = _frame_terms(xy_target, size, cfg)
    # the per-link cost that does not depend on the rest of the graph
    fixed = uni_s + uni_t + len_s + len_t  # (B, E)
    if cfg.rigid:
        ls = (xy_source[:, i] - xy_source[:, j]).norm(dim=-1)
        lt = (xy_target[:, i] - xy_target[:, j]).norm(dim=-1)
        fixed = fixed + cfg.rigid * (ls - lt).abs() / size / P
    sparse_j = cfg.sparse_joints if cfg.use_sparse else 0.0
    sparse_l = cfg.sparse_links if cfg.use_sparse else 0.0
    best_s = xy_source.new_zeros(B, P)  # each point's closeness to its nearest link
    best_t = xy_source.new_zeros(B, P)
    is_joint = torch.zeros(B, P, dtype=torch.bool, device=xy_source.device)
    chosen = torch.zeros(B, E, dtype=torch.bool, device=xy_source.device)
    active = torch.ones(B, dtype=torch.bool, device=xy_source.device)
    n_links = xy_source.new_zeros(B)
    for _ in range(P - 1 if max_links is None else max_links):
        gain = (clo_s - best_s[..., None]).clamp_min(0).mean(1)  # (B, E)
        gain = gain + (clo_t - best_t[..., None]).clamp_min(0).mean(1)
        joints = is_joint.sum(-1, keepdim=True).to(gain.dtype)  # (B, 1)
        new = (~is_joint[:, i]).to(gain.dtype) + (~is_joint[:, j]).to(gain.dtype)  # (B, E)
        d_joints = sparse_j * ((joints + new) ** 2 - joints**2) / P**2
        d_links = sparse_l * ((n_links + 1) ** 2 - n_links**2)[:, None] / E**2
        delta = -cfg.near * gain + d_joints + d_links + fixed
        delta = delta.masked_fill(chosen, float("inf"))
        value, e = delta.min(-1)  # (B,)
        take = active & (value < 0)
        if not take.any():
            break
        b = take.nonzero()[:, 0]
        eb = e[b]
        chosen[b, eb] = True
        is_joint[b, i[eb]] = True
        is_joint[b, j[eb]] = True
        n_links[b] += 1
        best_s[b] = torch.maximum(best_s[b], clo_s[b, :, eb])
        best_t[b] = torch.maximum(best_t[b], clo_t[b, :, eb])
        active = take
    return pairs_to_matrix(chosen.to(xy_source.dtype), P)
