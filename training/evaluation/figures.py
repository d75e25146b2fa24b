"""Figures like the paper's Fig. 3 / Fig. 5: input, predicted joints + skeleton, ground truth.

Columns are frames of one episode; rows are the input image, each method's prediction and
the ground truth, drawn by :func:`skeleton_perception.drawing.draw_skeleton`. A joint's
colour depends only on its id (the point id for our model, the keypoint index for
Transporter, the joint index for the ground truth), so a joint that keeps its colour along
a row is tracked consistently.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from skeleton_perception.atomic import atomic_path
from skeleton_perception.drawing import draw_skeleton, upscale_for
from skeleton_perception.skeleton import Skeleton
from skeleton_perception.skeleton_msg import ground_truth_skeleton

# Panels are drawn at about this many pixels on their longer side.
PANEL_PX = 192


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
    upscale = upscale_for(frames[0], PANEL_PX)
    for c, t in enumerate(cols):
        truth = ground_truth_skeleton(truth_joints[t], truth_visible[t], truth_adjacency, (W, H))
        dimmed = (frames[t] * 0.55).astype(np.uint8)
        for r, label in enumerate(rows):
            ax = axes[r, c]
            if r == 0:
                panel = frames[t]
            else:
                skel = truth if label == "ground truth" else predictions[label][t]
                panel = draw_skeleton(dimmed, skel, radius=5, thickness=3, upscale=upscale)
            ax.imshow(panel, extent=(-0.5, W - 0.5, H - 0.5, -0.5))
            ax.set_xticks([])
            ax.set_yticks([])
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
