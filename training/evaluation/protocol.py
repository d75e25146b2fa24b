"""The paper's evaluation protocol: evaluate (per episode) -> accumulate -> summarise.

Organised like COCO's ``cocoeval.py``: one parameter object, one pass per episode that
keeps only arrays, one pass that stacks them, one that turns them into numbers.

Inputs, per episode (plain arrays, so the protocol is testable without any model):

* :class:`EpisodeTruth`: ``joints`` (T, J, 2) pixel xy, ``visible`` (T, J) bool,
  ``adjacency`` (J, J) bool, ``image_size`` (W, H).
* :class:`EpisodePrediction`: N predicted joint *trajectories*: ``joints`` (T, N, 2) pixel
  xy, ``present`` (T, N) bool (whether trajectory n is a predicted joint in frame t), and
  for methods that predict a skeleton, ``adjacency`` (N, N) bool, the binarised S^b from
  ``structure_frame`` (see :func:`structure_frame`). Methods without structure
  (Transporter) leave ``adjacency`` as None and get joint metrics only.

Arrays kept by :meth:`Evaluator.evaluate` for episode e (:class:`EpisodeEval`):

* ``match`` (N,): whole-episode Hungarian match of each trajectory (-1: none).
* ``num_pred`` / ``num_gt`` / ``num_kept`` (T,): predicted joints, visible ground-truth
  joints and matches within ε, per frame; ``num_kept_half`` (T,): matches within ε/2
  (the same matching; ε is lenient on objects about 1.0 across, so F1 at ε/2 is reported
  beside it as ``f1_half_eps``).
* ``pair_distance`` (M_e,): distances of all matched (frame, joint) pairs, i.e. a
  predicted joint present in the frame and its episode match visible there, within ε or
  not; ``pair_kept`` (M_e,) bool: which of them are within ε.
* ``consistent`` / ``consistency_counted`` (T, N): consistency flags and their mask.
* ``num_border`` (T,): predicted joints within ``border_px`` of the image border
  (:func:`metrics.near_border`; a joint on the border is almost always background
  structure, the failure of issue 16).
* ``structure`` (4,) tp/fp/tn/fn of S^b vs S^gt, or None.

:meth:`Evaluator.accumulate` stacks them over all E episodes and F = sum T frames into
:class:`Accumulated`: ``precision`` / ``recall`` / ``diff`` (F,), ``frame_episode`` (F,),
``pair_distance`` / ``pair_kept`` / ``pair_episode`` (M,), ``num_pred`` / ``num_border``
(F,), ``consistency`` (2,)
[consistent, counted], ``structure`` (E, 4) or None. :meth:`Evaluator.summarize` returns
the metric dict.

Pooling (the paper does not say; chosen so undefined per-episode ratios never arise and
checked against the paper's own tables): Prec, Rec and Diff are means over all frames of
all episodes; F1 is the harmonic mean of those two means (in every row of the paper's
Tables I-II, F1 equals the harmonic mean of the reported Prec and Rec, which a mean of
per-frame F1 would not give); Dist is the mean over all matched (frame, joint) pairs,
within ε or not (the paper's Table II has Dist above ε: [11] on Spiders, 0.270 at
ε = 0.20), with the mean over the pairs within ε kept as ``dist_within_eps``;
Consistency is counted over all (frame, joint) entries; structure counts are summed over
episodes before the ratios are taken.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from skeleton_perception.training.evaluation import matching, metrics

STRUCTURE_METRICS = ("acc", "bcc", "f1", "prec", "rec")
JOINT_METRICS = ("dist", "consistency", "f1", "prec", "rec", "diff")


@dataclass
class EvalParams:
    """Everything that changes a score, in one place.

    Attributes:
        epsilon: distance threshold in normalised [-1, 1] units (per dataset, paper Sec. VIII).
        link_threshold: S is binarised at this value (paper: 0.5).
        seed: seeds the choice of the one frame per episode that S is taken from.
        border_px: A predicted joint at most this far from the image border counts as
            "on the border" (``border_fraction``), in pixels.
    """

    epsilon: float
    link_threshold: float = 0.5
    seed: int = 0
    border_px: float = 2.0


def structure_frame(episode_index: int, num_frames: int, seed: int) -> int:
    """The one randomly selected frame whose S represents the episode (seeded, stable).

    Depends only on (seed, episode index, length), so every method is scored on the same
    frame of the same episode.
    """
    rng = np.random.default_rng([int(seed), int(episode_index)])
    return int(rng.integers(num_frames))


@dataclass
class EpisodeTruth:
    """Ground truth of one episode.

    Attributes:
        joints: (T, J, 2) pixel xy.
        visible: (T, J) bool.
        adjacency: (J, J) bool, symmetric.
        image_size: (width, height) in pixels.
        index: episode index (seeds the structure frame; reported per episode).
    """

    joints: np.ndarray
    visible: np.ndarray
    adjacency: np.ndarray
    image_size: tuple[int, int]
    index: int = 0

    @property
    def num_frames(self) -> int:
        """T."""
        return int(self.joints.shape[0])


@dataclass
class EpisodePrediction:
    """One method's joints over one episode, as trajectories.

    Attributes:
        joints: (T, N, 2) pixel xy (any value where absent).
        present: (T, N) bool, trajectory n is a predicted joint in frame t.
        adjacency: (N, N) bool binarised S^b between trajectories, from ``structure_frame``;
            None for methods that predict no structure.
        structure_frame: the frame S^b comes from; its present joints are the pairs scored.
    """

    joints: np.ndarray
    present: np.ndarray
    adjacency: np.ndarray | None = None
    structure_frame: int = 0


@dataclass
class EpisodeEval:
    """Per-episode arrays (see the module docstring for shapes)."""

    index: int
    match: np.ndarray
    num_pred: np.ndarray
    num_gt: np.ndarray
    num_kept: np.ndarray
    num_kept_half: np.ndarray
    pair_distance: np.ndarray
    pair_kept: np.ndarray
    consistent: np.ndarray
    consistency_counted: np.ndarray
    num_border: np.ndarray
    structure: np.ndarray | None


@dataclass
class Accumulated:
    """Arrays stacked over episodes (see the module docstring for shapes)."""

    episode_index: np.ndarray  # (E,)
    frame_episode: np.ndarray  # (F,) row of episode_index each frame belongs to
    precision: np.ndarray  # (F,)
    recall: np.ndarray  # (F,)
    precision_half: np.ndarray  # (F,) at ε/2
    recall_half: np.ndarray  # (F,) at ε/2
    diff: np.ndarray  # (F,)
    num_pred: np.ndarray  # (F,) predicted joints
    num_border: np.ndarray  # (F,) predicted joints within border_px of the border
    pair_distance: np.ndarray  # (M,) every matched (frame, joint) pair
    pair_kept: np.ndarray  # (M,) bool, within ε
    pair_episode: np.ndarray  # (M,) row of episode_index each pair belongs to
    consistency: np.ndarray  # (E, 2) consistent, counted
    structure: np.ndarray | None  # (E, 4) tp, fp, tn, fn


@dataclass
class Evaluator:
    """Scores predictions with the paper's protocol.

    Usage::

        ev = Evaluator(EvalParams(epsilon=0.15))
        for truth, pred in pairs:
            ev.evaluate(truth, pred)
        ev.accumulate()
        summary = ev.summarize()   # {"structure": {...} | None, "joints": {...}}
    """

    params: EvalParams
    episodes: list[EpisodeEval] = field(default_factory=list)
    accumulated: Accumulated | None = None

    # -- evaluate ---------------------------------------------------------------------
    def evaluate(self, truth: EpisodeTruth, pred: EpisodePrediction) -> EpisodeEval:
        """Matches one episode and keeps its per-frame arrays."""
        _check(truth, pred)
        gt = matching.normalise_xy(truth.joints, truth.image_size)  # (T, J, 2)
        pj = matching.normalise_xy(np.nan_to_num(pred.joints), truth.image_size)  # (T, N, 2)
        present = pred.present.astype(bool)
        visible = truth.visible.astype(bool)
        distances = matching.pairwise_distances(pj, present, gt, visible)  # (T, N, J)
        match = matching.match_episode(distances)  # (N,)
        matched_distance, kept = metrics.kept_pairs(distances, match, self.params.epsilon)
        matched = np.isfinite(matched_distance)  # (T, N) both present, joint matched
        frame_match = matching.match_frames(distances)  # (T, N)
        consistent, counted = metrics.consistency_flags(frame_match, match, present, visible)
        structure = None
        if pred.adjacency is not None:
            members = np.flatnonzero(present[pred.structure_frame])
            structure = metrics.structure_confusion(
                pred.adjacency.astype(bool), members, match, truth.adjacency.astype(bool)
            )
        result = EpisodeEval(
            index=truth.index,
            match=match,
            num_pred=present.sum(axis=1),
            num_gt=visible.sum(axis=1),
            num_kept=kept.sum(axis=1),
            num_kept_half=(kept & (matched_distance <= self.params.epsilon / 2)).sum(axis=1),
            pair_distance=matched_distance[matched],
            pair_kept=kept[matched],
            consistent=consistent,
            consistency_counted=counted,
            num_border=metrics.near_border(
                np.nan_to_num(pred.joints), present, truth.image_size, self.params.border_px
            ).sum(axis=1),
            structure=structure,
        )
        self.episodes.append(result)
        self.accumulated = None
        return result

    # -- accumulate -------------------------------------------------------------------
    def accumulate(self) -> Accumulated:
        """Stacks the per-episode arrays (call after every episode was evaluated)."""
        if not self.episodes:
            raise ValueError("no episodes evaluated: nothing to accumulate")
        precision, recall, diff, frame_episode, pair_episode = [], [], [], [], []
        precision_half, recall_half = [], []
        for row, ep in enumerate(self.episodes):
            p, r = metrics.frame_precision_recall(ep.num_kept, ep.num_pred, ep.num_gt)
            precision.append(p)
            recall.append(r)
            p, r = metrics.frame_precision_recall(ep.num_kept_half, ep.num_pred, ep.num_gt)
            precision_half.append(p)
            recall_half.append(r)
            diff.append(np.abs(ep.num_pred - ep.num_gt).astype(np.float64))
            frame_episode.append(np.full(len(p), row))
            pair_episode.append(np.full(len(ep.pair_distance), row))
        with_structure = [ep.structure is not None for ep in self.episodes]
        if any(with_structure) and not all(with_structure):
            raise ValueError("some episodes have a predicted structure and some do not")
        self.accumulated = Accumulated(
            episode_index=np.array([ep.index for ep in self.episodes], np.int64),
            frame_episode=np.concatenate(frame_episode),
            precision=np.concatenate(precision),
            recall=np.concatenate(recall),
            precision_half=np.concatenate(precision_half),
            recall_half=np.concatenate(recall_half),
            diff=np.concatenate(diff),
            num_pred=np.concatenate([ep.num_pred for ep in self.episodes]),
            num_border=np.concatenate([ep.num_border for ep in self.episodes]),
            pair_distance=np.concatenate([ep.pair_distance for ep in self.episodes]),
            pair_kept=np.concatenate([ep.pair_kept for ep in self.episodes]),
            pair_episode=np.concatenate(pair_episode),
            consistency=np.array(
                [[ep.consistent.sum(), ep.consistency_counted.sum()] for ep in self.episodes],
                np.int64,
            ),
            structure=(
                np.stack([ep.structure for ep in self.episodes]) if all(with_structure) else None
            ),
        )
        return self.accumulated

    # -- summarise --------------------------------------------------------------------
    def summarize(self) -> dict:
        """The headline numbers: ``{"structure": dict | None, "joints": dict}``."""
        acc = self.accumulated or self.accumulate()
        return {
            "structure": _structure_summary(acc.structure),
            "joints": _joint_summary(acc, slice(None), slice(None), slice(None)),
        }

    def per_episode(self) -> list[dict]:
        """The same metrics for each episode alone (for the JSON and for spread)."""
        acc = self.accumulated or self.accumulate()
        rows = []
        for row, index in enumerate(acc.episode_index):
            frames = acc.frame_episode == row
            pairs = acc.pair_episode == row
            rows.append(
                {
                    "episode": int(index),
                    "structure": _structure_summary(
                        None if acc.structure is None else acc.structure[row : row + 1]
                    ),
                    "joints": _joint_summary(acc, frames, pairs, slice(row, row + 1)),
                }
            )
        return rows


def _structure_summary(counts: np.ndarray | None) -> dict | None:
    if counts is None:
        return None
    total = counts.sum(axis=0)
    out = metrics.binary_scores(total)
    out.update({name: int(v) for name, v in zip(metrics.CONFUSION, total, strict=True)})
    return out


def _joint_summary(acc: Accumulated, frames, pairs, episodes) -> dict:
    prec = float(np.mean(acc.precision[frames]))
    rec = float(np.mean(acc.recall[frames]))
    distances = acc.pair_distance[pairs]
    kept = distances[acc.pair_kept[pairs]]
    consistent, counted = acc.consistency[episodes].sum(axis=0)
    f1_frame = metrics.harmonic_f1_frames(acc.precision[frames], acc.recall[frames])
    return {
        "dist": float(np.mean(distances)) if distances.size else math.nan,
        "dist_within_eps": float(np.mean(kept)) if kept.size else math.nan,
        "consistency": float(consistent / counted) if counted else math.nan,
        "f1": metrics.harmonic_f1(prec, rec),
        "prec": prec,
        "rec": rec,
        "f1_half_eps": metrics.harmonic_f1(
            float(np.mean(acc.precision_half[frames])), float(np.mean(acc.recall_half[frames]))
        ),
        "diff": float(np.mean(acc.diff[frames])),
        "border_fraction": metrics.border_fraction(acc.num_border[frames], acc.num_pred[frames]),
        "f1_frame_mean": f1_frame,
        "num_frames": int(np.size(acc.precision[frames])),
        "num_matched_pairs": int(distances.size),
        "num_kept_pairs": int(kept.size),
    }


def _check(truth: EpisodeTruth, pred: EpisodePrediction) -> None:
    t, j = truth.visible.shape
    if truth.joints.shape != (t, j, 2):
        raise ValueError(f"episode {truth.index}: truth.joints {truth.joints.shape} != {(t, j, 2)}")
    if truth.adjacency.shape != (j, j):
        raise ValueError(
            f"episode {truth.index}: truth.adjacency {truth.adjacency.shape} != {(j, j)}"
        )
    n = pred.present.shape[1] if pred.present.ndim == 2 else -1
    if pred.present.shape != (t, n) or pred.joints.shape != (t, n, 2):
        raise ValueError(
            f"episode {truth.index}: prediction joints {pred.joints.shape} / present "
            f"{pred.present.shape} do not fit T={t} frames"
        )
    if pred.adjacency is not None and pred.adjacency.shape != (n, n):
        raise ValueError(
            f"episode {truth.index}: prediction adjacency {pred.adjacency.shape} != {(n, n)}"
        )
    if pred.adjacency is not None and not 0 <= pred.structure_frame < t:
        raise ValueError(
            f"episode {truth.index}: structure_frame {pred.structure_frame} not in [0, {t})"
        )


def evaluate_all(
    params: EvalParams, pairs: Iterable[tuple[EpisodeTruth, EpisodePrediction]]
) -> Evaluator:
    """Runs evaluate on every pair, then accumulate; returns the evaluator."""
    ev = Evaluator(params)
    for truth, pred in pairs:
        ev.evaluate(truth, pred)
    ev.accumulate()
    return ev
