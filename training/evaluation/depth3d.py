"""``skeleton-perception eval-3d``: the 3D error of the skeletons placed with depth.

Plays the simulated camera at ``sim_camera``'s default settings (the same family, seed
and image size, with the aligned depth render), runs the detector on every frame, places
its joints in 3D with the code of the ``skeleton_3d`` node
(:func:`skeleton_perception.deprojection.deproject`, the same window, range and
intrinsics), and compares them with the simulator's 3D ground truth. Predicted joints are
matched to ground-truth joints per episode with the evaluation's matching
(:func:`..matching.match_episode`, on the 2D trajectories).

Two references, because a depth camera sees surfaces and the ground-truth joints are
points inside the bodies (a pole's hinge lies on the capsule's axis, a body radius
behind the surface the camera sees):

* **joint**: the true 3D joint, what a planner wants;
* **surface**: where the ray through the true joint's pixel first meets a surface (an
  exact MuJoCo ray cast, independent of the depth render), what an ideal depth camera
  measures at that pixel.

Besides the detected joints, the ground-truth pixels are placed in 3D through the same
code: their error against the surface is what the deprojection itself costs (depth
render, window median, intrinsics), their error against the joint is the body's radius.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from skeleton_perception.training.evaluation.matching import (
    match_episode,
    normalise_xy,
    pairwise_distances,
)

from skeleton_perception.atomic import atomic_path, write_bytes_atomic
from skeleton_perception.deprojection import DepthWindow, PinholeCamera, deproject
from skeleton_perception.drawing import draw_skeleton, id_colors, upscale_for
from skeleton_perception.skeleton_msg import ground_truth_skeleton

# sim_camera's defaults (skeleton_perception/nodes/sim_camera_node.py; a test checks
# that they agree).
SIM_FAMILY = "cartpoles"
SIM_SEED = 0
SIM_WIDTH, SIM_HEIGHT = 320, 240
FRAMES_PER_EPISODE = 90


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the command's options to ``parser``."""
    parser.add_argument("--family", default=SIM_FAMILY, help=f"({SIM_FAMILY})")
    parser.add_argument("--seed", type=int, default=SIM_SEED, help=f"({SIM_SEED})")
    parser.add_argument("--width", type=int, default=SIM_WIDTH, help=f"({SIM_WIDTH})")
    parser.add_argument("--height", type=int, default=SIM_HEIGHT, help=f"({SIM_HEIGHT})")
    parser.add_argument("--episodes", type=int, default=10, help="episodes of 90 frames (10)")
    parser.add_argument("--model", default=None, help="checkpoint; default: the shipped model")
    parser.add_argument("--device", default="cpu", help="detector device (cpu)")
    window = DepthWindow()
    parser.add_argument(
        "--depth-window", type=int, default=window.window, help=f"({window.window})"
    )
    parser.add_argument("--min-depth", type=float, default=window.min_depth)
    parser.add_argument("--max-depth", type=float, default=window.max_depth)
    parser.add_argument("--out", default=None, help="results JSON (atomic); default: print only")
    parser.add_argument(
        "--figure", default=None, help="also draw one frame's 3D joints into this PNG"
    )


@dataclass
class Errors:
    """Per joint-frame errors in metres (or pixels), appended episode by episode."""

    values: dict[str, list[float]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, values: np.ndarray) -> None:
        """Appends the finite ``values`` under ``name``."""
        values = np.asarray(values, np.float64).reshape(-1)
        self.values.setdefault(name, []).extend(values[np.isfinite(values)].tolist())

    def count(self, name: str, n: int) -> None:
        """Adds ``n`` to the counter ``name``."""
        self.counts[name] = self.counts.get(name, 0) + int(n)

    def summary(self, name: str, scale: float = 1e3) -> dict:
        """Median, p90 and the number of values, times ``scale`` (metres to mm)."""
        v = np.asarray(self.values.get(name, []))
        if v.size == 0:
            return {"n": 0, "median": None, "p90": None}
        return {
            "n": int(v.size),
            "median": round(float(np.median(v)) * scale, 2),
            "p90": round(float(np.percentile(v, 90)) * scale, 2),
        }


