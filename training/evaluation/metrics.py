"""The paper's metrics as small pure functions (Tables I and II).

Structure (Table I): Acc, Bcc, F1, Prec, Rec of the binarised connectivity S^b over pairs of
predicted joints, against the ground-truth adjacency of their matched joints.

Joints (Table II): Dist, Consistency, F1, Prec, Rec, Diff.

Every function here works on one episode's arrays or on already pooled counts;
:mod:`skeleton_perception.training.evaluation.protocol` wires them into
evaluate -> accumulate -> summarise. A new metric is one function here plus one line there.
"""

from __future__ import annotations

import math

import numpy as np

# Order of the confusion counts everywhere (arrays of shape (..., 4)).
CONFUSION = ("tp", "fp", "tn", "fn")


def _ratio(num: float, den: float) -> float:
    """Num / den, NaN when the denominator is zero (the metric is undefined)."""
    return float(num) / float(den) if den > 0 else math.nan


def harmonic_f1(precision: float, recall: float) -> float:
    """F1 as the harmonic mean of a precision and a recall (0 when both are 0)."""
    if math.isnan(precision) or math.isnan(recall):
        return math.nan
    total = precision + recall
    return 2.0 * precision * recall / total if total > 0 else 0.0


# --- Structure ------------------------------------------------------------------------


def structure_confusion(
    pred_adjacency: np.ndarray,
    members: np.ndarray,
    match: np.ndarray,
    gt_adjacency: np.ndarray,
) -> np.ndarray:
    """Confusion counts of S^b against S^gt over all pairs of predicted joints.

    For every unordered pair (i, j), i < j, of the predicted joints in ``members``, the
    prediction S^b_ij is compared with S^gt_kl, where k and l are the ground-truth joints
    matched to i and j on the whole episode. A pair in which i or j has no match counts
    as ground truth "not linked" (a link to a spurious joint is a false positive; no link
    is a true negative). The paper does not say; this choice is applied to every method.

    Args:
        pred_adjacency: (N, N) bool, binarised predicted connectivity between trajectories.
        members: (M,) int64 indices of the predicted joints taking part (those present in
            the frame S came from).
        match: (N,) int64 episode matching, ground-truth index or -1.
        gt_adjacency: (J, J) bool ground-truth adjacency.

    Returns:
        (4,) int64 counts in :data:`CONFUSION` order (tp, fp, tn, fn).
    """
    members = np.asarray(members, np.int64)
    i, j = np.triu_indices(members.size, k=1)
    a, b = members[i], members[j]  # (Q,) pairs of trajectory indices
    pred = pred_adjacency[a, b].astype(bool)  # (Q,)
    ka, kb = match[a], match[b]
    both = (ka >= 0) & (kb >= 0)
    truth = np.zeros_like(pred)
    truth[both] = gt_adjacency[ka[both], kb[both]]
    return np.array(
        [
            np.sum(pred & truth),
            np.sum(pred & ~truth),
            np.sum(~pred & ~truth),
            np.sum(~pred & truth),
        ],
        np.int64,
    )


def binary_scores(counts: np.ndarray) -> dict[str, float]:
    """Acc, Bcc, F1, Prec, Rec from confusion counts.

    Args:
        counts: (4,) tp, fp, tn, fn (pooled over episodes, or of one episode).

    Returns:
        Dict with ``acc``, ``bcc`` (mean of the true-positive and true-negative rates),
        ``f1``, ``prec``, ``rec``; NaN where a denominator is zero (``bcc`` then uses the
        rate that is defined).
    """
    tp, fp, tn, fn = (float(c) for c in counts)
    prec = _ratio(tp, tp + fp)
    rec = _ratio(tp, tp + fn)
    tnr = _ratio(tn, tn + fp)
    rates = [r for r in (rec, tnr) if not math.isnan(r)]
    return {
        "acc": _ratio(tp + tn, tp + fp + tn + fn),
        "bcc": float(np.mean(rates)) if rates else math.nan,
        "f1": harmonic_f1(prec, rec) if not (math.isnan(prec) or math.isnan(rec)) else math.nan,
        "prec": prec,
        "rec": rec,
    }


# --- Joints ---------------------------------------------------------------------------


