"""Training pairs from a recorded image topic, streamed from the bag with bounded memory.

One pass over the topic builds an index of the decodable frames (bag timestamp and its
occurrence at that timestamp: 16 bytes a frame, no pixels). Frames are letterboxed to the
network input exactly as the detector and the ROS node do
(:mod:`skeleton_perception.preprocess`) and kept in an LRU cache of ``cache_size`` frames
(12 KiB each at 64x64); a frame that is not cached is read again from the bag by its
timestamp (rosbags reads only the chunk that holds it). Memory therefore depends on
``cache_size``, not on the length of the bag. With DataLoader workers, each worker holds
its own cache and reopens the bag.

Pairs: the source is any (strided) frame; the target is drawn uniformly among the frames of
the same time segment whose timestamps differ from the source's by ``min_gap_s`` to
``max_gap_s`` seconds (either direction). The defaults (0.3 s .. 3 s) are far enough apart
that the pose changed and near enough that the camera still sees the same object and
scene; the simulated datasets' 90-frame episodes span a similar range.

Split: the recording is cut into consecutive ``segment_s``-second segments; a seeded random
``val_fraction`` of them is validation. Pairs never leave their segment, and validation
frames closer than ``guard_s`` (default ``min_gap_s``) to any training frame are dropped, so
no validation frame is a near-duplicate of a training frame.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from skeleton_perception.training.bags.reader import BagError, ImageBag, SkipStats
from torch.utils.data import Dataset

from skeleton_perception.preprocess import Letterbox, to_tensor_layout

NS = 1_000_000_000


@dataclass(frozen=True)
class CacheInfo:
    """Statistics of the decoded-frame cache.

    Attributes:
        hits: lookups served from the cache.
        misses: lookups that read and decoded the frame from the bag.
        size: frames held now.
        capacity: most frames ever held.
    """

    hits: int
    misses: int
    size: int
    capacity: int


class BagFrames:
    """Random access to the network-input frames of one image topic, LRU-cached.

    Args:
        path: the bag (see :class:`~skeleton_perception.training.bags.reader.ImageBag`).
        topic: image topic (None: the only one).
        stride: keep every ``stride``-th message of the topic.
        cache_size: most decoded frames held in memory (>= 1).
        input_size: side of the network input in pixels.
        progress: show a progress bar during the indexing pass.

    Attributes:
        times: (N,) int64 bag timestamps of the decodable frames, non-decreasing.
        occurrence: (N,) int32 rank of each frame among messages with the same timestamp.
        skipped: counts of the messages skipped during indexing.

    Raises:
        BagError: unreadable bag, bad topic, or no decodable frame.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        topic: str | None = None,
        *,
        stride: int = 1,
        cache_size: int = 2048,
        input_size: int = 64,
        progress: bool = False,
    ):
        if stride < 1 or cache_size < 1:
            raise ValueError(f"stride and cache_size must be >= 1, got {stride}, {cache_size}")
        self.path = Path(path)
        self.stride = stride
        self.cache_size = cache_size
        self.input_size = input_size
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()  # index -> (S, S, 3) uint8
        self._hits = self._misses = 0
        self._bag: ImageBag | None = None
        self._pid = os.getpid()
        bag = ImageBag(self.path, topic).open()
        self._bag = bag
        self.topic = bag.topic
        self._index(bag, progress)

    def _index(self, bag: ImageBag, progress: bool) -> None:
        """The one pass: decode every kept frame, record where it is, fill the cache."""
        times: list[int] = []
        occurrence: list[int] = []
        self.skipped = SkipStats()
        frames = bag.indexed_frames(stride=self.stride, stats=self.skipped, warn=False)
        if progress:
            from tqdm import tqdm

            total = -(-bag.count // self.stride)
            frames = tqdm(frames, total=total, desc=f"indexing {bag.topic}", unit="frame")
        for frame in frames:
            times.append(frame.t_ns)
            occurrence.append(frame.occurrence)
            self._put(len(times) - 1, self._prepare(frame.rgb))
        self.skipped.warn(self.path, self.topic)
        self.times = np.asarray(times, np.int64)
        self.occurrence = np.asarray(occurrence, np.int32)

    def _prepare(self, rgb: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 RGB -> (S, S, 3) uint8 network input, as the detector does."""
        box = Letterbox.fit(rgb.shape[1], rgb.shape[0], self.input_size)
        return np.ascontiguousarray(box.apply(rgb))

    def _put(self, index: int, frame: np.ndarray) -> None:
        self._cache[index] = frame
        self._cache.move_to_end(index)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    def _open_bag(self) -> ImageBag:
        """The bag, reopened in a new process (DataLoader workers must not share handles)."""
        if self._bag is None or self._pid != os.getpid():
            self._bag = ImageBag(self.path, self.topic).open()
            self._pid = os.getpid()
        return self._bag

    def __len__(self) -> int:
        return len(self.times)

    def frame(self, index: int) -> np.ndarray:
        """(S, S, 3) uint8 network-input frame ``index`` (0 .. N-1)."""
        cached = self._cache.get(index)
        if cached is not None:
            self._hits += 1
            self._cache.move_to_end(index)
            return cached
        self._misses += 1
        rgb = self._open_bag().frame_at(int(self.times[index]), int(self.occurrence[index]))
        frame = self._prepare(rgb)
        self._put(index, frame)
        return frame

    def __getitem__(self, index: int) -> np.ndarray:
        """(3, S, S) float32 in [0, 1]: the network input of frame ``index``."""
        return to_tensor_layout(self.frame(index))

    def cache_info(self) -> CacheInfo:
        """Hits, misses and size of the frame cache in this process."""
        return CacheInfo(self._hits, self._misses, len(self._cache), self.cache_size)

    def close(self) -> None:
        """Closes the bag (it reopens on the next cache miss)."""
        if self._bag is not None and self._pid == os.getpid():
            self._bag.close()
        self._bag = None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_bag"] = None  # an open file handle does not cross processes
        return state


@dataclass(frozen=True)
class Split:
    """Which frames train and which validate.

    Attributes:
        train: (M_t,) int64 frame indices of the training frames, increasing.
        val: (M_v,) int64 frame indices of the validation frames, increasing.
        segment: (N,) int64 segment number of every frame (the pair "episode").
        val_segments: (V,) int64 the validation segment numbers.
    """

    train: np.ndarray
    val: np.ndarray
    segment: np.ndarray
    val_segments: np.ndarray


def split_by_segments(
    times: np.ndarray,
    *,
    segment_s: float,
    val_fraction: float,
    guard_s: float,
    seed: int,
) -> Split:
    """Splits frames into train/validation by whole time segments.

    Args:
        times: (N,) int64 non-decreasing timestamps in ns.
        segment_s: segment length in seconds.
        val_fraction: fraction of the (non-empty) segments used for validation.
        guard_s: validation frames closer than this to a training frame are dropped.
        seed: seeds the choice of validation segments.

    Raises:
        ValueError: validation asked for but the recording has fewer than 2 segments.
    """
    if segment_s <= 0 or not 0.0 <= val_fraction < 1.0:
        raise ValueError(
            f"need segment_s > 0 and 0 <= val_fraction < 1, got {segment_s}, {val_fraction}"
        )
    times = np.asarray(times, np.int64)
    segment = (times - times[0]) // round(segment_s * NS) if len(times) else times
    present = np.unique(segment)
    n_val = 0
    if val_fraction > 0:
        if len(present) < 2:
            span = (times[-1] - times[0]) / NS if len(times) else 0.0
            raise ValueError(
                f"the recording spans {span:.1f} s, one segment of {segment_s:g} s: too short "
                "to hold out validation segments; lower segment_s or set val_fraction to 0"
            )
        n_val = min(len(present) - 1, max(1, round(val_fraction * len(present))))
    # Validation segments are drawn among the well-filled ones (the last segment of a
    # recording is usually partial, and the guard gap would empty a short one).
    span = np.array([np.ptp(times[segment == s]) for s in present], np.int64)
    eligible = present[span >= 0.5 * segment_s * NS]
    eligible = eligible if len(eligible) > n_val else present
    rng = np.random.default_rng(seed)
    val_segments = (
        np.sort(rng.choice(eligible, size=n_val, replace=False)) if n_val else present[:0]
    )
    is_val = np.isin(segment, val_segments)
    train = np.flatnonzero(~is_val)
    val = np.flatnonzero(is_val)
    if len(val) and len(train) and guard_s > 0:
        t_train = times[train]
        pos = np.searchsorted(t_train, times[val])
        before = np.abs(times[val] - t_train[np.clip(pos - 1, 0, len(train) - 1)])
        after = np.abs(t_train[np.clip(pos, 0, len(train) - 1)] - times[val])
        val = val[np.minimum(before, after) >= guard_s * NS]
    return Split(train, val, segment.astype(np.int64), val_segments.astype(np.int64))


class BagPairDataset(Dataset):
    """(source, target) pairs of frames of one recording, as the simulated PairDataset.

    Items are dicts with ``source`` and ``target`` (3, S, S) float32 in [0, 1], ``episode``
    (the time segment number), ``source_index`` and ``target_index`` (frame indices into
    :class:`BagFrames`, i.e. positions among the topic's decodable, strided frames).

    Args:
        frames: the frame store, shared by the train and validation datasets.
        indices: (M,) increasing frame indices this dataset may use.
        segment: (N,) segment number of every frame of ``frames``.
        min_gap_s: smallest time between source and target.
        max_gap_s: largest time between source and target.
        resample: draw a fresh target at every access (training); otherwise the target
            of an index is fixed by ``seed`` (validation, reproducible scores).
        seed: seeds target choice.

    Raises:
        ValueError: no frame has a partner within the time window.
    """

    def __init__(
        self,
        frames: BagFrames,
        indices: np.ndarray,
        segment: np.ndarray,
        *,
        min_gap_s: float = 0.3,
        max_gap_s: float = 3.0,
        resample: bool = True,
        seed: int = 0,
    ):
        if not 0 <= min_gap_s <= max_gap_s or max_gap_s <= 0:
            raise ValueError(
                f"need 0 <= min_gap_s <= max_gap_s and max_gap_s > 0, got {min_gap_s}, {max_gap_s}"
            )
        self.frames = frames
        self.min_gap_s, self.max_gap_s = min_gap_s, max_gap_s
        self.resample, self.seed = resample, seed
        indices = np.asarray(indices, np.int64)
        times, seg = frames.times[indices], np.asarray(segment, np.int64)[indices]
        lo_ns, hi_ns = round(min_gap_s * NS), round(max_gap_s * NS)
        # Candidate targets of source m: positions [a, b) (earlier) and [c, d) (later) of
        # ``indices``, all in m's segment (segments are contiguous runs in time order).
        seg_start = np.searchsorted(seg, seg, side="left")
        seg_end = np.searchsorted(seg, seg, side="right")
        a = np.maximum(np.searchsorted(times, times - hi_ns, side="left"), seg_start)
        b = np.maximum(np.searchsorted(times, times - lo_ns, side="right"), a)
        d = np.minimum(np.searchsorted(times, times + hi_ns, side="right"), seg_end)
        c = np.minimum(np.searchsorted(times, times + lo_ns, side="left"), d)
        if lo_ns == 0:  # a frame is never its own target
            pos = np.arange(len(indices))
            b = np.minimum(b, pos)
            c = np.maximum(c, pos + 1)
            d = np.maximum(d, c)
        valid = (b - a) + (d - c) > 0
        self.indices = indices
        self.segment = seg
        self.sources = np.flatnonzero(valid)  # positions into ``indices``
        self.ranges = np.stack([a, b, c, d], axis=1)[valid]  # (L, 4)
        if len(self.sources) == 0 and len(indices):
            raise ValueError(
                f"no two frames of a segment are {min_gap_s:g} to {max_gap_s:g} s apart "
                f"({len(indices)} frames); widen the window or lengthen segment_s"
            )
        self._rng: np.random.Generator | None = None
        self._rng_pid = -1

    def __len__(self) -> int:
        return len(self.sources)

    def _generator(self, item: int) -> np.random.Generator:
        if not self.resample:
            return np.random.default_rng([self.seed, item])
        if self._rng is None or self._rng_pid != os.getpid():
            # Distinct per DataLoader worker, reproducible under torch.manual_seed.
            self._rng = np.random.default_rng([self.seed, torch.initial_seed() % 2**63])
            self._rng_pid = os.getpid()
        return self._rng

    def target_position(self, item: int, rng: np.random.Generator | None = None) -> int:
        """Draws the target (a position into ``indices``) of pair ``item``."""
        a, b, c, d = (int(v) for v in self.ranges[item])
        rng = self._generator(item) if rng is None else rng
        k = int(rng.integers((b - a) + (d - c)))
        return a + k if k < b - a else c + k - (b - a)

    def __getitem__(self, item: int) -> dict:
        if not 0 <= item < len(self):
            raise IndexError(f"pair {item} out of range 0..{len(self) - 1}")
        src_pos = int(self.sources[item])
        tgt_pos = self.target_position(item)
        src, tgt = int(self.indices[src_pos]), int(self.indices[tgt_pos])
        return dict(
            source=torch.from_numpy(self.frames[src]),  # (3, S, S)
            target=torch.from_numpy(self.frames[tgt]),  # (3, S, S)
            episode=int(self.segment[src_pos]),
            source_index=src,
            target_index=tgt,
        )


def build_bag_datasets(
    bag: str | os.PathLike,
    topic: str | None = None,
    *,
    max_gap_s: float = 3.0,
    min_gap_s: float = 0.3,
    stride: int = 1,
    val_fraction: float = 0.1,
    segment_s: float = 10.0,
    guard_s: float | None = None,
    cache_size: int = 2048,
    seed: int = 0,
    input_size: int = 64,
    progress: bool = True,
) -> tuple[BagPairDataset, BagPairDataset | None]:
    """Training and validation pair datasets of one image topic of a bag.

    Args:
        bag: rosbag2 directory, ``.mcap`` / ``.db3`` file, or ROS 1 ``.bag``.
        topic: image topic (None: the only image topic, else an error listing them).
        max_gap_s: largest time between the two frames of a pair.
        min_gap_s: smallest time between the two frames of a pair.
        stride: use every ``stride``-th message of the topic.
        val_fraction: fraction of time segments held out for validation (0: none).
        segment_s: length of the time segments the split is made of.
        guard_s: validation frames this close to a training frame are dropped (default:
            ``min_gap_s``, the time after which a frame counts as a different pose).
        cache_size: decoded frames held in memory (per process).
        seed: seeds the split and the validation pairs.
        input_size: network input side, in pixels.
        progress: show a progress bar while indexing.

    Returns:
        ``(train, val)``; ``val`` is None when ``val_fraction`` is 0.

    Raises:
        BagError: unreadable bag, bad topic, no decodable frame, or no usable pair.
    """
    frames = BagFrames(
        bag, topic, stride=stride, cache_size=cache_size, input_size=input_size, progress=progress
    )
    guard_s = min_gap_s if guard_s is None else guard_s
    try:
        split = split_by_segments(
            frames.times, segment_s=segment_s, val_fraction=val_fraction, guard_s=guard_s, seed=seed
        )
        train = BagPairDataset(
            frames, split.train, split.segment, min_gap_s=min_gap_s, max_gap_s=max_gap_s,
            resample=True, seed=seed,
        )  # fmt: skip
        val = None
        if val_fraction > 0:
            val = BagPairDataset(
                frames, split.val, split.segment, min_gap_s=min_gap_s, max_gap_s=max_gap_s,
                resample=False, seed=seed,
            )  # fmt: skip
    except ValueError as err:
        raise BagError(frames.path, str(err), frames.topic) from None
    if len(train) == 0:
        raise BagError(frames.path, "no training pairs", frames.topic)
    if val is not None and len(val) == 0:
        raise BagError(
            frames.path,
            f"the validation segments hold no pairs ({len(split.val)} frames after the "
            f"{guard_s:g} s guard gap); lengthen segment_s, raise val_fraction, or set it to 0",
            frames.topic,
        )
    return train, val
