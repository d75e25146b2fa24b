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
from collections import deque
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


@dataclass(eq=False)
class _Held:
    """A decoded frame kept while it may still be compared (the stream's window)."""

    index: int
    t_ns: int
    segment: int
    rgb: np.ndarray  # (H, W, 3) uint8


def partner(frame: _Held, window: list[_Held], cfg: MotionConfig) -> _Held | None:
    """The frame of ``window`` compared with ``frame``: same segment, about ``gap_s`` away.

    Among the frames 0.5 to 1.5 ``gap_s`` away, an earlier one is preferred, then the one
    nearest ``gap_s``; None when there is none (a segment shorter than half the gap).
    """
    candidates = []
    for other in window:
        gap = abs(other.t_ns - frame.t_ns) / 1e9
        if other.segment == frame.segment and 0.5 * cfg.gap_s <= gap <= 1.5 * cfg.gap_s:
            candidates.append((other.t_ns > frame.t_ns, abs(gap - cfg.gap_s), other.index, other))
    return min(candidates, key=lambda c: c[:3])[3] if candidates else None


def background_mask(frame: _Held, window: list[_Held], cfg: MotionConfig, size: int) -> np.ndarray:
    """(size, size) bool: ``frame``'s explained background at the network input.

    Compared with its :func:`partner` in ``window``; without one (or of another size) only
    the letterbox padding is background.
    """
    other = partner(frame, window, cfg)
    if other is None or other.rgb.shape != frame.rgb.shape:
        mask = np.zeros(frame.rgb.shape[:2], bool)
    else:
        mask = explained_background(other.rgb, frame.rgb, cfg)
    return letterboxed_mask(mask, size)


class MotionFrames(Dataset):
    """Frames of one image topic with their explained background, for ``adapt``.

    One pass over the topic keeps every ``stride``-th decodable frame at the network
    input (12 KiB at 64x64) and its background mask (4 KiB); decoded frames are held only
    while a later frame may still be compared with them (three ``gap_s``), so memory does
    not grow with the camera's resolution times the bag's length. A frame is compared
    with the frame nearest ``gap_s`` earlier in its segment (later for a segment's first
    ones). Item ``k``: ``look`` and ``plain`` (the same (3, S, S) float32 frame: the
    teacher and the student see it alike) and ``mask`` ((S, S) bool background).

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
        frames: list[np.ndarray] = []  # (S, S, 3) uint8 each
        masks: list[np.ndarray | None] = []  # (S, S) bool each, filled once settled
        window: list[_Held] = []  # the last three gaps' decoded frames
        pending: deque[_Held] = deque()  # in time order: frames whose partner may be ahead
        self.skipped = SkipStats()
        segment, first_t, last_t = 0, None, None

        def settle(held: _Held, window: list[_Held]) -> None:
            masks[held.index] = background_mask(held, window, cfg, size)

        with ImageBag(path, topic) as bag:
            self.topic = bag.topic
            stream = bag.frames(stride=stride, stats=self.skipped)
            for t_ns, rgb in tqdm(stream, total=-(-bag.count // stride), disable=not progress,
                                  desc=f"camera motion on {bag.topic}", unit="frame"):  # fmt: skip
                pause = last_t is not None and t_ns - last_t > 2 * cfg.gap_s * 1e9
                if first_t is None or pause or t_ns - first_t >= cfg.segment_s * 1e9:
                    segment, first_t = segment + 1, t_ns
                last_t = t_ns
                held = _Held(len(frames), t_ns, segment, rgb)
                box = Letterbox.fit(rgb.shape[1], rgb.shape[0], size)
                frames.append(np.ascontiguousarray(box.apply(rgb)))
                masks.append(None)
                window.append(held)
                pending.append(held)
                while t_ns - pending[0].t_ns > 1.5 * cfg.gap_s * 1e9:
                    settle(pending.popleft(), window)
                window = [h for h in window if t_ns - h.t_ns <= 3 * cfg.gap_s * 1e9]
        for held in pending:
            settle(held, window)
        self.frames = np.stack(frames)  # (N, S, S, 3) uint8
        self.masks = np.stack(masks)  # (N, S, S) bool

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, k: int) -> dict:
        frame = torch.from_numpy(to_tensor_layout(self.frames[k]))  # (3, S, S)
        return {"look": frame, "plain": frame, "mask": torch.from_numpy(self.masks[k])}
