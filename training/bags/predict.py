"""``skeleton-perception predict``: draw predicted skeletons over a recording into a video.

::

    skeleton-perception predict --bag run1.mcap --topic /camera/image_raw --out overlay.mp4

Every (strided) decodable frame of the image topic goes through
:class:`~skeleton_perception.SkeletonDetector` (the same preprocessing as the ROS node);
joints are drawn as discs coloured by joint id (a physical joint keeps its colour), links
as lines. If the bag has a ``SkeletonGraph`` ground-truth topic (``record-sim`` writes
``/ground_truth``), it is drawn underneath in white. The video (MPEG-4, ``mp4v``) is
written under a temporary name and moved into place when complete; ``--snapshot`` also
saves a PNG strip of four frames, e.g. for a README.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
from skeleton_perception.training.bags.reader import (
    SKELETON_GRAPH,
    BagError,
    BagFrame,
    ImageBag,
    one_line_warnings,
    read_messages,
    topic_types,
)

from skeleton_perception.atomic import atomic_path
from skeleton_perception.drawing import draw_skeleton
from skeleton_perception.skeleton import Skeleton
from skeleton_perception.skeleton_msg import msg_to_skeleton, stamp_to_ns


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the ``predict`` options."""
    parser.add_argument("--bag", type=Path, required=True, help="rosbag2 directory or file")
    parser.add_argument("--topic", default=None, help="image topic (default: the only one)")
    parser.add_argument("--model", type=Path, default=None, help="checkpoint (default: shipped)")
    parser.add_argument("--out", type=Path, required=True, help="output video (.mp4)")
    parser.add_argument("--fps", type=float, default=None, help="video rate (default: the bag's)")
    parser.add_argument("--stride", type=int, default=1, help="use every n-th frame")
    parser.add_argument("--max-frames", type=int, default=None, help="stop after this many")
    parser.add_argument("--batch", type=int, default=8, help="frames per inference batch")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument(
        "--ground-truth",
        default="/ground_truth",
        help="SkeletonGraph topic drawn in white when the bag has it ('' to disable)",
    )
    parser.add_argument("--snapshot", type=Path, default=None, help="also save a PNG strip")


def read_ground_truth(path: Path, topic: str) -> dict[int, Skeleton]:
    """Header stamp (ns) -> ground-truth Skeleton of a ``SkeletonGraph`` topic; {} if absent.

    Raises:
        BagError: the bag cannot be read, or a message of the topic is malformed.
    """
    if not topic or topic_types(path).get(topic) != SKELETON_GRAPH:
        return {}
    truth = {}
    for _, msg, _ in read_messages(path, [topic]):
        try:
            truth[stamp_to_ns(msg.header.stamp)] = msg_to_skeleton(msg)
        except ValueError as err:
            raise BagError(path, str(err), topic) from None
    return truth


def _video_rate(times: list[int]) -> float:
    """Frames per second from the median spacing of timestamps (30 if unknown)."""
    dt = float(np.median(np.diff(times))) / 1e9 if len(times) > 1 else 0.0
    return float(np.clip(1.0 / dt, 1.0, 240.0)) if dt > 0 else 30.0


def predict_bag(
    bag_path: Path,
    out: Path,
    *,
    topic: str | None = None,
    model: Path | None = None,
    fps: float | None = None,
    stride: int = 1,
    max_frames: int | None = None,
    batch: int = 8,
    device: str = "cpu",
    ground_truth: str = "/ground_truth",
    snapshot: Path | None = None,
    detector=None,
    progress: bool = True,
) -> int:
    """Writes the overlay video; returns the number of frames written.

    Raises:
        BagError: unusable bag or topic, or no decodable frame.
        CheckpointError: the model cannot be loaded.
        OSError: the video cannot be written.
    """
    from tqdm import tqdm

    with ImageBag(bag_path, topic) as bag:
        if topic is None:
            print(f"predict: using image topic {bag.topic} ({bag.count} messages)", file=sys.stderr)
        if detector is None:
            from skeleton_perception import SkeletonDetector

            detector = SkeletonDetector.from_checkpoint(model, device=device)
        truth = read_ground_truth(bag_path, ground_truth)
        total = -(-bag.count // stride)
        if max_frames is not None:
            total = min(total, max_frames)
        picks = {round(total * f) for f in (0.125, 0.375, 0.625, 0.875)}
        shots: list[np.ndarray] = []
        writer: cv2.VideoWriter | None = None
        size: tuple[int, int] | None = None
        written = 0
        pending: list[BagFrame] = []
        bar = tqdm(total=total, desc="predict", unit="frame", disable=not progress)

        def flush() -> None:
            nonlocal writer, size, written
            skeletons = detector.predict_batch([f.rgb for f in pending])
            for f, sk in zip(pending, skeletons, strict=True):
                # Ground truth shares the image's header stamp (bag times may differ).
                gt = truth.get(f.stamp_ns, truth.get(f.t_ns))
                frame = draw_skeleton(f.rgb, sk, ground_truth=gt)
                if size is None:
                    size = (frame.shape[1], frame.shape[0])
                    rate = fps or _video_rate([f.t_ns for f in pending])
                    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), rate, size)
                    if not writer.isOpened():
                        raise OSError(f"cannot write video {str(out)!r} (OpenCV mp4v writer)")
                if (frame.shape[1], frame.shape[0]) != size:
                    frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
                if written in picks:
                    shots.append(frame)
                writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
                written += 1
                bar.update(1)
            pending.clear()

        # The same extension as ``out``: OpenCV picks the container by it.
        with atomic_path(out, suffix=out.suffix or ".mp4") as tmp:
            try:
                for frame in bag.indexed_frames(stride=stride):
                    if max_frames is not None and written + len(pending) >= max_frames:
                        break
                    pending.append(frame)
                    if len(pending) >= max(batch, 2 if writer is None else 1):
                        flush()
                if pending:
                    flush()
            finally:
                bar.close()
                if writer is not None:
                    writer.release()
    if snapshot is not None and shots:
        strip = np.concatenate(shots, axis=1)
        with atomic_path(snapshot, suffix=snapshot.suffix or ".png") as tmp:
            cv2.imwrite(str(tmp), cv2.cvtColor(strip, cv2.COLOR_RGB2BGR))
    return written


def run(args: argparse.Namespace) -> int:
    """Runs ``predict``; any unusable input prints one line and returns 2."""
    from skeleton_perception.checkpoint import CheckpointError

    try:
        with one_line_warnings("predict"):
            n = predict_bag(
                args.bag, args.out, topic=args.topic, model=args.model, fps=args.fps,
                stride=args.stride, max_frames=args.max_frames, batch=args.batch,
                device=args.device, ground_truth=args.ground_truth, snapshot=args.snapshot,
            )  # fmt: skip
    except (BagError, CheckpointError, OSError) as err:
        print(f"predict: {err}", file=sys.stderr)
        return 2
    print(f"wrote {args.out} ({n} frames)")
    return 0
