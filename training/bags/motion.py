"""Where a recording's camera motion explains the image: the background a point must avoid.

A camera on a robot sees the scene move as a whole when it moves: a distant backdrop stays
put and a floor slides as one plane. Between two frames a fraction of a second apart,
every pixel that either stayed the same or moved with the one dominant plane motion (a
homography fitted with RANSAC to ORB feature matches) is *explained* by the camera; the
object's moving parts are not. :func:`explained_background` returns the explained pixels
that lie farther than ``margin_px`` from any unexplained one, so that the static parts of
the object next to its moving parts are not counted as background. No label is read.

:class:`MotionFrames` makes a bag into the items ``distill`` trains on (``skeleton-perception
adapt``): every frame letterboxed to the network input as the detector does, with the mask
of its background at that size (the letterbox padding counts as background too).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from skeleton_perception.preprocess import Letterbox, to_tensor_layout

from .reader import ImageBag, SkipStats


@dataclass(frozen=True)
class MotionConfig:
    """How the explained background is found.

    Attributes:
        gap_s: time between the two frames compared (the earlier frame when there is one
            in the same segment, else the later one).
        segment_s: frames farther apart than a recording's pauses are never compared: a
            gap longer than ``2 * gap_s`` between consecutive frames starts a new segment,
            and so does every ``segment_s`` seconds (``record-sim``'s episodes).
        threshold: largest per-channel difference (0-255, after a 5x5 Gaussian blur) of a
            pixel explained by a motion.
        margin_px: explained pixels closer than this to an unexplained one (camera pixels)
            are not background.
        features: ORB features per frame for the homography.
        ransac_px: RANSAC reprojection tolerance, camera pixels.
    """

    gap_s: float = 0.33
    segment_s: float = 10.0
    threshold: float = 20.0
    margin_px: float = 8.0
    features: int = 1500
    ransac_px: float = 2.0


def dominant_homography(source: np.ndarray, target: np.ndarray, cfg: MotionConfig):
    """The plane motion most feature matches agree on, source -> target: (3, 3) or None."""
    orb = cv2.ORB_create(cfg.features)
    grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in (source, target)]
    (k0, d0), (k1, d1) = (orb.detectAndCompute(g, None) for g in grey)
    if d0 is None or d1 is None or len(k0) < 8 or len(k1) < 8:
        return None
    matches = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True).match(d0, d1)
    if len(matches) < 8:
        return None
    p0 = np.float32([k0[m.queryIdx].pt for m in matches])  # (M, 2)
    p1 = np.float32([k1[m.trainIdx].pt for m in matches])
    homography, _ = cv2.findHomography(p0, p1, cv2.RANSAC, cfg.ransac_px)
    return homography


def explained_background(
    source: np.ndarray, target: np.ndarray, cfg: MotionConfig = MotionConfig()
) -> np.ndarray:
    """Pixels of ``target`` that the camera's motion since ``source`` explains.

    Args:
        source: (H, W, 3) uint8 RGB, the other frame.
        target: (H, W, 3) uint8 RGB, the frame whose background is wanted.
        cfg: thresholds.

    Returns:
        (H, W) bool: explained by no motion or by the dominant homography, and at least
        ``margin_px`` from every unexplained pixel.
    """
    if source.shape != target.shape:
        raise ValueError(f"frames of different sizes: {source.shape} and {target.shape}")
    blur = [cv2.GaussianBlur(f, (5, 5), 0).astype(np.float32) for f in (source, target)]
    explained = np.abs(blur[1] - blur[0]).max(-1) < cfg.threshold  # (H, W)
    homography = dominant_homography(source, target, cfg)
    if homography is not None:
        height, width = target.shape[:2]
        warped = cv2.warpPerspective(blur[0], homography, (width, height), borderValue=(-1e3,) * 3)
        explained |= np.abs(blur[1] - warped).max(-1) < cfg.threshold
    explained = explained.astype(np.uint8)
    distance = cv2.distanceTransform(explained, cv2.DIST_L2, 3)  # to the nearest unexplained
    return distance > cfg.margin_px


def letterboxed_mask(mask: np.ndarray, size: int) -> np.ndarray:
    """(H, W) bool camera-pixel background -> (size, size) bool at the network input.

    A network pixel is background when most of the camera pixels it covers are; the
    letterbox padding is background.
    """
    box = Letterbox.fit(mask.shape[1], mask.shape[0], size)
    inner = cv2.resize(mask.astype(np.float32), (box.new_width, box.new_height),
                       interpolation=cv2.INTER_AREA) > 0.5  # fmt: skip
    out = np.ones((size, size), bool)
    out[box.pad_top : box.pad_top + box.new_height, box.pad_left : box.pad_left + box.new_width] = (
        inner
    )
    return out


def segment_starts(times_ns: np.ndarray, cfg: MotionConfig) -> np.ndarray:
    """(N,) int: for each frame, the index of the first frame of its segment."""
    starts = np.zeros(len(times_ns), np.int64)
    first = 0
    for i in range(1, len(times_ns)):
        pause = times_ns[i] - times_ns[i - 1] > 2 * cfg.gap_s * 1e9
        if pause or times_ns[i] - times_ns[first] >= cfg.segment_s * 1e9:
            first = i
        starts[i] = first
    return starts


class MotionFrames(Dataset):
    """Frames of one image topic with their explained background, for ``adapt``.

    One pass over the topic keeps every ``stride``-th decodable frame at the network
    input (12 KiB at 64x64) and its background mask (4 KiB); frames are compared with the
    frame nearest ``gap_s`` earlier in the same segment (later for a segment's first ones).
    Item ``k``: ``look`` and ``plain`` (the same (3, S, S) float32 frame: the teacher and
    the student see it alike) and ``mask`` ((S, S) bool background).

    Raises:
        BagError: unreadable bag, bad topic, or no decodable frame.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        topic: str | None = None,
        cfg: MotionConfig = MotionConfig(),
        stride: int = 1,
        size: int = 64,
        progress: bool = False,
    ):
        times, raw = [], []
        self.skipped = SkipStats()
        with ImageBag(path, topic) as bag:
            self.topic = bag.topic
            frames = bag.frames(stride=stride, stats=self.skipped)
            for t_ns, rgb in tqdm(frames, total=-(-bag.count // stride), disable=not progress,
                                  desc=f"reading {bag.topic}", unit="frame"):  # fmt: skip
                times.append(t_ns)
                raw.append(rgb)
        self.times = np.asarray(times, np.int64)
        starts = segment_starts(self.times, cfg)
        self.frames = np.empty((len(raw), size, size, 3), np.uint8)
        self.masks = np.empty((len(raw), size, size), bool)
        for i in tqdm(range(len(raw)), disable=not progress, desc="camera motion", unit="frame"):
            other = self._partner(i, starts, cfg)
            box = Letterbox.fit(raw[i].shape[1], raw[i].shape[0], size)
            self.frames[i] = box.apply(raw[i])
            if other is None or raw[other].shape != raw[i].shape:
                mask = np.zeros(raw[i].shape[:2], bool)  # no motion to compare: only padding
            else:
                mask = explained_background(raw[other], raw[i], cfg)
            self.masks[i] = letterboxed_mask(mask, size)

    def _partner(self, i: int, starts: np.ndarray, cfg: MotionConfig) -> int | None:
        """The frame compared with frame ``i``: about ``gap_s`` away in the same segment."""
        same = np.flatnonzero(starts == starts[i])
        gap = np.abs(self.times[same] - self.times[i]) / 1e9
        ok = (gap >= 0.5 * cfg.gap_s) & (gap <= 1.5 * cfg.gap_s)
        if not ok.any():
            return None
        earlier = ok & (self.times[same] < self.times[i])
        pool = earlier if earlier.any() else ok
        return int(same[pool][np.argmin(np.abs(gap[pool] - cfg.gap_s))])

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, k: int) -> dict:
        frame = torch.from_numpy(to_tensor_layout(self.frames[k]))  # (3, S, S)
        return {"look": frame, "plain": frame, "mask": torch.from_numpy(self.masks[k])}
