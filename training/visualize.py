"""Plots written during training: loss curves, sample reconstructions and skeletons."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from skeleton_perception.atomic import atomic_path
from skeleton_perception.detector import skeleton_from_prediction
from skeleton_perception.drawing import draw_skeleton, upscale_for
from skeleton_perception.preprocess import Letterbox
from skeleton_perception.skeleton import Skeleton

# Skeleton panels are drawn at about this many pixels on their longer side.
PANEL_PX = 256


def _save(fig, path: Path) -> None:
    """Saves a figure atomically and closes it."""
    try:
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=80)
    finally:
        plt.close(fig)


def read_log(path: str | Path) -> dict[str, np.ndarray]:
    """The training CSV log as columns of floats (empty cells -> nan)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return {}
    cols = {}
    for key in rows[0]:
        cols[key] = np.array(
            [float(r[key]) if r.get(key) not in (None, "") else np.nan for r in rows]
        )
    return cols


def _smooth(y: np.ndarray, n: int = 10) -> np.ndarray:
    if len(y) < 2 * n:
        return y
    kernel = np.ones(n) / n
    return np.convolve(np.nan_to_num(y), kernel, mode="valid")


def plot_losses(log_path: str | Path, out_path: str | Path) -> None:
    """Loss curves from the CSV log.

    Panels: total and recon; the error on moving pixels with the points versus B's
    background alone; the skeleton losses (unweighted).
    """
    cols = read_log(log_path)
    if not cols or "step" not in cols:
        return
    step = cols["step"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))

    def curve(ax, key, **kw):
        if key in cols and np.isfinite(cols[key]).any():
            y = _smooth(cols[key])
            ax.plot(step[len(step) - len(y) :], y, label=key, **kw)

    for key in ("total", "recon"):
        curve(axes[0], key)
    axes[0].set_yscale("symlog", linthresh=0.01)
    axes[0].set_title("loss (weighted total, unweighted recon)")
    curve(axes[1], "fg_err_points", color="tab:green")
    curve(axes[1], "fg_err_background", color="tab:red")
    axes[1].set_title("error on moving pixels: points vs B alone")
    for key in ("near", "uniform", "sparse_links", "sparse_joints", "length", "contiguity"):
        curve(axes[2], key)
    axes[2].set_title("skeleton losses (unweighted)")
    for ax in axes:
        ax.set_xlabel("step")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    _save(fig, Path(out_path))


def _as_uint8(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) floats in [0, 1] -> uint8."""
    return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def plot_samples(
    out_path: str | Path,
    source: np.ndarray,
    target: np.ndarray,
    background: np.ndarray,
    recon: np.ndarray,
    xy_source: np.ndarray,
    xy_target: np.ndarray,
    S: np.ndarray,
    title: str = "",
) -> None:
    """One row per pair: source + skeleton, target + points, B's background, NPT recon.

    Images are (N, H, W, 3) floats in [0, 1]; xy (N, P, 2) pixels; S (N, P, P). Points
    and joints are drawn by :func:`~skeleton_perception.drawing.draw_skeleton` (colour by
    point id; links where S > 0.5, as the detector's default).
    """
    n = len(source)
    h, w = source.shape[1:3]
    identity = Letterbox.fit(w, h, max(w, h))  # network pixels are the image's pixels
    upscale = upscale_for(source[0], PANEL_PX)
    fig, axes = plt.subplots(n, 4, figsize=(8, 2.1 * n), squeeze=False)
    heads = ("source + skeleton (S>0.5)", "target + points", "background B", "NPT reconstruction")
    for r in range(n):
        skeleton = skeleton_from_prediction(xy_source[r], S[r], identity)
        points = dataclasses.replace(Skeleton.empty((w, h)), points=xy_target[r])
        style = {"radius": 6, "thickness": 3, "points": True, "upscale": upscale}
        panels = (
            draw_skeleton(_as_uint8(source[r]), skeleton, **style),
            draw_skeleton(_as_uint8(target[r]), points, **style),
            np.clip(background[r], 0, 1),
            np.clip(recon[r], 0, 1),
        )
        for c, img in enumerate(panels):
            ax = axes[r, c]
            ax.imshow(img, interpolation="nearest", extent=(-0.5, w - 0.5, h - 0.5, -0.5))
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(heads[c], fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    _save(fig, Path(out_path))


def plot_detections(
    images: list[np.ndarray], skeletons: list, out_path: str | Path, cols: int = 4
) -> None:
    """A grid of images (HxWx3 uint8) with their detected skeletons drawn over them.

    Joints, links and the other foreground points as
    :func:`~skeleton_perception.drawing.draw_skeleton` draws them.

    Args:
        images: input images.
        skeletons: :class:`~skeleton_perception.skeleton.Skeleton` per image.
        out_path: PNG to write.
        cols: columns of the grid.
    """
    rows = (len(images) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.2 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, sk in zip(axes.flat, images, skeletons, strict=False):
        h, w = image.shape[:2]
        drawn = draw_skeleton(
            image, sk, radius=5, points=True, upscale=upscale_for(image, PANEL_PX)
        )
        ax.imshow(drawn, interpolation="nearest", extent=(-0.5, w - 0.5, h - 0.5, -0.5))
        ax.set_title(f"{sk.num_joints} joints, {len(sk.links)} links", fontsize=7)
    fig.tight_layout()
    _save(fig, Path(out_path))