def score_episode(
    pred_px: np.ndarray,
    pred_present: np.ndarray,
    pred_3d: np.ndarray,
    pred_valid: np.ndarray,
    gt_px: np.ndarray,
    gt_visible: np.ndarray,
    gt_joint: np.ndarray,
    gt_surface: np.ndarray,
    gt_path: np.ndarray,
    gt_path_valid: np.ndarray,
    focal: float,
    image_size: tuple[int, int],
    errors: Errors,
) -> None:
    """Scores one episode into ``errors``.

    Args:
        pred_px: (T, N, 2) predicted joint pixels, one column per joint id.
        pred_present: (T, N) bool.
        pred_3d: (T, N, 3) deprojected predicted joints, optical frame, metres.
        pred_valid: (T, N) bool, a depth was found.
        gt_px: (T, J, 2) ground-truth pixels.
        gt_visible: (T, J) bool, on the image.
        gt_joint: (T, J, 3) true joints, optical frame.
        gt_surface: (T, J, 3) ray-cast surface at the true joints' pixels.
        gt_path: (T, J, 3) the ground-truth pixels deprojected by the same code.
        gt_path_valid: (T, J) bool.
        focal: focal length in pixels (2D errors in mm at the joint's depth).
        image_size: (width, height).
        errors: where the errors go.
    """
    dist = pairwise_distances(
        normalise_xy(pred_px, image_size), pred_present, normalise_xy(gt_px, image_size), gt_visible
    )
    match = match_episode(dist)  # (N,) ground-truth joint of each predicted id, -1: none
    for n in np.flatnonzero(match >= 0):
        j = match[n]
        both = pred_present[:, n] & gt_visible[:, j]  # (T,)
        errors.count("detected_matched", both.sum())
        errors.count("detected_valid", (both & pred_valid[:, n]).sum())
        ok = both & pred_valid[:, n]
        p = pred_3d[ok, n]
        errors.add("detected_vs_joint", np.linalg.norm(p - gt_joint[ok, j], axis=1))
        errors.add("detected_vs_surface", np.linalg.norm(p - gt_surface[ok, j], axis=1))
        px = np.linalg.norm(pred_px[both, n] - gt_px[both, j], axis=1)
        errors.add("detected_2d_px", px * 1e-3)  # summary() scales by 1e3: pixels
        errors.add("detected_2d_at_depth", px * gt_joint[both, j, 2] / focal)
    vis = gt_visible
    errors.count("truth_visible", vis.sum())
    errors.count("truth_valid", (vis & gt_path_valid).sum())
    ok = vis & gt_path_valid
    errors.add("truth_pixels_vs_surface", np.linalg.norm(gt_path[ok] - gt_surface[ok], axis=1))
    errors.add("truth_pixels_vs_joint", np.linalg.norm(gt_path[ok] - gt_joint[ok], axis=1))
    errors.add("surface_to_joint", np.linalg.norm(gt_surface[vis] - gt_joint[vis], axis=1))


