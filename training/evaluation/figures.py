"""Figures like the paper's Fig. 3 / Fig. 5: input, predicted joints + skeleton, ground truth.

Columns are frames of one episode; rows are the input image, each method's prediction and
the ground truth. A joint's colour depends only on its id (the point id for our model, the
keypoint index for Transporter, the joint index for the ground truth), so a joint that
keeps its colour along a row is tracked consistently.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from skeleton_perception.atomic import atomic_path
from skeleton_perception.skeleton import Skeleton


def id_colour(i: int) -> tuple[float, float, float]:
    """A stable colour per id (matplotlib's tab20, dark shades first, cycled)."""
    import matplotlib

    i = int(i) % 20
    return tuple(matplotlib.colormaps["tab20"]((2 * i) % 20 + i // 10)[:3])


def _draw(ax, joints: np.ndarray, ids: np.ndarray, links: np.ndarray, scale: float) -> None:
    for a, b in links:
        ax.plot(*joints[[a, b]].T, color="white", lw=1.5 * scale, alpha=0.9)
    for xy, i in zip(joints, ids, strict=True):
        ax.scatter(*xy, s=28 * scale**2, color=id_colour(i), edgecolors="black", linewidths=0.5)


def episode_figure(
    frames: np.ndarray,
    truth_joints: np.ndarray,
    truth_visible: np.ndarray,
    truth_adjacency: np.ndarray,
    predictions: Mapping[str, Sequence[Skeleton]],
    out: str | Path,
    columns: int = 6,
    title: str = "",
) -> Path:
    """Writes one episode's figure as a PNG.

    Args:
        frames: (T, H, W, 3) uint8 RGB.
        truth_joints: (T, J, 2) pixel xy.
        truth_visible: (T, J) bool.
        truth_adjacency: (J, J) bool.
        predictions: method label -> T skeletons (one row each).
        out: PNG path (parent folders are created).
        columns: number of evenly spaced frames shown.
        title: figure title.

    Returns:
        The PNG path.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    T, H, W, _ = frames.shape
    cols = np.unique(np.linspace(0, T - 1, min(columns, T)).round().astype(int))
    rows = ["input", *predictions.keys(), "ground truth"]
    fig, axes = plt.subplots(
        len(rows), len(cols), figsize=(1.7 * len(cols), 1.8 * len(rows)), squeeze=False
    )
    gt_links = np.argwhere(np.triu(truth_adjacency, 1))
    for c, t in enumerate(cols):
        for r, label in enumerate(rows):
            ax = axes[r, c]
            ax.imshow(frames[t] if r == 0 else (frames[t] * 0.55).astype(np.uint8))
            ax.set_xlim(-0.5, W - 0.5)
            ax.set_ylim(H - 0.5, -0.5)
            ax.set_xticks([])
            ax.set_yticks([])
            if label == "ground truth":
                vis = truth_visible[t]
                keep = gt_links[vis[gt_links[:, 0]] & vis[gt_links[:, 1]]]
                idx = np.flatnonzero(vis)
                remap = -np.ones(len(vis), int)
                remap[idx] = np.arange(len(idx))
                _draw(ax, truth_joints[t][idx], idx, remap[keep], 1.0)
            elif r > 0:
                skel = predictions[label][t]
                _draw(ax, np.asarray(skel.joints), skel.joint_ids, np.asarray(skel.links), 1.0)
            if c == 0:
                ax.set_ylabel(label, fontsize=8)
            if r == 0:
                ax.set_title(f"frame {t}", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    out = Path(out)
    with atomic_path(out, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return out
