"""(source, target) frame pairs of one episode, as a PyTorch dataset.

The paper trains on "two random frames from the episode". Item ``k`` belongs to episode
``k // pairs_per_episode`` of the split, so an epoch visits every episode
``pairs_per_episode`` times (default 16: ``len = episodes * 16``) with fresh random frame
pairs each time, unless ``seed`` fixes them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from skeleton_perception.training.sim.storage import EpisodeStore
from torch.utils.data import Dataset


class PairDataset(Dataset):
    """Pairs of different frames of the same episode.

    Items are dicts: ``source`` and ``target`` ``(3, H, W)`` float32 in [0, 1]; ``episode``
    (position of the episode in the split's :class:`EpisodeStore`, for its ground truth);
    ``source_index`` and ``target_index`` (frame numbers). With ``max_joints`` set, items
    also carry the ground truth padded to ``max_joints``: ``source_joints`` and
    ``target_joints`` ``(max_joints, 2)`` px, ``source_visible`` and ``target_visible``
    ``(max_joints,)``, ``joint_mask`` ``(max_joints,)`` (real joints) and ``adjacency``
    ``(max_joints, max_joints)``.
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        min_gap: int = 1,
        seed: int | None = None,
        pairs_per_episode: int = 16,
        max_joints: int | None = None,
        verify: bool = True,
    ):
        """Opens a split.

        Args:
            root: Dataset directory written by ``skeleton-perception generate``.
            split: ``"train"``, ``"val"`` or ``"test"``.
            min_gap: Smallest frame distance between source and target (>= 1).
            seed: Fixes the pair drawn for every item (None: fresh pairs every time).
            pairs_per_episode: Items per episode.
            max_joints: Pad ground truth to this many joints and return it (None: no GT).
            verify: Check shard checksums when opening.
        """
        if min_gap < 1:
            raise ValueError(f"PairDataset: min_gap must be >= 1, got {min_gap}")
        self.store = EpisodeStore(root, split, verify=verify)
        self.min_gap = min_gap
        self.seed = seed
        self.pairs_per_episode = pairs_per_episode
        self.max_joints = max_joints

    def __len__(self) -> int:
        return len(self.store) * self.pairs_per_episode

    def _pair(self, k: int, num_frames: int) -> tuple[int, int]:
        rng = np.random.default_rng(None if self.seed is None else (self.seed, k))
        if num_frames <= self.min_gap:
            raise ValueError(f"{self.store.root}: {num_frames} frames < min_gap + 1")
        while True:
            s, t = rng.integers(num_frames, size=2)
            if abs(int(s) - int(t)) >= self.min_gap:
                return int(s), int(t)

    def __getitem__(self, k: int) -> dict:
        if not 0 <= k < len(self):
            raise IndexError(f"pair {k} out of range ({len(self)})")
        i = k // self.pairs_per_episode
        meta = self.store.meta(i)
        s, t = self._pair(k, meta["num_frames"])
        frames = self.store.frames(i, (s, t))  # (2, H, W, 3) uint8
        images = torch.from_numpy(frames).permute(0, 3, 1, 2).float().div_(255.0)  # (2, 3, H, W)
        item = {
            "source": images[0],
            "target": images[1],
            "episode": i,
            "source_index": s,
            "target_index": t,
        }
        if self.max_joints is not None:
            item.update(self._ground_truth(i, s, t))
        return item

    def _ground_truth(self, i: int, s: int, t: int) -> dict:
        prefix = self.store._prefix(i)
        joints = self.store._array(i, prefix + "joints.npy")
        visible = self.store._array(i, prefix + "visible.npy")
        adjacency = self.store._array(i, prefix + "adjacency.npy")
        m, n = self.max_joints, joints.shape[1]
        if n > m:
            raise ValueError(f"{self.store.root}: episode {i} has {n} joints > max_joints {m}")
        pad_j = np.zeros((2, m, 2), np.float32)
        pad_j[:, :n] = joints[[s, t]]
        pad_v = np.zeros((2, m), bool)
        pad_v[:, :n] = visible[[s, t]]
        adj = np.zeros((m, m), bool)
        adj[:n, :n] = adjacency
        mask = np.zeros(m, bool)
        mask[:n] = True
        return {
            "source_joints": torch.from_numpy(pad_j[0]),
            "target_joints": torch.from_numpy(pad_j[1]),
            "source_visible": torch.from_numpy(pad_v[0]),
            "target_visible": torch.from_numpy(pad_v[1]),
            "joint_mask": torch.from_numpy(mask),
            "adjacency": torch.from_numpy(adj),
        }
