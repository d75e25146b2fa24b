"""Matching predicted joints to ground-truth joints (paper section IV, "Evaluation protocol").

Coordinates are normalised to [-1, 1] before any distance is taken: pixel centre 0 maps to
-1 and pixel centre ``W - 1`` (``H - 1``) maps to +1, i.e. ``u = 2 x / (W - 1) - 1``, the
same grid as a spatial softmax over ``linspace(-1, 1, W)``. Distances are Euclidean in that
space, so ε and Dist are in the paper's units.

Two matchings are used:

* **Episode matching** (the paper's): a cost matrix of mean Euclidean distances between
  each predicted trajectory and each ground-truth trajectory over the frames where both
  exist, solved with the Hungarian algorithm (:func:`scipy.optimize.linear_sum_assignment`).
* **Frame matching** (for Consistency only): the same Hungarian algorithm on one frame's
  distances, among the predicted joints present and the ground-truth joints visible there.

A pair that never co-occurs has no mean distance; it gets :data:`NO_OVERLAP_COST`, larger
than any real mean distance (at most ``2 * sqrt(2)``), so the Hungarian algorithm uses it
only when nothing else is left; such a match can never pass ε and so counts for nothing.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

# Cost of a (prediction, ground truth) pair with no frame in common (> 2 * sqrt(2)).
NO_OVERLAP_COST = 1.0e3


def normalise_xy(xy: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """Maps pixel xy to [-1, 1] (pixel centre 0 -> -1, pixel centre W-1 -> +1).

    Args:
        xy: (..., 2) pixel coordinates, x right, y down.
        image_size: (width, height) of the image the pixels refer to.

    Returns:
        (..., 2) float64 normalised coordinates.
    """
    width, height = image_size
    if width < 2 or height < 2:
        raise ValueError(f"image_size must be at least 2x2 pixels, got {image_size}")
    scale = np.array([2.0 / (width - 1), 2.0 / (height - 1)])
    return np.asarray(xy, np.float64) * scale - 1.0


def pairwise_distances(
    pred: np.ndarray, pred_present: np.ndarray, gt: np.ndarray, gt_visible: np.ndarray
) -> np.ndarray:
    """Per-frame Euclidean distances between every predicted and ground-truth joint.

    Args:
        pred: (T, N, 2) predicted joints, normalised coordinates.
        pred_present: (T, N) bool, whether predicted joint n exists in frame t.
        gt: (T, J, 2) ground-truth joints, normalised coordinates.
        gt_visible: (T, J) bool, whether ground-truth joint j is visible in frame t.

    Returns:
        (T, N, J) float64 distances; NaN where either joint is absent.
    """
    dist = np.linalg.norm(pred[:, :, None, :] - gt[:, None, :, :], axis=-1)  # (T, N, J)
    valid = pred_present[:, :, None] & gt_visible[:, None, :]
    return np.where(valid, dist, np.nan)


def hungarian(cost: np.ndarray) -> np.ndarray:
    """Minimum-cost one-to-one assignment of rows to columns.

    Args:
        cost: (N, J) finite costs.

    Returns:
        (N,) int64: the column matched to each row, -1 for rows left unmatched
        (when N > J, or for an empty side).
    """
    match = np.full(cost.shape[0], -1, np.int64)
    if cost.size == 0:
        return match
    rows, cols = linear_sum_assignment(cost)
    match[rows] = cols
    return match


def episode_cost(distances: np.ndarray) -> np.ndarray:
    """Mean distance over the frames where both joints exist.

    Args:
        distances: (T, N, J) per-frame distances, NaN where either joint is absent.

    Returns:
        (N, J) float64 mean distances; :data:`NO_OVERLAP_COST` for pairs never co-present.
    """
    count = np.sum(~np.isnan(distances), axis=0)  # (N, J)
    total = np.nansum(distances, axis=0)  # (N, J)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
    return np.where(count > 0, mean, NO_OVERLAP_COST)


def match_episode(distances: np.ndarray) -> np.ndarray:
    """The paper's matching: Hungarian on whole-episode mean distances.

    Args:
        distances: (T, N, J) per-frame distances, NaN where either joint is absent.

    Returns:
        (N,) int64 ground-truth index matched to each predicted trajectory, -1 if none.
    """
    return hungarian(episode_cost(distances))


def match_frames(distances: np.ndarray) -> np.ndarray:
    """Hungarian matching on each frame's own distances (for the Consistency metric).

    Only predicted joints present in the frame and ground-truth joints visible in it take
    part.

    Args:
        distances: (T, N, J) per-frame distances, NaN where either joint is absent.

    Returns:
        (T, N) int64 ground-truth index matched to predicted joint n in frame t, -1 where
        the joint is absent or left unmatched in that frame.
    """
    num_frames, num_pred, _ = distances.shape
    out = np.full((num_frames, num_pred), -1, np.int64)
    for t in range(num_frames):
        d = distances[t]  # (N, J)
        rows = np.flatnonzero(~np.all(np.isnan(d), axis=1))
        cols = np.flatnonzero(~np.all(np.isnan(d), axis=0))
        if rows.size == 0 or cols.size == 0:
            continue
        sub = hungarian(d[np.ix_(rows, cols)])
        ok = sub >= 0
        out[t, rows[ok]] = cols[sub[ok]]
    return out
