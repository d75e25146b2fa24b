"""Drawing skeletons on images: one colour per joint id and one drawing function (OpenCV).

Everything that shows a skeleton uses these two: the detector node's debug image and its
RViz markers, ``skeleton-perception predict`` videos, the demo's snapshots, the evaluation
figures and the training plots. A joint's colour depends only on its id, so a physical joint
keeps its colour from frame to frame, in the image and in RViz. numpy and OpenCV only.
"""

from __future__ import annotations

import colorsys

import cv2
import numpy as np

from skeleton_perception.skeleton import Skeleton

_GOLDEN = 0.618033988749895
_WHITE = (255, 255, 255)
_SHIFT = 4  # sub-pixel drawing: coordinates in 1/16 pixel


def id_colors(ids: np.ndarray) -> np.ndarray:
    """Returns a distinct, stable colour per joint id.

    Args:
        ids: (K,) integer ids.

    Returns:
        (K, 3) float32 RGB in [0, 1]; hues spaced by the golden ratio.
    """
    ids = np.asarray(ids, np.int64).reshape(-1)
    colors = [colorsys.hsv_to_rgb((0.1 + i * _GOLDEN) % 1.0, 0.85, 1.0) for i in ids.tolist()]
    return np.asarray(colors, np.float32).reshape(-1, 3)


def upscale_for(image: np.ndarray, pixels: int) -> int:
    """The whole factor that brings an image's longer side to at least ``pixels`` (>= 1)."""
    return max(1, -(-int(pixels) // max(image.shape[:2])))


def draw_skeleton(
    rgb: np.ndarray,
    skeleton: Skeleton,
    *,
    radius: int | None = None,
    thickness: int | None = None,
    ground_truth: Skeleton | None = None,
    points: bool = False,
    upscale: int = 1,
) -> np.ndarray:
    """Draws links (lines) and joints (filled discs, coloured by id) on a copy of ``rgb``.

    Args:
        rgb: (H, W, 3) uint8 RGB image; not modified.
        skeleton: the prediction, in ``rgb``'s pixels.
        radius: joint disc radius in output pixels (default: scaled with the output size).
        thickness: link line width in output pixels (default: scaled with the output size).
        ground_truth: optional ground truth, drawn first as thin white lines and rings.
        points: also draw ``skeleton.points`` (all foreground points; joint ids index
            them) as small dots in their ids' colours.
        upscale: integer factor the image is enlarged by (nearest neighbour) before
            drawing, so that skeletons on small images (e.g. 64 x 64) stay legible.

    Returns:
        (H * upscale, W * upscale, 3) uint8 RGB image.
    """
    out = np.ascontiguousarray(rgb, dtype=np.uint8)
    if upscale > 1:
        out = cv2.resize(out, None, fx=upscale, fy=upscale, interpolation=cv2.INTER_NEAREST)
    else:
        out = out.copy()
    scale = max(out.shape[0], out.shape[1]) / 320.0
    radius = radius if radius is not None else max(2, round(4 * scale))
    thickness = thickness if thickness is not None else max(1, round(2 * scale))

    def to_px(xy) -> tuple[int, int]:
        # pixel centres stay centres: x_out = (x + 0.5) * upscale - 0.5
        return tuple(round(((v + 0.5) * upscale - 0.5) * (1 << _SHIFT)) for v in xy)

    def disc(xy, r: int, color, fill: int) -> None:
        cv2.circle(out, to_px(xy), r << _SHIFT, color, fill, cv2.LINE_AA, _SHIFT)

    if ground_truth is not None and ground_truth.num_joints:
        for a, b in ground_truth.links.tolist():
            p, q = ground_truth.joints[a], ground_truth.joints[b]
            cv2.line(out, to_px(p), to_px(q), _WHITE, 1, cv2.LINE_AA, _SHIFT)
        for p in ground_truth.joints:
            disc(p, radius + 2, _WHITE, 1)

    if points and len(skeleton.points):
        point_colors = (id_colors(np.arange(len(skeleton.points))) * 255).astype(np.int32)
        for p, c in zip(skeleton.points, point_colors.tolist(), strict=True):
            disc(p, max(1, radius // 2), c, -1)

    if skeleton.num_joints:
        colors = (id_colors(skeleton.joint_ids) * 255).astype(np.int32)
        for (a, b), s in zip(skeleton.links.tolist(), skeleton.link_scores.tolist(), strict=True):
            mix = ((colors[a] + colors[b]) // 2).tolist()
            width = max(1, round(thickness * (0.5 + 0.5 * float(s))))
            cv2.line(
                out, to_px(skeleton.joints[a]), to_px(skeleton.joints[b]), mix, width,
                cv2.LINE_AA, _SHIFT,
            )  # fmt: skip
        for p, c in zip(skeleton.joints, colors.tolist(), strict=True):
            disc(p, radius, c, -1)
            disc(p, radius, (0, 0, 0), 1)
    return out
