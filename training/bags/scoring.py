"""Scoring a model on a recorded simulated bag with the paper's metrics.

A bag from ``record-sim`` carries the simulator's ground truth on ``/ground_truth``
(``SkeletonGraph``, one per image, same header stamp). Episodes are the same time segments
the bag split uses (``segment_s``; ``record-sim`` starts a new object every 10 s by default,
so the two coincide). Each episode is scored by
:mod:`skeleton_perception.training.evaluation` exactly as a generated dataset is.
Memory: one episode's frames at a time.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from skeleton_perception.training.bags.reader import (
    IMAGE_TYPES,
    SKELETON_GRAPH,
    BagError,
    UndecodableFrameError,
    decode_image,
    read_messages,
    topic_types,
)

from skeleton_perception.skeleton import Skeleton
from skeleton_perception.skeleton_msg import NS_PER_S, msg_to_skeleton, stamp_to_ns


@dataclass
class BagEpisode:
    """The frames and ground truth of one time segment of a bag.

    Attributes:
        index: segment number (time since the first frame // segment_s).
        frames: (T, H, W, 3) uint8 RGB.
        joints: (T, J, 2) float32 ground-truth pixel xy (0 where not visible).
        visible: (T, J) bool.
        adjacency: (J, J) bool, the union of the episode's ground-truth links.
        times: (T,) int64 header stamps in ns.
    """

    index: int
    frames: np.ndarray
    joints: np.ndarray
    visible: np.ndarray
    adjacency: np.ndarray
    times: np.ndarray


def _episode(index: int, items: list[tuple[int, np.ndarray, Skeleton]]) -> BagEpisode:
    """Builds an episode from (stamp, rgb, ground-truth Skeleton) triples (id = joint)."""
    num_joints = 1 + max((int(sk.joint_ids.max(initial=-1)) for _, _, sk in items), default=-1)
    T = len(items)
    joints = np.zeros((T, num_joints, 2), np.float32)
    visible = np.zeros((T, num_joints), bool)
    adjacency = np.zeros((num_joints, num_joints), bool)
    for t, (_, _, truth) in enumerate(items):
        joints[t, truth.joint_ids] = truth.joints
        visible[t, truth.joint_ids] = True
        a, b = truth.link_ids.T
        adjacency[a, b] = adjacency[b, a] = True
    return BagEpisode(
        index=index,
        frames=np.stack([rgb for _, rgb, _ in items]),
        joints=joints,
        visible=visible,
        adjacency=adjacency,
        times=np.array([s for s, _, _ in items], np.int64),
    )


def bag_episodes(
    path: str | os.PathLike,
    image_topic: str = "/camera/image_raw",
    truth_topic: str = "/ground_truth",
    segment_s: float = 10.0,
    max_episodes: int | None = None,
) -> Iterator[BagEpisode]:
    """Yields the episodes (time segments) of a bag with ground truth, in time order.

    Images and ground truth are paired by header stamp; images without ground truth (and
    vice versa) are left out; undecodable images are skipped.

    Raises:
        BagError: a topic is missing or has the wrong type, a ground-truth message
            names a joint it does not list, or nothing pairs up.
    """
    path = Path(path)
    types = topic_types(path)
    if types.get(image_topic) not in IMAGE_TYPES:
        raise BagError(path, f"not an image topic (topics: {sorted(types)})", image_topic)
    if types.get(truth_topic) != SKELETON_GRAPH:
        raise BagError(path, f"no {SKELETON_GRAPH} ground truth here", truth_topic)
    images: dict[int, np.ndarray] = {}
    truths: dict[int, Skeleton] = {}
    current: list[tuple[int, np.ndarray, Skeleton]] = []
    first, segment, emitted = None, None, 0
    segment_ns = round(segment_s * NS_PER_S)
    for topic, msg, _ in read_messages(path, [image_topic, truth_topic]):
        stamp = stamp_to_ns(msg.header.stamp)
        if topic == image_topic:
            try:
                images[stamp] = decode_image(msg)
            except UndecodableFrameError:
                continue
        else:
            try:
                truths[stamp] = msg_to_skeleton(msg)
            except ValueError as err:
                raise BagError(path, str(err), truth_topic) from None
        if stamp not in images or stamp not in truths:
            continue
        first = stamp if first is None else first
        seg = (stamp - first) // segment_ns
        if segment is not None and seg != segment and current:
            yield _episode(int(segment), current)
            emitted += 1
            current = []
            if max_episodes is not None and emitted >= max_episodes:
                return
        segment = seg
        current.append((stamp, images.pop(stamp), truths.pop(stamp)))
        # Unpaired leftovers older than the current frame will never pair: drop them.
        for pending in (images, truths):
            for old in [s for s in pending if s < stamp]:
                del pending[old]
    if current:
        yield _episode(int(segment), current)
        emitted += 1
    if emitted == 0:
        raise BagError(path, f"no image of {image_topic} has ground truth with the same stamp")


def evaluate_bag(
    path: str | os.PathLike,
    predictor,
    *,
    epsilon: float,
    image_topic: str = "/camera/image_raw",
    truth_topic: str = "/ground_truth",
    segment_s: float = 10.0,
    seed: int = 0,
    joint_set: str = "frame",
    max_episodes: int | None = None,
    episodes: set[int] | None = None,
) -> dict:
    """Scores ``predictor`` on a bag's episodes with the paper's metrics.

    Args:
        path: bag with images and SkeletonGraph ground truth (``record-sim``).
        predictor: an evaluation predictor (``predict_episode(frames, index)``), e.g.
            :class:`skeleton_perception.training.evaluation.predictors.OursPredictor`.
        epsilon: joint-matching threshold (normalised units; the dataset's ε).
        image_topic: image topic.
        truth_topic: ground-truth topic.
        segment_s: episode length in seconds.
        seed: structure-frame seed.
        joint_set: see :mod:`skeleton_perception.training.evaluation.predictors`.
        max_episodes: score at most this many episodes.
        episodes: score only these segment numbers (e.g. the validation segments).

    Returns:
        The evaluator's summary dict plus ``num_episodes`` and ``num_frames``.
    """
    from skeleton_perception.training.evaluation import predictors
    from skeleton_perception.training.evaluation.protocol import (
        EpisodeTruth,
        EvalParams,
        Evaluator,
        structure_frame,
    )

    params = EvalParams(epsilon=epsilon, seed=seed)
    evaluator = Evaluator(params)
    frames = 0
    for ep in bag_episodes(path, image_topic, truth_topic, segment_s, max_episodes):
        if episodes is not None and ep.index not in episodes:
            continue
        skeletons = predictor.predict_episode(ep.frames, ep.index)
        T, H, W, _ = ep.frames.shape
        r = structure_frame(ep.index, T, seed)
        pred = predictors.to_prediction(
            skeletons, r, predictor.has_structure, joint_set, params.link_threshold
        )
        evaluator.evaluate(
            EpisodeTruth(ep.joints, ep.visible, ep.adjacency, (W, H), ep.index), pred
        )
        frames += T
    if not evaluator.episodes:
        raise BagError(Path(path), "no episode to score", image_topic)
    evaluator.accumulate()
    summary = evaluator.summarize()
    summary.update(num_episodes=len(evaluator.episodes), num_frames=frames)
    return summary


class CachedPredictor:
    """Runs a predictor once per episode (scoring several structure-frame seeds reuses it)."""

    def __init__(self, predictor):
        self.predictor = predictor
        self.name, self.has_structure = predictor.name, predictor.has_structure
        self.cache: dict[int, list] = {}

    def predict_episode(self, frames, episode_index: int) -> list:
        """The wrapped predictor's skeletons of the episode, computed once."""
        if episode_index not in self.cache:
            self.cache[episode_index] = self.predictor.predict_episode(frames, episode_index)
        return self.cache[episode_index]


def mean_summary(summaries: list[dict]) -> dict:
    """Leaf-wise mean of evaluator summaries (None where a value is undefined in one)."""
    out: dict = {}
    for key, value in summaries[0].items():
        if isinstance(value, dict):
            out[key] = mean_summary([s[key] for s in summaries])
        elif isinstance(value, int | float) or value is None:
            vals = [math.nan if s[key] is None else float(s[key]) for s in summaries]
            out[key] = None if any(math.isnan(v) for v in vals) else sum(vals) / len(vals)
    return out


def score_checkpoint(
    path: str | os.PathLike,
    checkpoint: str | os.PathLike,
    epsilon: float,
    joint_sets: Sequence[str] = ("frame", "structure-frame"),
    seeds: int = 5,
) -> dict:
    """A checkpoint's scores on a bag: {joint set: summary averaged over ``seeds`` seeds}.

    On a bag of a few episodes the protocol's random structure frame per episode dominates
    one draw, so the summaries of seeds ``0 .. seeds-1`` are averaged (the network runs
    once per episode).
    """
    from skeleton_perception.training.evaluation.predictors import OursPredictor

    predictor = CachedPredictor(OursPredictor(str(checkpoint), device="cpu"))
    return {
        js: mean_summary([
            evaluate_bag(path, predictor, epsilon=epsilon, joint_set=js, seed=seed)
            for seed in range(seeds)
        ])
        for js in joint_sets
    }  # fmt: skip