def run(args: argparse.Namespace) -> int:
    """Runs the evaluation; prints the summary, writes ``--out`` and ``--figure``."""
    import torch
    from skeleton_perception.training.sim.live import SimulatedCamera

    from skeleton_perception import SkeletonDetector

    torch.set_num_threads(1)
    detector = SkeletonDetector.from_checkpoint(args.model, device=args.device)
    window = DepthWindow(args.depth_window, args.min_depth, args.max_depth)
    size = (args.width, args.height)
    errors = Errors()
    figure_frame = None
    start = time.monotonic()
    with SimulatedCamera(args.family, args.seed, (args.height, args.width), depth=True) as cam:
        fx, fy, cx, cy = cam.intrinsics
        camera = PinholeCamera.from_camera_info(
            args.width, args.height, [fx, 0, cx, 0, fy, cy, 0, 0, 1], [], "plumb_bob"
        )
        num_points = int(detector.model.cfg.num_points)
        for episode in range(args.episodes):
            rows = []
            for _ in range(FRAMES_PER_EPISODE):
                frame = cam.step()
                sk = detector(frame.image)
                pred = deproject(sk.joints, frame.depth, camera, window)
                truth = deproject(frame.joints, frame.depth, camera, window)
                rows.append((frame, sk, pred, truth, cam.surface_3d()))
            num_joints = rows[0][0].joints.shape[0]
            T = len(rows)
            pred_px = np.zeros((T, num_points, 2))
            pred_present = np.zeros((T, num_points), bool)
            pred_3d = np.full((T, num_points, 3), np.nan)
            pred_valid = np.zeros((T, num_points), bool)
            for t, (_, sk, pred, _, _) in enumerate(rows):
                ids = np.asarray(sk.joint_ids, np.int64)
                pred_px[t, ids] = sk.joints
                pred_present[t, ids] = True
                pred_3d[t, ids] = pred.points
                pred_valid[t, ids] = pred.valid
            score_episode(
                pred_px,
                pred_present,
                pred_3d,
                pred_valid,
                np.stack([r[0].joints for r in rows]),
                np.stack([r[0].visible for r in rows]),
                np.stack([r[0].joints_3d for r in rows]),
                np.stack([r[4] for r in rows]),
                np.stack([r[3].points for r in rows]),
                np.stack([r[3].valid for r in rows]),
                fx,
                size,
                errors,
            )
            if figure_frame is None:
                figure_frame = rows[T // 2]
            print(
                f"episode {episode + 1}/{args.episodes}: {rows[0][0].family}, {num_joints} joints"
            )
    results = summarise(args, errors, time.monotonic() - start)
    print(json.dumps(results, indent=2))
    if args.out:
        write_bytes_atomic(args.out, (json.dumps(results, indent=2) + "\n").encode())
        print(f"wrote {args.out}")
    if args.figure and figure_frame is not None:
        draw_figure(figure_frame, args.figure)
        print(f"wrote {args.figure}")
    return 0


def summarise(args: argparse.Namespace, errors: Errors, seconds: float) -> dict:
    """The results JSON: settings, then the error summaries in mm (2D in pixels)."""
    c = errors.counts
    return {
        "command": (
            f"skeleton-perception eval-3d --family {args.family} --seed {args.seed} "
            f"--width {args.width} --height {args.height} --episodes {args.episodes} "
            f"--depth-window {args.depth_window} --min-depth {args.min_depth} "
            f"--max-depth {args.max_depth}" + (f" --model {args.model}" if args.model else "")
        ),
        "model": args.model or "(default)",
        "frames": args.episodes * FRAMES_PER_EPISODE,
        "seconds": round(seconds, 1),
        "units": "mm, except detected_2d_error_px (pixels); n = joint-frames",
        "detected": {
            "matched_joint_frames": c.get("detected_matched", 0),
            "valid_fraction": _ratio(c.get("detected_valid", 0), c.get("detected_matched", 0)),
            "error_3d_vs_joint_mm": errors.summary("detected_vs_joint"),
            "error_3d_vs_surface_mm": errors.summary("detected_vs_surface"),
            "error_2d_px": errors.summary("detected_2d_px"),
            "error_2d_at_joint_depth_mm": errors.summary("detected_2d_at_depth"),
        },
        "ground_truth_pixels": {
            "visible_joint_frames": c.get("truth_visible", 0),
            "valid_fraction": _ratio(c.get("truth_valid", 0), c.get("truth_visible", 0)),
            "error_3d_vs_surface_mm": errors.summary("truth_pixels_vs_surface"),
            "error_3d_vs_joint_mm": errors.summary("truth_pixels_vs_joint"),
        },
        "surface_to_joint_mm": errors.summary("surface_to_joint"),
    }


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def draw_figure(row, out: str | Path) -> Path:
    """Draws one frame: the detected skeleton on the image, and the same joints in 3D.

    The 3D panel shows what the ``skeleton_3d`` markers show (the valid joints, coloured
    by id, and their links), with the true joints and the surfaces seen at their pixels.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frame, sk, pred, _, surface = row
    fig = plt.figure(figsize=(10, 4.2))
    ax = fig.add_subplot(1, 2, 1)
    vis = frame.visible
    height, width = frame.image.shape[:2]
    truth = ground_truth_skeleton(frame.joints, vis, frame.adjacency, (width, height))
    upscale = upscale_for(frame.image, 480)
    drawn = draw_skeleton(frame.image, sk, ground_truth=truth, upscale=upscale)
    ax.imshow(drawn, extent=(-0.5, width - 0.5, height - 0.5, -0.5))
    ax.set_title("detector (2D); true skeleton in white")
    ax.axis("off")
    ax3 = fig.add_subplot(1, 2, 2, projection="3d")

    # Optical frame (x right, y down, z forward) drawn with z into the page, y up.
    def show(points):
        return points[:, 0], points[:, 2], -points[:, 1]

    ok = pred.valid
    for a, b in sk.links:
        if ok[a] and ok[b]:
            ax3.plot(*show(pred.points[[a, b]]), color="grey", lw=2)
    for p, colour in zip(pred.points[ok], id_colors(sk.joint_ids[ok]), strict=True):
        ax3.scatter(*show(p[None]), s=40, color=colour, edgecolors="black")
    adj = np.triu(frame.adjacency, 1)
    for a, b in zip(*np.nonzero(adj), strict=True):
        if vis[a] and vis[b]:
            ax3.plot(*show(frame.joints_3d[[a, b]]), color="black", lw=1, ls="--")
    ax3.scatter(*show(frame.joints_3d[vis]), s=25, color="black", marker="x", label="true joint")
    ax3.scatter(*show(surface[vis]), s=18, color="red", marker="^", label="surface seen there")
    ax3.set_xlabel("x (m)")
    ax3.set_ylabel("z, depth (m)")
    ax3.set_zlabel("-y (m)")
    ax3.view_init(elev=20, azim=-60)
    ax3.legend(loc="upper left", fontsize=8)
    ax3.set_title("skeleton_3d joints (colour) in the optical frame")
    fig.tight_layout()
    with atomic_path(out, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=90)
    plt.close(fig)
    return Path(out)
