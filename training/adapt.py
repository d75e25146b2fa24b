"""``skeleton-perception adapt``: π fitted to a recording, kept off its camera-explained background.

No labels and no simulator: only the recording.

Example (one line)::

    skeleton-perception adapt --bag my_robot.mcap --topic /camera/image_raw
        --out runs/adapt --init default

``train --bag`` fits the whole model with the paper's reconstruction loss, which on a
textured scene pays points for drawing the floor (docs/notebook/appearance.md). ``adapt``
asks less: for every frame of the bag, :class:`~.bags.motion.MotionFrames` finds the pixels
that the camera's own motion explains (unchanged, or moved with the floor's plane), and π
learns to give the starting model's location maps with those pixels taken out (the
starting model's map renormalised over the rest: ``distill``'s loss, with the frame
as its own twin). Points already on the object keep their place; points on the background
move to where the starting model's map had its next-best mass off the background.
Only π trains, with the starting model's BatchNorm statistics; ψ, B and the published
joints are kept. Outputs in ``--out`` as ``distill``'s (``checkpoint.pt`` loads in
``evaluate``, ``predict`` and ``export``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from skeleton_perception.checkpoint import CheckpointError

from .bags.motion import MotionConfig, MotionFrames
from .bags.reader import BagError
from .distill import DistillConfig, add_run_arguments, distill, student_config

# The recipe: chosen on a validation bag for the shipped default (docs/notebook/appearance.md,
# session 15 for F, session 19 again for C4 and then for D4).
STEPS, LR = 1000, 3e-4


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``skeleton-perception adapt``."""
    parser.add_argument("--bag", type=Path, required=True, help="the recording (rosbag2 / mcap)")
    parser.add_argument("--topic", help="image topic (default: the bag's only one)")
    parser.add_argument(
        "--init", default="default", metavar="default|PATH",
        help="the starting model (the shipped default or a checkpoint)",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, required=True, help="output directory of the run")
    parser.add_argument("--steps", type=int, default=STEPS, help="total steps")
    parser.add_argument("--stride", type=int, default=1, help="keep every n-th frame of the bag")
    parser.add_argument(
        "--gap", type=float, default=MotionConfig.gap_s,
        help="seconds between the two frames whose difference shows the camera's motion",
    )  # fmt: skip
    parser.add_argument(
        "--margin", type=float, default=MotionConfig.margin_px,
        help="camera pixels kept off the background around every moving part",
    )  # fmt: skip
    add_run_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Runs ``skeleton-perception adapt``."""
    dcfg = DistillConfig(str(args.init), plain_weight=0.0)
    motion = MotionConfig(gap_s=args.gap, margin_px=args.margin)
    try:
        cfg = student_config(dcfg.teacher, args.steps, LR, args.overrides)
        frames = MotionFrames(args.bag, args.topic, motion, args.stride,
                              cfg.model.image_size, not args.no_progress)  # fmt: skip
    except (CheckpointError, BagError, ValueError, FileNotFoundError) as err:
        print(f"adapt: {err}", file=sys.stderr)
        return 2
    share = float(frames.masks.mean())
    print(f"{len(frames)} frames of {frames.topic}; {share:.0%} of the input is background")
    result = distill(cfg, dcfg, frames, args.out, args.resume, not args.no_progress)
    print(
        f"done: step {result['step']}, loss {result.get('look', float('nan')):.4f}; "
        f"outputs in {args.out}"
    )
    return 0
