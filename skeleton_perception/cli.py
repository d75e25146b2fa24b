"""The ``skeleton-perception`` command line: a dispatcher over both packages.

Each sub-command lives in its own module, which provides ``add_arguments(parser)`` and
``run(args) -> int``; modules are imported only when their command runs, so
``skeleton-perception --help`` is instant and needs neither torch nor ROS. The commands
are the offline ones of :mod:`skeleton_perception.training` and the ROS-based ``demo``
(:mod:`skeleton_perception.nodes.demo`); the dispatcher sits above both so that the
training package never imports the nodes. Nothing imports this module but the console
script (``python -m skeleton_perception.cli`` does the same).
"""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "generate": (
        "skeleton_perception.training.sim.generate",
        "render a synthetic dataset with MuJoCo (train/val/test shards)",
    ),
    "preview": (
        "skeleton_perception.training.sim.preview",
        "write a PNG grid of dataset frames with ground-truth joints and links",
    ),
    "train": (
        "skeleton_perception.training.train",
        "train the model on a generated dataset or a rosbag",
    ),
    "distill": (
        "skeleton_perception.training.distill",
        "teach π to find its plain-look points in randomised looks (simulator twins, no labels)",
    ),
    "adapt": (
        "skeleton_perception.training.adapt",
        "fit π to a recording's look: points off the background the camera's motion explains",
    ),
    "evaluate": (
        "skeleton_perception.training.evaluation.evaluate",
        "score a checkpoint on held-out episodes with the paper's metrics",
    ),
    "report": (
        "skeleton_perception.training.evaluation.report",
        "assemble RESULTS.md from evaluation JSON files",
    ),
    "select-joints": (
        "skeleton_perception.training.joint_selection",
        "choose the joints published in every image from whole-episode skeletons (no labels)",
    ),
    "export": (
        "skeleton_perception.training.export",
        "write a training run as a small fp16 inference model, with its provenance",
    ),
    "oracle": (
        "skeleton_perception.training.oracle",
        "train the supervised ceiling (simulator joints and links as labels; never shipped)",
    ),
    "train-transporter": (
        "skeleton_perception.training.baselines.train_transporter",
        "train the Transporter baseline (Kulkarni et al. 2019)",
    ),
    "eval-3d": (
        "skeleton_perception.training.evaluation.depth3d",
        "score the skeletons placed in 3D with the simulated depth camera (skeleton_3d's code)",
    ),
    "predict": (
        "skeleton_perception.training.bags.predict",
        "draw predicted skeletons over a recording (rosbag) into a video",
    ),
    "record-sim": (
        "skeleton_perception.training.bags.record_sim",
        "record the simulated camera into a rosbag2 (mcap) file",
    ),
    "demo": (
        "skeleton_perception.nodes.demo",
        "run the simulated camera and the detector over ROS 2 and report live accuracy",
    ),
}


def build_parser() -> argparse.ArgumentParser:
    """Returns the top-level parser; sub-command modules are imported lazily."""
    parser = argparse.ArgumentParser(
        prog="skeleton-perception",
        description="Unsupervised skeleton prediction: data, training, evaluation, demo.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``skeleton-perception`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        if argv and argv[0] not in ("-h", "--help"):
            parser.error(f"unknown command {argv[0]!r}; choose from {', '.join(COMMANDS)}")
        parser.print_help()
        return 0 if argv else 2
    name = argv[0]
    module = importlib.import_module(COMMANDS[name][0])
    sub_parser = argparse.ArgumentParser(
        prog=f"skeleton-perception {name}", description=COMMANDS[name][1]
    )
    module.add_arguments(sub_parser)
    args = sub_parser.parse_args(argv[1:])
    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
