"""Adapters from each scored method to the protocol's :class:`EpisodePrediction`.

Every method produces one :class:`~skeleton_perception.skeleton.Skeleton` per frame (it sees
one frame at a time); :func:`to_prediction` turns an episode of them into trajectories.

* :class:`OursPredictor`: our :class:`~skeleton_perception.SkeletonDetector`.
* :class:`TransporterPredictor`: the baseline's K keypoints (ids 0..K-1 in every frame, no
  links: it gets joint metrics only, as in the paper).
* :class:`RandomPredictor`: the chance level, scored by the same code.

Predicted trajectory set (the paper's model has a fixed set of foreground points, and its
joints are those with a link; ours has K varying per frame). Two definitions:

* ``"frame"`` (default, what the detector outputs and a robot sees): trajectory n is a
  point id that is a joint in at least one frame of the episode; it is present exactly in
  the frames where that id is a joint. Every joint output on a frame is therefore counted
  on that frame (spurious ones lower precision and raise Diff).
* ``"structure-frame"``: the joints of the one randomly selected frame whose S represents
  the episode (paper Sec. IV-a), followed through every frame by their point positions
  (``Skeleton.points``). Reported as a secondary line; needs ``points``.

Structure: S^b between trajectories comes from the structure frame's ``connectivity``
binarised as ``S > link_threshold`` (0.5, the same test as :class:`SkeletonDetector`); when a
method gives no connectivity, its links with ``link_scores > link_threshold``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
from skeleton_perception.training.evaluation.protocol import EpisodePrediction

from skeleton_perception.skeleton import Skeleton

JOINT_SETS = ("frame", "structure-frame")


class Predictor(Protocol):
    """A method scored by the protocol."""

    name: str
    has_structure: bool

    def predict_episode(self, frames: np.ndarray, episode_index: int) -> list[Skeleton]:
        """One skeleton per frame of ``frames`` (T, H, W, 3) uint8 RGB."""
        ...


def _binarised(skel: Skeleton, threshold: float) -> np.ndarray:
    """(K, K) bool S^b between the joints of one frame."""
    k = skel.num_joints
    conn = np.asarray(skel.connectivity)
    if conn.ndim == 2 and conn.shape[0] > 0 and k and int(skel.joint_ids.max()) < conn.shape[0]:
        sub = conn[np.ix_(skel.joint_ids, skel.joint_ids)]
        adj = sub > threshold
    else:
        adj = np.zeros((k, k), bool)
        if len(skel.links):
            keep = (
                np.asarray(skel.link_scores) > threshold
                if len(skel.link_scores)
                else np.ones(len(skel.links), bool)
            )
            a, b = np.asarray(skel.links)[keep].T
            adj[a, b] = adj[b, a] = True
    np.fill_diagonal(adj, False)
    return adj


def to_prediction(
    skeletons: Sequence[Skeleton],
    structure_frame: int,
    has_structure: bool,
    joint_set: str = "frame",
    link_threshold: float = 0.5,
) -> EpisodePrediction:
    """Turns per-frame skeletons into the protocol's trajectories.

    Args:
        skeletons: T skeletons, one per frame, in the frames' pixel coordinates.
        structure_frame: the frame whose S represents the episode.
        has_structure: whether the method predicts links (else ``adjacency`` is None).
        joint_set: ``"frame"`` or ``"structure-frame"`` (see the module docstring).
        link_threshold: binarisation threshold of S.

    Returns:
        The episode's :class:`EpisodePrediction`.
    """
    if joint_set not in JOINT_SETS:
        raise ValueError(f"joint_set must be one of {JOINT_SETS}, got {joint_set!r}")
    T = len(skeletons)
    rep = skeletons[structure_frame]
    if joint_set == "frame":
        ids = np.unique(np.concatenate([np.asarray(s.joint_ids, np.int64) for s in skeletons]))
    else:
        ids = np.unique(np.asarray(rep.joint_ids, np.int64))
    col = {int(i): n for n, i in enumerate(ids)}
    joints = np.full((T, len(ids), 2), np.nan)
    present = np.zeros((T, len(ids)), bool)
    for t, skel in enumerate(skeletons):
        if joint_set == "frame":
            for row, jid in enumerate(skel.joint_ids):
                joints[t, col[int(jid)]] = skel.joints[row]
                present[t, col[int(jid)]] = True
        else:
            points = np.asarray(skel.points)
            if len(points) == 0:
                raise ValueError("joint_set='structure-frame' needs Skeleton.points")
            ok = ids < len(points)
            joints[t, ok] = points[ids[ok]]
            present[t, ok] = True
    adjacency = None
    if has_structure:
        adjacency = np.zeros((len(ids), len(ids)), bool)
        cols = np.array([col[int(i)] for i in rep.joint_ids], np.int64)
        if cols.size:
            adjacency[np.ix_(cols, cols)] = _binarised(rep, link_threshold)
    return EpisodePrediction(
        joints=joints, present=present, adjacency=adjacency, structure_frame=structure_frame
    )


class OursPredictor:
    """Our model through its one inference API, :class:`SkeletonDetector`."""

    name = "ours"
    has_structure = True

    def __init__(
        self,
        checkpoint: str | None = None,
        device: str = "cpu",
        batch_size: int = 90,
        structure: str | None = None,
        detector=None,
    ):
        """Loads ``checkpoint``, or scores ``detector`` (a built SkeletonDetector) as it is.

        ``structure``: see ``evaluate --structure``.
        """
        from skeleton_perception import SkeletonDetector

        self.video = structure == "video"
        if detector is None:
            detector = SkeletonDetector.from_checkpoint(
                checkpoint, device=device, structure=None if self.video else structure
            )
        self.detector = detector
        self.batch_size = batch_size

    def predict_episode(self, frames: np.ndarray, episode_index: int) -> list[Skeleton]:
        """Runs the detector on every frame, one frame per image (batched for speed).

        With ``structure="video"`` the link set is searched once over the whole episode
        (:meth:`SkeletonDetector.predict_video`): not the per-image output, a diagnostic.
        """
        if self.video:
            return self.detector.predict_video(list(frames))
        out: list[Skeleton] = []
        for i in range(0, len(frames), self.batch_size):
            out.extend(self.detector.predict_batch(list(frames[i : i + self.batch_size])))
        return out


class TransporterPredictor:
    """The Transporter baseline's K keypoints as joints with ids 0..K-1 and no links."""

    name = "transporter"
    has_structure = False

    def __init__(self, checkpoint: str, device: str = "cpu", batch_size: int = 90):
        from skeleton_perception.training.baselines.train_transporter import load_checkpoint

        self.model, self.checkpoint = load_checkpoint(checkpoint, device)
        self.device = device
        self.batch_size = batch_size

    def predict_episode(self, frames: np.ndarray, episode_index: int) -> list[Skeleton]:
        """Keypoints of every frame, in the frames' pixel coordinates."""
        import torch
        import torch.nn.functional as F

        T, H, W, _ = frames.shape
        size = self.model.cfg.image_size
        out: list[Skeleton] = []
        with torch.no_grad():
            for i in range(0, T, self.batch_size):
                x = torch.from_numpy(frames[i : i + self.batch_size]).to(self.device)
                x = x.permute(0, 3, 1, 2).float() / 255.0  # (B, 3, H, W)
                if (size, size) != (H, W):
                    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
                centres, _ = self.model.keypoints(x)  # (B, K, 2)
                px = self.model.centres_to_pixels(centres.cpu(), (W, H)).numpy()
                for xy in px:
                    k = len(xy)
                    out.append(
                        Skeleton(
                            joints=xy.astype(np.float32),
                            joint_ids=np.arange(k, dtype=np.int64),
                            joint_scores=np.ones(k, np.float32),
                            links=np.zeros((0, 2), np.int64),
                            link_scores=np.zeros(0, np.float32),
                            image_size=(W, H),
                            points=xy.astype(np.float32),
                        )
                    )
        return out


