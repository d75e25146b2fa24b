"""The training losses (paper Sec. III, supplementary VI), each a small function.

Shapes: B batch, P points, E = P(P-1)/2 unordered pairs (``triu_indices`` order),
H x W image. Point locations are (B, P, H, W) maps (each summing to 1) plus hard pixel
xy (B, P, 2) (the Gumbel-max samples). Distances are in network pixels.

Normalisation (the paper gives sums without scale; the weights in
``configs/*.yaml`` are the paper's and assume this): every loss is a mean over the
batch; sums over points or pairs are means, except where the equation itself is a ratio
(ℓ_uniform) or a norm (ℓ_sparse, taken as a power mean (mean x^p)^(1/p) so that it lies
in [0, 1]). See docs/model.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from skeleton_perception.nn.skeleton_net import pair_indices
from skeleton_perception.nn.structure_search import (
    SearchConfig,
    link_coverage,
    occupancy,
    search_skeleton,
    segment_distance,
    tree_skeleton,
)


@dataclass
class LossConfig:
    """Loss weights (paper table, supplementary VIII-b) and loss hyperparameters.

    Attributes:
        recon: weight of ℓ_recon.
        contiguity: weight of ℓ_contiguity. (ℓ_near's weight is ``model.search.near``,
            the one weight of ℓ_near in training and in the search at inference.)
        sparse_joints: weight of the joint term of ℓ_sparse.
        sparse_links: weight of the link term of ℓ_sparse.
        uniform: weight of ℓ_uniform.
        length: weight of ℓ_length.
        use_uniform: False drops ℓ_uniform (Table IV ablation).
        use_sparse: False drops ℓ_sparse (Table IV ablation).
        pyramid_levels: levels of the reconstruction pyramid.
        contiguity_kernel: max-pool kernel β of the neighbour matrices (eq. 6).
        contiguity_stride: stride of that max-pool (1 = every pixel, as the paper).
        near_topk: pixels of each point's map entering ℓ_near (the most likely ones).
        near_scale: pixels; closeness is exp(-d / near_scale).
        near_temperature: softmax temperature of the argmax·softmax max relaxation.
        sparse_p: p of the p-norms, 0 < p < 1.
        uniform_kernel: max-pool kernel of the foreground occupancy (eq. 7).
        uniform_alpha: α, links with δ < α are penalised (eq. 5).
        uniform_samples: samples along each segment when measuring δ.
        length_min: l_min as a fraction of the image side (eq. 8).
        length_max: l_max as a fraction of the image side.
        skeleton_grad_to_points: let ℓ_near / ℓ_length gradients reach π's point maps.
            Off by default: ℓ_near is trivially minimised by contracting every point
            onto the same spot (each point is pulled towards segments spanned by the
            others), which is what happened within 200 steps on Cartpoles; with it off
            the skeleton losses train ψ only and the points are shaped by ℓ_recon and
            ℓ_contiguity (Sec. III-A), the skeleton by Sec. III-B.
        link_logit_l2: weight of mean_b sum_ij z_ij^2 on ψ's raw link logits (not in
            the paper; 0 = off). Keeps S out of saturation so it can vary with the image.
        link_logit_excess: weight of mean_b sum_ij relu(|z_ij| - c)^2, c =
            ``link_logit_bound`` (not in the paper; 0 = off). Zero inside [-c, c]; pulls
            back logits that drifted past ψ's clip, where S is flat and no loss reaches
            them (measured: every logit of the step-3000 ψ sat at |z| ~ 8-11 > c = 4).
        link_logit_bound: c of ``link_logit_excess`` (normally ``model.link_logit_clip``).
        points_near: weight of ℓ_near with S the link set searched on the source's points
            (no gradient to S; its gradient reaches π's point maps only). Not in the
            paper's form: the paper's skeleton losses reach π through ψ's S, which on our
            data collapsed the points (``skeleton_grad_to_points``); here the structure is
            the one the model predicts at inference (``model.search``), and a small weight
            next to ℓ_recon nudges the points onto that skeleton's links in both frames.
            0 = off.
        points_length: weight of ℓ_length over the same searched links (gradient to π's
            expected point xy γ). 0 = off.
        points_cover: weight of :func:`cover_loss`: those links, drawn as tubes between
            the target's points, must cover the target's foreground (where it differs
            from B's background) and nothing else. 0 = off.
        cover_sigma: px; the tubes' Gaussian width.
        cover_shapes: also learn a shape per joint and per link (:class:`CoverShapes`):
            each joint is drawn as an axis-aligned rounded box of its own size (a cart,
            a torso) and each link as a tube of its own width, all starting at
            ``cover_sigma``; they are trained with the points and never used at inference.
        cover_ignore_bodies: px; when > 0, the foreground's thick parts (what survives
            an opening with a square of side 2 r + 1: a cart, a torso, not a limb) are
            left out of the cover loss (:func:`thick_parts`), so that no tube is asked
            to draw them. 0 = off.
        cover_threshold: summed absolute RGB difference from B above which a pixel is
            foreground.
    """

    recon: float = 10.0
    contiguity: float = 0.001
    sparse_joints: float = 0.1
    sparse_links: float = 500.0
    uniform: float = 10.0
    length: float = 100.0
    use_uniform: bool = True
    use_sparse: bool = True
    pyramid_levels: int = 5
    contiguity_kernel: int = 7
    contiguity_stride: int = 1
    near_topk: int = 4
    near_scale: float = 2.0
    near_temperature: float = 0.1
    sparse_p: float = 0.5
    uniform_kernel: int = 5
    uniform_alpha: float = 0.8
    uniform_samples: int = 32
    length_min: float = 0.05
    length_max: float = 0.75
    skeleton_grad_to_points: bool = False
    link_logit_l2: float = 0.0
    link_logit_excess: float = 0.0
    link_logit_bound: float = 4.0
    points_near: float = 0.0
    points_length: float = 0.0
    points_cover: float = 0.0
    cover_sigma: float = 1.5
    cover_threshold: float = 0.2
    cover_shapes: bool = False
    cover_ignore_bodies: int = 0


# --- ℓ_recon ----------------------------------------------------------------------------


def recon_loss(recon: torch.Tensor, target: torch.Tensor, levels: int = 5) -> torch.Tensor:
    """Eq. 1 over a scale-space pyramid: sum over levels of the per-pixel MSE.

    Level 0 is full resolution; each next level halves it with a 2x2 average (a box
    scale space; the paper does not name its filter).
    """
    loss = recon.new_zeros(())
    for level in range(levels):
        if level:
            recon, target = F.avg_pool2d(recon, 2), F.avg_pool2d(target, 2)
        loss = loss + F.mse_loss(recon, target)
    return loss


# --- ℓ_contiguity -----------------------------------------------------------------------


def neighbour_matrix(
    maps: torch.Tensor, kernel: int = 7, stride: int = 1, sharpness: int = 8
) -> torch.Tensor:
    """Eq. 6: N_pq = max over pixels of maxpool(m_p) * maxpool(m_q).

    Computed without a P x P x HW intermediate: the max over pixels of x = a_p * a_q
    is taken as the Lehmer mean sum(x^(k+1)) / sum(x^k) (k = ``sharpness``). It equals
    the max when the largest products tie (one-hot maps: exactly 1 or 0), never exceeds
    it, tends to it as k grows, and gives every pixel a gradient. Both sums are
    (P x HW) @ (HW x P) matrix products. Each map is first scaled to peak 1 (the Lehmer
    mean is homogeneous, so the scales factor out exactly) to keep x^k from underflowing.

    Args:
        maps: (B, P, H, W) location maps.
        kernel: max-pool kernel β.
        stride: max-pool stride (1: every pixel, as the paper).
        sharpness: k of the Lehmer mean.

    Returns:
        (B, P, P) neighbour matrix (diagonal included).
    """
    r = kernel // 2  # separable max-pool: rows then columns (same result, 3x faster)
    pooled = F.max_pool2d(maps, (1, kernel), stride=(1, stride), padding=(0, r))
    pooled = F.max_pool2d(pooled, (kernel, 1), stride=(stride, 1), padding=(r, 0)).flatten(2)
    scale = pooled.amax(-1, keepdim=True).clamp_min(1e-12)  # (B, P, 1)
    a = pooled / scale
    ak = a.pow(sharpness)
    den = ak @ ak.transpose(1, 2)  # (B, P, P): sum over pixels of (a_p a_q)^k
    ak1 = ak * a
    num = ak1 @ ak1.transpose(1, 2)
    return num / (den + 1e-20) * (scale * scale.transpose(1, 2))


def contiguity_loss(n_source: torch.Tensor, n_target: torch.Tensor) -> torch.Tensor:
    """Eq. 2: -mean_p max_{q != p} N^s_pq N^t_pq (neighbour matrices (B, P, P))."""
    P = n_source.shape[-1]
    both = (n_source * n_target).masked_fill(
        torch.eye(P, dtype=torch.bool, device=n_source.device), 0
    )
    return -both.amax(-1).mean()


# --- ℓ_near -----------------------------------------------------------------------------


def relaxed_max(x: torch.Tensor, dim: int = -1, temperature: float = 0.1) -> torch.Tensor:
    """The paper's argmax·softmax relaxation of max.

    Forward: the exact max. Backward: the gradient of sum(x * softmax(x / temperature))
    plus the argmax entry's own, so every entry gets gradient.
    """
    soft = torch.softmax(x / temperature, dim=dim)
    hard = F.one_hot(x.argmax(dim), x.shape[dim]).to(x.dtype).movedim(-1, dim)
    weights = hard + soft - soft.detach()
    return (x * weights).sum(dim)


def near_closeness(
    maps: torch.Tensor, xy_hard: torch.Tensor, topk: int = 4, scale: float = 1.0
) -> torch.Tensor:
    """E_p[exp(-d[p || i, j] / scale)] for every point p and pair (i, j).

    The point p stays categorical: the expectation runs over its map, restricted to its
    ``topk`` most likely pixels (renormalised; ``topk = H*W`` is exact). The segment
    end points are the hard (sampled) pixel locations of i and j.

    Args:
        maps: (B, P, H, W) location maps.
        xy_hard: (B, P, 2) hard pixel xy (segment end points).
        topk: pixels per map.
        scale: distance scale in pixels.

    Returns:
        (B, P, E) closeness in [0, 1].
    """
    B, P, _, W = maps.shape
    prob, index = maps.flatten(2).topk(topk, dim=-1)  # (B, P, k)
    pix = torch.stack([index % W, torch.div(index, W, rounding_mode="floor")], -1).to(maps.dtype)
    i, j = pair_indices(P, maps.device)
    a, b = xy_hard[:, i].detach(), xy_hard[:, j].detach()  # (B, E, 2)
    d = segment_distance(pix.reshape(B, P * topk, 2), a, b).view(B, P, topk, -1)  # (B,P,k,E)
    w = prob / prob.sum(-1, keepdim=True).clamp_min(1e-12)  # (B, P, k)
    return (w[..., None] * torch.exp(-d / scale)).sum(2)


def near_loss(S: torch.Tensor, closeness: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """Eq. 3 for one frame: -mean_p relaxed-max_ij S_ij exp(-d[p || i, j]).

    Args:
        S: (B, P, P) connectivity of the source.
        closeness: (B, P, E) from :func:`near_closeness`.
        temperature: of the argmax·softmax relaxation.
    """
    i, j = pair_indices(S.shape[-1], S.device)
    x = S[:, i, j][:, None, :] * closeness  # (B, P, E)
    return -relaxed_max(x, dim=-1, temperature=temperature).mean()


# --- ℓ_sparse ---------------------------------------------------------------------------


def sparse_loss(S: torch.Tensor, p: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 4 as power means: links (mean_ij S_ij^p)^(1/p), joints (mean_i max_j S_ij^p)^(1/p).

    Returns:
        (links term, joints term), each a scalar in [0, 1].
    """
    P = S.shape[-1]
    i, j = pair_indices(P, S.device)
    links = S[:, i, j].clamp_min(1e-6).pow(p).mean(-1).pow(1 / p)
    joints = S.amax(-1).clamp_min(1e-6).pow(p).mean(-1).pow(1 / p)
    return links.mean(), joints.mean()


# --- ℓ_uniform --------------------------------------------------------------------------


def uniform_loss(S: torch.Tensor, delta: torch.Tensor, alpha: float = 0.8) -> torch.Tensor:
    """Eq. 5 for one frame: sum_ij S_ij [δ_ij < α] / sum_ij [δ_ij < α] (batch mean).

    Args:
        S: (B, P, P) connectivity.
        delta: (B, E) coverage of every pair's segment.
        alpha: coverage threshold.
    """
    i, j = pair_indices(S.shape[-1], S.device)
    gap = (delta < alpha).to(S.dtype)
    return ((S[:, i, j] * gap).sum(-1) / gap.sum(-1).clamp_min(1.0)).mean()


# --- ℓ_length ---------------------------------------------------------------------------


def length_loss(
    S: torch.Tensor, xy: torch.Tensor, size: int, lmin: float, lmax: float
) -> torch.Tensor:
    """Eq. 8 for one frame: mean_ij S_ij (relu(l_min - l_ij) + relu(l_ij - l_max)).

    Args:
        S: (B, P, P) connectivity.
        xy: (B, P, 2) expected pixel xy γ (differentiable).
        size: image side; lengths are fractions of it.
        lmin: l_min (fraction).
        lmax: l_max (fraction).
    """
    i, j = pair_indices(S.shape[-1], S.device)
    length = (xy[:, i] - xy[:, j]).norm(dim=-1) / size  # (B, E)
    hinge = F.relu(lmin - length) + F.relu(length - lmax)
    return (S[:, i, j] * hinge).mean()


def logit_excess(z: torch.Tensor, bound: float) -> torch.Tensor:
    """mean_b sum_ij relu(|z_ij| - bound)^2: how far the link logits lie past the clip."""
    return F.relu(z.abs() - bound).square().sum(-1).mean()


# --- all together -----------------------------------------------------------------------


def frames_near(S: torch.Tensor, frames, cfg: LossConfig) -> torch.Tensor:
    """Eq. 3 summed over frames: the points of each frame against S's links drawn there.

    Args:
        S: (B, P, P) connectivity of the source.
        frames: the point sets (source, target), each with ``maps`` and ``xy_hard``.
        cfg: ``near_topk``, ``near_scale``, ``near_temperature``.
    """
    return sum(
        near_loss(
            S,
            near_closeness(f.maps, f.xy_hard, cfg.near_topk, cfg.near_scale),
            cfg.near_temperature,
        )
        for f in frames
    )


def frames_length(S: torch.Tensor, frames, size: int, cfg: LossConfig) -> torch.Tensor:
    """Eq. 8 summed over frames (each point set's expected xy ``xy``; image side ``size``)."""
    return sum(length_loss(S, f.xy, size, cfg.length_min, cfg.length_max) for f in frames)


def compute_losses(
    out: dict,
    target: torch.Tensor,
    cfg: LossConfig,
    ramp: float = 1.0,
    structure: SearchConfig | None = None,
    joint_ids: Sequence[int] | None = None,
    shapes: CoverShapes | None = None,
) -> dict:
    """All losses of one batch and their weighted total.

    Args:
        out: ``SkeletonModel.forward`` output.
        target: (B, 3, H, W) target images.
        cfg: weights and hyperparameters.
        ramp: in [0, 1], multiplies the ℓ_uniform and ℓ_sparse weights.
        structure: the model's ``search`` config (None: ``SearchConfig()``): its ``near``
            is ℓ_near's weight, and it is the searched objective of ``points_near`` /
            ``points_length``.
        joint_ids: the fixed joints (``model.structure: fixed``): those losses then use
            the tree over them (:func:`tree_skeleton`) instead of the search.
        shapes: the learnt shapes of the cover loss (``cover_shapes``), or None.

    Returns:
        dict of scalar tensors: "total" and each unweighted loss.
    """
    ps, pt, S = out["source"], out["target"], out["S"]
    H, W = target.shape[-2:]
    # the point sets the skeleton losses see (detached unless configured otherwise)
    if cfg.skeleton_grad_to_points:
        ks, kt = ps, pt
    else:
        ks, kt = (type(f)(f.logits, f.maps.detach(), f.xy.detach(), f.xy_hard) for f in (ps, pt))
    parts = {"recon": recon_loss(out["recon"], target, cfg.pyramid_levels)}
    total = cfg.recon * parts["recon"]
    if cfg.contiguity:
        ns = neighbour_matrix(ps.maps, cfg.contiguity_kernel, cfg.contiguity_stride)
        nt = neighbour_matrix(pt.maps, cfg.contiguity_kernel, cfg.contiguity_stride)
        parts["contiguity"] = contiguity_loss(ns, nt)
        total = total + cfg.contiguity * parts["contiguity"]
    skel = total.new_zeros(())  # the skeleton losses' weighted sum
    parts["near"] = frames_near(S, (ks, kt), cfg)
    skel = skel + (structure or SearchConfig()).near * parts["near"]
    if cfg.use_sparse:
        parts["sparse_links"], parts["sparse_joints"] = sparse_loss(S, cfg.sparse_p)
        skel = skel + ramp * (
            cfg.sparse_links * parts["sparse_links"] + cfg.sparse_joints * parts["sparse_joints"]
        )
    if cfg.use_uniform:
        with torch.no_grad():
            deltas = [
                link_coverage(
                    occupancy(f.xy_hard, H, W, cfg.uniform_kernel), f.xy_hard, cfg.uniform_samples
                )
                for f in (ps, pt)
            ]
        parts["uniform"] = sum(uniform_loss(S, d, cfg.uniform_alpha) for d in deltas)
        skel = skel + ramp * cfg.uniform * parts["uniform"]
    if cfg.length:
        parts["length"] = frames_length(S, (ks, kt), W, cfg)
        skel = skel + cfg.length * parts["length"]
    total = total + skel
    if cfg.points_near or cfg.points_length or cfg.points_cover:
        fg = (target - out["background"]).abs().sum(1).detach() > cfg.cover_threshold
        ignore = thick_parts(fg, cfg.cover_ignore_bodies) if cfg.cover_ignore_bodies else None
        total = total + searched_skeleton_losses(
            ps, pt, W, cfg, structure or SearchConfig(), parts, joint_ids, fg, shapes, ignore
        )
    if cfg.link_logit_l2 and "link_logits" in out:
        parts["link_logit_l2"] = out["link_logits"].square().sum(-1).mean()
        total = total + cfg.link_logit_l2 * parts["link_logit_l2"]
    if cfg.link_logit_excess and "link_logits" in out:
        parts["link_logit_excess"] = logit_excess(out["link_logits"], cfg.link_logit_bound)
        total = total + cfg.link_logit_excess * parts["link_logit_excess"]
    parts["total"] = total
    return parts


def searched_skeleton_losses(
    ps,
    pt,
    size: int,
    cfg: LossConfig,
    structure: SearchConfig,
    parts: dict,
    joint_ids: Sequence[int] | None = None,
    foreground: torch.Tensor | None = None,
    shapes: CoverShapes | None = None,
    ignore: torch.Tensor | None = None,
) -> torch.Tensor:
    """ℓ_near, ℓ_length and the cover loss of the source's skeleton, as a force on the points.

    S* is the skeleton the model predicts at inference, computed on the source's sampled
    point pixels (binary, no gradient): the tree over the fixed joints
    (:func:`tree_skeleton`) when ``joint_ids`` is given, else :func:`search_skeleton`.
    Its links, drawn between each frame's own points (same ids), must explain that
    frame's points (eq. 3) and have plausible lengths (eq. 8), source and target alike
    (Sec. III-B), and, drawn in the target, cover the target's ``foreground``
    (:func:`cover_loss`); the gradient moves π's point maps only. Adds "points_near",
    "points_length", "points_cover" and "points_links" (links of S* per image) to
    ``parts``.

    Returns:
        The weighted sum (a scalar tensor).
    """
    with torch.no_grad():
        xy = ps.xy_hard.detach()
        if joint_ids:
            S = tree_skeleton(xy, joint_ids, size).to(ps.maps.dtype)
        else:
            S = search_skeleton([xy], size, structure).to(ps.maps.dtype)
    i, j = pair_indices(S.shape[-1], S.device)
    parts["points_links"] = S[:, i, j].sum(-1).mean()
    parts["points_near"] = frames_near(S, (ps, pt), cfg)
    parts["points_length"] = frames_length(S, (ps, pt), size, cfg)
    total = cfg.points_near * parts["points_near"] + cfg.points_length * parts["points_length"]
    if cfg.points_cover and foreground is not None:
        parts["points_cover"] = cover_loss(S, pt.xy, foreground, cfg.cover_sigma, shapes, ignore)
        total = total + cfg.points_cover * parts["points_cover"]
    return total


class CoverShapes(torch.nn.Module):
    """The learnt shapes :func:`cover_loss` draws with (training only, one per object).

    A joint's blob is a rounded box, exp(-½((dx/w)⁴ + (dy/h)⁴)), with its own half-sizes
    w and h; a link's tube has its own Gaussian width; all in px and ``sigma`` at the
    start (a Gaussian blob could not grow to cover a box, the rounded box does). A point
    at a cart's hinge can grow a blob that covers the cart, instead of the other points
    leaving their joints to cover its corners with tubes (AutoLink learns a thickness per
    link for the same reason). The parameters are log sizes divided by ``scale``, so that
    Adam's step on them is ``scale`` times larger than on the network's weights.

    Args:
        num_points: P.
        sigma: px, the initial size of every blob and tube.
        scale: the step multiplier.
    """

    def __init__(self, num_points: int, sigma: float, scale: float = 10.0):
        super().__init__()
        self.sigma, self.scale = sigma, scale
        self.blob = torch.nn.Parameter(torch.zeros(num_points, 2))  # (P, 2) log x, y size
        self.tube = torch.nn.Parameter(torch.zeros(num_points * (num_points - 1) // 2))  # (E,)

    def blob_sizes(self) -> torch.Tensor:
        """(P, 2) px, the blobs' sizes along x and y."""
        return self.sigma * torch.exp(self.scale * self.blob)

    def tube_widths(self) -> torch.Tensor:
        """(E,) px, the tubes' widths, over :func:`pair_indices` pairs."""
        return self.sigma * torch.exp(self.scale * self.tube)


def cover_loss(
    S: torch.Tensor,
    xy: torch.Tensor,
    foreground: torch.Tensor,
    sigma: float,
    shapes: CoverShapes | None = None,
    ignore: torch.Tensor | None = None,
) -> torch.Tensor:
    """Binary cross-entropy between the links drawn as tubes and the foreground.

    Each link of S is a Gaussian tube of width ``sigma`` along the segment between the
    frame's points; the drawing is the maximum over the links. A straight tube covers a
    bent limb only if a point sits at the bend, and the whole limb only if the points
    sit at its ends, so the loss moves the points to hinges and tips. With ``shapes``,
    the tubes have their learnt widths and every linked point also draws its blob.

    Args:
        S: (B, P, P) binary links (no gradient).
        xy: (B, P, 2) expected point pixels γ of the frame drawn (differentiable).
        foreground: (B, H, W) bool foreground of that frame.
        sigma: px (unused with ``shapes``).
        shapes: learnt blob and tube sizes, or None.
        ignore: (B, H, W) bool pixels left out of the loss, or None.
    """
    B, H, W = foreground.shape
    i, j = pair_indices(S.shape[-1], S.device)
    used = S[:, i, j].sum(0) > 0  # pairs linked in some image of the batch
    i, j = i[used], j[used]
    target = foreground.reshape(B, -1).to(xy.dtype)  # (B, HW)
    weight = None if ignore is None else (~ignore).reshape(B, -1).to(xy.dtype)  # (B, HW)
    if i.numel() == 0:  # nothing linked: nothing drawn (kept in the graph)
        nothing = torch.full_like(target, 1e-4) + 0 * xy.sum()
        return F.binary_cross_entropy(nothing, target, weight)
    w = S[:, i, j]  # (B, E)
    width = shapes.tube_widths()[used] if shapes is not None else sigma  # (E,) or float
    ys, xs = torch.meshgrid(
        torch.arange(H, device=xy.device, dtype=xy.dtype),
        torch.arange(W, device=xy.device, dtype=xy.dtype),
        indexing="ij",
    )
    grid = torch.stack([xs, ys], -1).reshape(1, H * W, 2).expand(B, -1, -1)  # (B, HW, 2)
    d = segment_distance(grid, xy[:, i], xy[:, j])  # (B, HW, E)
    tube = torch.exp(-0.5 * (d / width).square()) * w[:, None]  # (B, HW, E)
    drawn = tube.amax(-1)  # (B, HW)
    if shapes is not None:
        linked = (S.sum(-1) > 0).to(xy.dtype)  # (B, P)
        ids = linked.sum(0).nonzero()[:, 0]  # points linked in some image
        offset = (grid[:, :, None] - xy[:, None, ids]) / shapes.blob_sizes()[ids]  # (B, HW, K, 2)
        blob = torch.exp(-0.5 * offset.pow(4).sum(-1)) * linked[:, None, ids]  # (B, HW, K)
        drawn = torch.maximum(drawn, blob.amax(-1))
    drawn = drawn.clamp(1e-4, 1 - 1e-4)
    return F.binary_cross_entropy(drawn, target, weight)


def thick_parts(foreground: torch.Tensor, radius: int) -> torch.Tensor:
    """The parts of a mask thicker than 2 ``radius`` + 1 px, grown by one pixel.

    A morphological opening (erosion then dilation, square window of side 2 r + 1, by
    max-pooling): limbs thinner than the window vanish, bodies stay.

    Args:
        foreground: (B, H, W) bool.
        radius: r, px.

    Returns:
        (B, H, W) bool.
    """
    x = foreground[:, None].float()  # (B, 1, H, W)
    k = 2 * radius + 1
    eroded = -F.max_pool2d(-x, k, stride=1, padding=radius)
    opened = F.max_pool2d(eroded, k, stride=1, padding=radius)
    return F.max_pool2d(opened, 3, stride=1, padding=1)[:, 0] > 0


@torch.no_grad()
def foreground_errors(
    source: torch.Tensor,
    target: torch.Tensor,
    recon: torch.Tensor,
    background: torch.Tensor,
    threshold: float = 0.1,
) -> tuple[float, float]:
    """Reconstruction error on moving pixels: with the points vs with B's background alone.

    Without labels, "foreground" is taken as the pixels whose colour changes between
    source and target by more than ``threshold`` (the moving object). If B has learnt a
    blurry copy of the object, the two errors are close; when the points do the work,
    the first is much lower.

    Returns:
        (MSE of the reconstruction, MSE of the background) over those pixels.
    """
    mask = (source - target).abs().amax(1, keepdim=True) > threshold  # (B, 1, H, W)
    n = mask.sum().clamp_min(1) * 3
    err_points = ((recon - target).square() * mask).sum() / n
    err_bg = ((background - target).square() * mask).sum() / n
    return float(err_points), float(err_bg)
