"""``skeleton-perception record-sim``: record the simulated camera into a rosbag2 file.

Writes what the ``sim_camera`` node publishes, with no ROS running, so the bag workflow
(``train --bag``, ``predict --bag``) can be tried end to end without a robot::

    skeleton-perception record-sim --family spiders --frames 900 --out sim.mcap

Topics (one shared header per frame, stamped at the simulated capture time):

* ``/camera/image_raw`` (``sensor_msgs/msg/Image``, rgb8), or with ``--compressed``
  ``/camera/image_raw/compressed`` (``sensor_msgs/msg/CompressedImage``, JPEG);
* ``/camera/camera_info`` (``sensor_msgs/msg/CameraInfo``, the render's pinhole model);
* ``/ground_truth`` (``skeleton_perception/msg/SkeletonGraph``: the visible joints, with
  id = ground-truth joint index, and the links of the model's adjacency, every score 1),
  which makes a recorded simulated bag scorable.

A new random object appears every ``--episode-frames`` frames (default: 10 s of video,
which lines up with the default 10 s split segments of ``train --bag``, so no training
pair mixes two objects). ``--appearance training|heldout`` gives every episode a random
look (textures, light, colours, camera, sensor effects) from those ranges of
``training/sim/appearance.py``; each frame's ``camera_info`` then holds its episode's
field of view.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from skeleton_perception.training.bags.writer import (
    BagWriter,
    compressed_message,
    graph_types,
    header,
    image_message,
)

from skeleton_perception.deprojection import pinhole_camera_info
from skeleton_perception.skeleton_msg import ground_truth_skeleton, skeleton_to_msg

IMAGE_TOPIC = "/camera/image_raw"
COMPRESSED_TOPIC = "/camera/image_raw/compressed"
INFO_TOPIC = "/camera/camera_info"
TRUTH_TOPIC = "/ground_truth"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the ``record-sim`` options."""
    from skeleton_perception.training.sim.appearance import PRESETS
    from skeleton_perception.training.sim.datasets import DATASETS

    parser.add_argument("--family", default="spiders", choices=list(DATASETS), help="object family")
    parser.add_argument("--frames", type=int, default=900, help="frames to record")
    parser.add_argument("--out", type=Path, required=True, help="*.mcap file or bag directory")
    parser.add_argument("--rate", type=float, default=30.0, help="frames per second (Hz)")
    parser.add_argument("--width", type=int, default=320, help="image width in pixels")
    parser.add_argument("--height", type=int, default=240, help="image height in pixels")
    parser.add_argument(
        "--storage", choices=("mcap", "sqlite3"), default="mcap", help="rosbag2 storage plugin"
    )
    parser.add_argument(
        "--episode-frames",
        type=int,
        default=None,
        help="frames per simulated object (default: 10 s worth at --rate)",
    )
    parser.add_argument("--compressed", action="store_true", help="record JPEG CompressedImage")
    parser.add_argument("--seed", type=int, default=0, help="seed of the simulated episodes")
    parser.add_argument(
        "--appearance",
        default="none",
        choices=("none", *PRESETS),
        help="per-episode random look: the training ranges or the held-out ones (default: plain)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")


def ground_truth_message(store, frame, t_ns: int, width: int, height: int) -> object:
    """The ``SkeletonGraph`` of a simulated frame (as the ``sim_camera`` node publishes it)."""
    skeleton = ground_truth_skeleton(frame.joints, frame.visible, frame.adjacency, (width, height))
    return skeleton_to_msg(skeleton, graph_types(store), header(store, t_ns))


def camera_info_message(store, t_ns: int, width: int, height: int, intrinsics) -> object:
    """An undistorted pinhole ``sensor_msgs/msg/CameraInfo``."""
    CameraInfo = store.types["sensor_msgs/msg/CameraInfo"]
    Roi = store.types["sensor_msgs/msg/RegionOfInterest"]
    fields = pinhole_camera_info(width, height, intrinsics)
    for matrix in ("d", "k", "r", "p"):  # rosbags takes float64 arrays as numpy arrays
        fields[matrix] = np.asarray(fields[matrix], np.float64)
    return CameraInfo(
        header=header(store, t_ns), **fields, binning_x=0, binning_y=0,
        roi=Roi(x_offset=0, y_offset=0, height=0, width=0, do_rectify=False),
    )  # fmt: skip


def record(
    out: Path,
    *,
    family: str = "spiders",
    frames: int = 900,
    rate: float = 30.0,
    width: int = 320,
    height: int = 240,
    storage: str = "mcap",
    episode_frames: int | None = None,
    compressed: bool = False,
    seed: int = 0,
    appearance: str = "none",
    overwrite: bool = False,
    start_ns: int | None = None,
    progress: bool = True,
) -> Path:
    """Records ``frames`` simulated frames into ``out`` (see the module docstring).

    Returns:
        ``out``.
    """
    from skeleton_perception.training.sim.live import SimulatedCamera

    if frames < 1 or rate <= 0 or width < 16 or height < 16:
        raise ValueError("need frames >= 1, rate > 0, width and height >= 16")
    episode_frames = episode_frames or max(1, round(10.0 * rate))
    start_ns = start_ns if start_ns is not None else (time.time_ns() // 1_000_000_000) * 10**9
    image_topic = COMPRESSED_TOPIC if compressed else IMAGE_TOPIC
    image_type = "sensor_msgs/msg/CompressedImage" if compressed else "sensor_msgs/msg/Image"
    steps = range(frames)
    if progress:
        from tqdm import tqdm

        steps = tqdm(steps, desc=f"recording {family}", unit="frame")
    cam = SimulatedCamera(
        family, seed=seed, size=(height, width), num_frames=episode_frames, appearance=appearance
    )
    with cam, BagWriter(out, storage=storage, overwrite=overwrite) as bag:
        bag.add_topic(image_topic, image_type)
        bag.add_topic(INFO_TOPIC, "sensor_msgs/msg/CameraInfo")
        bag.add_topic(TRUTH_TOPIC, "skeleton_perception/msg/SkeletonGraph")
        store = bag.typestore
        for i in steps:
            frame = cam.step()
            t_ns = start_ns + round(i * 1e9 / rate)  # no drift: frame k*rate is at k s
            if compressed:
                bag.write(image_topic, compressed_message(store, frame.image, t_ns), t_ns)
            else:
                bag.write(image_topic, image_message(store, frame.image, t_ns), t_ns)
            bag.write(
                INFO_TOPIC, camera_info_message(store, t_ns, width, height, frame.intrinsics), t_ns
            )
            bag.write(TRUTH_TOPIC, ground_truth_message(store, frame, t_ns, width, height), t_ns)
    return out


def run(args: argparse.Namespace) -> int:
    """Runs ``record-sim``; bad arguments print one line and return 2."""
    try:
        out = record(
            args.out, family=args.family, frames=args.frames, rate=args.rate, width=args.width,
            height=args.height, storage=args.storage, episode_frames=args.episode_frames,
            compressed=args.compressed, seed=args.seed, appearance=args.appearance,
            overwrite=args.overwrite,
        )  # fmt: skip
    except (ValueError, FileExistsError) as err:
        print(f"record-sim: {err}", file=sys.stderr)
        return 2
    print(f"wrote {out} ({args.frames} frames of {args.family} at {args.rate:g} Hz)")
    return 0