class RandomPredictor:
    """Chance level: a random number of random points with random links, per frame.

    Each frame independently: K ~ uniform{2..max_joints} joints with ids 0..K-1, placed
    uniformly over the image; links form a uniformly random recursive tree (joint i > 0
    links to a uniformly chosen j < i: K-1 links, a plausible skeleton density); S is 1 on
    those links, 0 elsewhere. Seeded by (seed, episode index), so a run is reproducible
    and independent of episode order. It ignores the image.
    """

    name = "random"
    has_structure = True

    def __init__(self, max_joints: int, seed: int = 0):
        if max_joints < 2:
            raise ValueError(f"RandomPredictor: max_joints must be >= 2, got {max_joints}")
        self.max_joints = int(max_joints)
        self.seed = int(seed)

    def predict_episode(self, frames: np.ndarray, episode_index: int) -> list[Skeleton]:
        """One random skeleton per frame."""
        rng = np.random.default_rng([self.seed, int(episode_index)])
        T, H, W, _ = frames.shape
        out = []
        for _ in range(T):
            k = int(rng.integers(2, self.max_joints + 1))
            xy = rng.uniform([0.0, 0.0], [W - 1.0, H - 1.0], size=(k, 2)).astype(np.float32)
            parents = np.array([rng.integers(i) for i in range(1, k)], np.int64)
            links = np.stack([parents, np.arange(1, k)], axis=1)  # (k-1, 2), first < second
            conn = np.zeros((k, k), np.float32)
            conn[links[:, 0], links[:, 1]] = conn[links[:, 1], links[:, 0]] = 1.0
            out.append(
                Skeleton(
                    joints=xy,
                    joint_ids=np.arange(k, dtype=np.int64),
                    joint_scores=np.ones(k, np.float32),
                    links=links,
                    link_scores=np.ones(k - 1, np.float32),
                    image_size=(W, H),
                    points=xy,
                    connectivity=conn,
                )
            )
        return out
