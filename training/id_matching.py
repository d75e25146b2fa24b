"""Which of the student's maps each teacher map is scored against (``distill --match``).

A randomised look may not show which end of a limb the plain look's colours marked, so
``distill`` can ask π for the teacher's set of points rather than its numbering: within
each group of point ids (the published joints, the other points) the teacher's maps are
assigned one-to-one to π's by the Hungarian algorithm on the cross entropy.

The metric matches each id once per episode, so the assignment can be shared. A *chain* is
a set of teacher points, one per frame at most, that are the same part of the object
through an episode; each chain takes one of π's ids for the whole episode. By default a
chain is a teacher id (the teacher's numbering, which drifts as the pose changes:
docs/notebook/appearance.md). :func:`colour_chains` ties the teacher's joints by the plain
twin's part colours instead, which name a part through an episode far more often.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment


def matched_order(
    student: torch.Tensor,
    teacher: torch.Tensor,
    groups: Sequence[Sequence[int]],
    tau: float = 1.0,
    episode: torch.Tensor | None = None,
    chains: np.ndarray | None = None,
) -> torch.Tensor:
    """Per frame, which student map takes each teacher map: (B, P) indices.

    Args:
        student: (B, P, H, W) π logits.
        teacher: (B, P, H, W) teacher logits.
        groups: disjoint lists of point ids; ids outside every group keep their own map.
        tau: softmax temperature of both maps.
        episode: (B,) frames with the same value share their chains' assignment; None:
            every frame its own.
        chains: (B, P) int, the chain of each teacher point within its episode (-1: none,
            matched in its own frame among the ids its episode's chains left); None: each
            teacher id is one chain.
    """
    s = F.log_softmax(student.detach().flatten(2) / tau, dim=-1)  # (B, P, H*W)
    t = F.softmax(teacher.flatten(2) / tau, dim=-1)
    cost = -(t @ s.transpose(1, 2)).cpu().numpy()  # (B, P teacher, P student)
    num, points = cost.shape[:2]
    episode = np.arange(num) if episode is None else episode.cpu().numpy()
    chains = np.tile(np.arange(points), (num, 1)) if chains is None else np.asarray(chains)
    order = np.tile(np.arange(points), (num, 1))  # (B, P)
    for e in np.unique(episode):
        frames = np.flatnonzero(episode == e)
        for group in groups:
            g = np.asarray(group, dtype=np.int64)
            if g.size:
                _assign_group(cost[np.ix_(frames, g, g)], chains[np.ix_(frames, g)], g,
                              order, frames)  # fmt: skip
    return torch.from_numpy(order).to(student.device)


def _assign_group(cost, chains, ids, order, frames) -> None:
    """One episode's assignment within one group, written into ``order``.

    Args:
        cost: (F, G, G) cross entropy of teacher point i against student point j.
        chains: (F, G) chain labels (-1: none).
        ids: (G,) the group's point ids.
        order: (B, P) written in place at ``frames``.
        frames: (F,) the episode's rows of ``order``.
    """
    labels = np.unique(chains[chains >= 0])
    slot = {}
    if labels.size:
        summed = np.stack([cost[chains == c].sum(0) for c in labels])  # (C, G)
        rows, cols = linear_sum_assignment(summed)
        slot = dict(zip(labels[rows].tolist(), cols.tolist(), strict=True))
    for k, f in enumerate(frames):
        fixed = {i: slot[c] for i, c in enumerate(chains[k].tolist()) if c in slot}
        rest_t = [i for i in range(len(ids)) if i not in fixed]
        rest_s = sorted(set(range(len(ids))) - set(fixed.values()))
        if rest_t:
            rows, cols = linear_sum_assignment(cost[k][np.ix_(rest_t, rest_s)])
            fixed.update({rest_t[r]: rest_s[c] for r, c in zip(rows, cols, strict=True)})
        for i, j in fixed.items():
            order[f, ids[i]] = ids[j]


def colour_signatures(
    plain: torch.Tensor, xy: torch.Tensor, radius: int = 2, object_gap: float = 0.12
) -> np.ndarray:
    """The mean colour of the object's pixels near each point of a plain-look frame.

    The plain look draws the background in flat colours and every part in its own bright
    colour, so the colours next to a point name the part (or the two parts at a hinge).

    Args:
        plain: (B, 3, H, W) plain-look frames in [0, 1].
        xy: (B, P, 2) pixel xy.
        radius: half side of the square of pixels looked at.
        object_gap: a pixel is the object's when some channel differs from the frame's
            median colour by more than this.

    Returns:
        (B, P, 3) mean colours; NaN where no object pixel is near.
    """
    plain = plain.detach().cpu().float()
    median = plain.flatten(2).median(-1).values[:, :, None, None]  # (B, 3, 1, 1)
    obj = ((plain - median).abs().amax(1) > object_gap).numpy()  # (B, H, W)
    images = plain.numpy()
    out = np.full((*xy.shape[:2], 3), np.nan)
    for b, points in enumerate(xy.detach().cpu().long().tolist()):
        for p, (x, y) in enumerate(points):
            ys = slice(max(y - radius, 0), y + radius + 1)
            xs = slice(max(x - radius, 0), x + radius + 1)
            near = obj[b, ys, xs]
            if near.any():
                out[b, p] = images[b][:, ys, xs][:, near].mean(-1)
    return out


def colour_chains(
    signatures: np.ndarray,
    episode: torch.Tensor,
    ids: Sequence[int],
    max_distance: float = 0.12,
    id_change: float = 0.02,
) -> np.ndarray:
    """Chains of points tied across an episode's frames by their colour signatures.

    Every later frame's points are tied to the episode's first frame's by the Hungarian
    algorithm on the distance between signatures, plus ``id_change`` where the teacher's
    ids differ (between points of one part, the teacher's numbering decides); ties at
    ``max_distance`` or more are dropped.

    Args:
        signatures: (B, P, 3) from :func:`colour_signatures` (NaN: no colour).
        episode: (B,) episode of each frame.
        ids: the point ids that may be chained (the others are their own chain).
        max_distance: largest signature distance of a tie.
        id_change: added to a tie between points of different teacher ids.

    Returns:
        (B, P) int: a chained point's chain is its first-frame point's id; an unchained
        one of ``ids`` -1; any other point its own id.
    """
    num, points = signatures.shape[:2]
    ids = np.asarray(ids, dtype=np.int64)
    chains = np.tile(np.arange(points), (num, 1))
    chains[:, ids] = -1
    changed = id_change * (1.0 - np.eye(len(ids)))
    episode = episode.cpu().numpy()
    for e in np.unique(episode):
        first, *later = np.flatnonzero(episode == e)
        ref = signatures[first, ids]  # (G, 3)
        has = ~np.isnan(ref[:, 0])
        chains[first, ids[has]] = ids[has]
        for f in later:
            dist = np.linalg.norm(signatures[f, ids][:, None] - ref[None], axis=-1) + changed
            dist = np.where(np.isnan(dist), 1e3, dist)  # a point without colour ties nothing
            rows, cols = linear_sum_assignment(dist)
            keep = dist[rows, cols] < max_distance
            chains[f, ids[rows[keep]]] = ids[cols[keep]]
    return chains
