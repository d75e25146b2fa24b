"""``skeleton-perception preview``: a PNG grid of frames with ground-truth joints and links.

Examples::

    skeleton-perception preview --data data/spiders --out preview.png
    skeleton-perception preview --dataset spiders cartpoles --out preview.png   # render now
    skeleton-perception preview --dataset cartpoles --randomise --out randomised.png
    skeleton-perception preview --dataset cartpoles --split appearance --out heldout.png

Each source (a generated dataset directory, or a dataset rendered on the fly) gives one
row per episode (episodes of different families first): its first frame as rendered,
then frames spread over the episode, upscaled, with the visible joints (coloured by joint
number) and their links drawn by :func:`skeleton_perception.drawing.draw_skeleton`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
from skeleton_perception.training.sim.appearance import TRAINING_LOOKS
from skeleton_perception.training.sim.datasets import DATASETS, SPLITS, get_dataset
from skeleton_perception.training.sim.episode import Episode, EpisodeConfig
from skeleton_perception.training.sim.storage import EpisodeStore

from skeleton_perception.drawing import draw_skeleton
from skeleton_perception.skeleton_msg import ground_truth_skeleton


def draw_ground_truth(frame: np.ndarray, joints, visible, adjacency, scale: int) -> np.ndarray:
    """An upscaled copy of ``frame`` (RGB) with the visible joints and their links drawn."""
    h, w = frame.shape[:2]
    truth = ground_truth_skeleton(joints, visible, adjacency, (w, h))
    radius = scale + 1
    return draw_skeleton(frame, truth, radius=radius, thickness=1, upscale=scale)


def episode_row(ep: Episode, num_frames: int, scale: int, label: str) -> np.ndarray:
    """One row: frame 0 as rendered, then ``num_frames`` frames with ground truth."""
    times = np.linspace(0, len(ep.frames) - 1, num_frames).round().astype(int)
    h, w = ep.frames.shape[1:3]
    raw = cv2.resize(ep.frames[times[0]], (w * scale, h * scale), interpolation=cv2.INTER_NEAREST)
    tiles = [raw] + [
        draw_ground_truth(ep.frames[t], ep.joints[t], ep.visible[t], ep.adjacency, scale)
        for t in times
    ]
    row = np.concatenate([np.pad(t, ((1, 1), (1, 1), (0, 0))) for t in tiles], axis=1)
    text = np.zeros((row.shape[0], 150, 3), np.uint8)
    for k, line in enumerate(label.split("\n")):
        y = 18 + 16 * k
        cv2.putText(text, line, (4, y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (230, 230, 230), 1)
    return np.concatenate([text, row], axis=1)


def preview(rows: list[np.ndarray]) -> np.ndarray:
    """Stacks rows (padded to one width) into one RGB image."""
    width = max(r.shape[1] for r in rows)
    return np.concatenate([np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows])


def pick_episodes(store: EpisodeStore, count: int) -> list[int]:
    """Up to ``count`` episode positions, one per family first, then in order."""
    first: dict[str, int] = {}
    for i in range(len(store)):
        first.setdefault(store.meta(i)["family"], i)
    picks = sorted(first.values())[:count]
    picks += [i for i in range(len(store)) if i not in picks][: count - len(picks)]
    return picks


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the ``preview`` options."""
    parser.add_argument("--data", nargs="*", type=Path, default=[], help="dataset directories")
    parser.add_argument(
        "--dataset", nargs="*", default=[], choices=sorted(DATASETS), help="render these now"
    )
    parser.add_argument("--out", type=Path, default=Path("preview.png"), help="PNG to write")
    parser.add_argument(
        "--split", default="test", choices=SPLITS, help="split to show (--data or --dataset)"
    )
    parser.add_argument(
        "--randomise",
        action="store_true",
        help="--dataset: render with domain randomisation (as generate --randomise)",
    )
    parser.add_argument(
        "--look",
        choices=sorted(TRAINING_LOOKS),
        default="training",
        help="the ranges of --randomise (as generate --look)",
    )
    parser.add_argument(
        "--episodes",
        type=int,
        nargs="+",
        default=[2],
        help="episodes (rows) per source: one number, or one per source in order",
    )
    parser.add_argument("--frames", type=int, default=6, help="frames per row")
    parser.add_argument("--scale", type=int, default=2, help="upscaling of each frame")
    parser.add_argument("--seed", type=int, default=0, help="seed for --dataset")


def run(args: argparse.Namespace) -> int:
    """Runs ``preview``."""
    if not args.data and not args.dataset:
        print("preview: give --data DIR... and/or --dataset NAME...", file=sys.stderr)
        return 2
    sources = len(args.data) + len(args.dataset)
    counts = args.episodes * sources if len(args.episodes) == 1 else args.episodes
    if len(counts) != sources:
        print(f"preview: --episodes needs 1 or {sources} numbers", file=sys.stderr)
        return 2
    rows = []
    for root, count in zip(args.data, counts[: len(args.data)], strict=True):
        store = EpisodeStore(root, args.split)
        for i in pick_episodes(store, count):
            ep = store[i]
            rows.append(episode_row(ep, args.frames, args.scale, f"{root.name}\n{ep.family}"))
    config = EpisodeConfig(appearance=TRAINING_LOOKS[args.look] if args.randomise else None)
    for name, count in zip(args.dataset, counts[len(args.data) :], strict=True):
        spec = get_dataset(name)
        for i in range(count):
            ep = spec.episode(args.split, i, config, args.seed)
            label = f"{name}\n{ep.family}\n{args.split}"
            rows.append(episode_row(ep, args.frames, args.scale, label))
    image = preview(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(args.out), image[..., ::-1]):
        print(f"preview: could not write {args.out}", file=sys.stderr)
        return 1
    print(f"{args.out}: {len(rows)} episodes")
    return 0