def kept_pairs(
    distances: np.ndarray, match: np.ndarray, epsilon: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame distances of the episode matches and which of them pass ε.

    Args:
        distances: (T, N, J) per-frame distances (normalised units), NaN where absent.
        match: (N,) episode matching, ground-truth index or -1.
        epsilon: the dataset's distance threshold.

    Returns:
        ``matched_distance`` (T, N) float64, the distance of each predicted joint to its
        episode match in each frame (NaN where either is absent or it has no match), and
        ``kept`` (T, N) bool, where that distance is at most ε.
    """
    num_frames, num_pred, _ = distances.shape
    matched = np.full((num_frames, num_pred), np.nan)
    has = match >= 0
    matched[:, has] = distances[:, np.flatnonzero(has), match[has]]
    with np.errstate(invalid="ignore"):
        kept = matched <= epsilon
    return matched, kept


def frame_precision_recall(
    num_kept: np.ndarray, num_pred: np.ndarray, num_gt: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame precision and recall of the kept matches.

    Conventions where a frame has nothing to divide by: with no predicted joints,
    precision is 1 if there are no ground-truth joints either, else 0; with no visible
    ground-truth joints, recall is 1 if nothing was predicted, else 0. So a method cannot
    gain by predicting nothing on hard frames.

    Args:
        num_kept: (T,) matches within ε per frame.
        num_pred: (T,) predicted joints per frame.
        num_gt: (T,) visible ground-truth joints per frame.

    Returns:
        ``precision`` (T,) and ``recall`` (T,) float64.
    """
    num_kept, num_pred, num_gt = (np.asarray(a, np.float64) for a in (num_kept, num_pred, num_gt))
    empty_pred, empty_gt = num_pred == 0, num_gt == 0
    precision = np.where(empty_pred, empty_gt * 1.0, num_kept / np.maximum(num_pred, 1))
    recall = np.where(empty_gt, empty_pred * 1.0, num_kept / np.maximum(num_gt, 1))
    return precision, recall


def harmonic_f1_frames(precision: np.ndarray, recall: np.ndarray) -> float:
    """Mean over frames of each frame's own F1 (reported beside the headline F1).

    Args:
        precision: (F,) per-frame precision.
        recall: (F,) per-frame recall.
    """
    if np.size(precision) == 0:
        return math.nan
    total = precision + recall
    f1 = np.where(total > 0, 2 * precision * recall / np.maximum(total, 1e-12), 0.0)
    return float(np.mean(f1))


def consistency_flags(
    frame_match: np.ndarray, match: np.ndarray, present: np.ndarray, gt_visible: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Whether each predicted joint's per-frame match equals its whole-episode match.

    A (frame, joint) entry counts when the predicted joint is present in the frame, has an
    episode match, and that ground-truth joint is visible in the frame (otherwise the
    frame matching could not pick it, and the frame says nothing about tracking).

    Args:
        frame_match: (T, N) Hungarian match on each frame's distances, -1 if none.
        match: (N,) Hungarian match on whole-episode mean distances, -1 if none.
        present: (T, N) bool, predicted joint present.
        gt_visible: (T, J) bool, ground-truth joint visible.

    Returns:
        ``consistent`` (T, N) bool and ``counted`` (T, N) bool (the entries that count).
    """
    has = match >= 0
    counted = present & has[None, :]
    counted[:, has] &= gt_visible[:, match[has]]
    consistent = counted & (frame_match == match[None, :])
    return consistent, counted


def near_border(
    joints: np.ndarray, present: np.ndarray, image_size: tuple[int, int], margin_px: float = 2.0
) -> np.ndarray:
    """Which present predicted joints lie within ``margin_px`` of the image border.

    Pixel centres are at integer coordinates (the top-left pixel's centre is (0, 0)), so
    the image covers ``[-0.5, W - 0.5] x [-0.5, H - 0.5]``; a joint's distance to the
    border is its distance to the nearest edge of that rectangle (negative outside it).

    Args:
        joints: (T, N, 2) predicted pixel xy (any value where absent).
        present: (T, N) bool, predicted joint present.
        image_size: (width, height) in pixels.
        margin_px: A joint at most this far from the border counts.

    Returns:
        (T, N) bool, present and within ``margin_px`` of the border.
    """
    width, height = image_size
    x, y = joints[..., 0], joints[..., 1]
    to_edge = np.minimum.reduce([x + 0.5, width - 0.5 - x, y + 0.5, height - 0.5 - y])
    with np.errstate(invalid="ignore"):
        return present.astype(bool) & ~(to_edge > margin_px)


def border_fraction(num_border: np.ndarray, num_pred: np.ndarray) -> float:
    """Fraction of all predicted joints that lie on the border (NaN if none predicted).

    Args:
        num_border: (F,) per-frame counts from :func:`near_border`.
        num_pred: (F,) predicted joints per frame.
    """
    return _ratio(np.sum(num_border), np.sum(num_pred))
