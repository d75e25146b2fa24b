"""Command-line options of training from a bag, for ``skeleton-perception train --bag``.

``train`` adds them with :func:`add_bag_arguments` and builds its datasets with
:func:`bag_datasets_from_args`; a :class:`~.reader.BagError` from it is a one-line error.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the bag reader needs rosbags: imported when a bag is used, not to parse
    from skeleton_perception.training.bags.dataset import BagPairDataset


def add_bag_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds ``--bag``, ``--topic`` and the pair/split/cache options to ``parser``."""
    group = parser.add_argument_group("training from a recorded bag (docs/bags.md)")
    group.add_argument("--bag", help="rosbag2 directory, .mcap/.db3 file or ROS 1 .bag")
    group.add_argument("--topic", help="image topic (default: the bag's only image topic)")
    group.add_argument(
        "--max-gap", type=float, default=3.0, help="largest time between paired frames (s)"
    )
    group.add_argument(
        "--min-gap", type=float, default=0.3, help="smallest time between paired frames (s)"
    )
    group.add_argument("--stride", type=int, default=1, help="use every n-th image message")
    group.add_argument(
        "--val-fraction", type=float, default=0.1, help="fraction of segments for validation"
    )
    group.add_argument(
        "--segment", type=float, default=10.0, help="length of the split's time segments (s)"
    )
    group.add_argument(
        "--cache-size", type=int, default=2048, help="decoded frames kept in memory (12 KiB each)"
    )


def bag_datasets_from_args(
    args: argparse.Namespace, *, seed: int = 0, input_size: int = 64, progress: bool = True
) -> tuple[BagPairDataset, BagPairDataset | None]:
    """The (train, validation) pair datasets the options describe.

    Raises:
        BagError: unusable bag or topic, no decodable frame, or no pairs.
    """
    from skeleton_perception.training.bags.dataset import build_bag_datasets

    return build_bag_datasets(
        args.bag, args.topic, max_gap_s=args.max_gap, min_gap_s=args.min_gap,
        stride=args.stride, val_fraction=args.val_fraction, segment_s=args.segment,
        cache_size=args.cache_size, seed=seed, input_size=input_size, progress=progress,
    )  # fmt: skip
