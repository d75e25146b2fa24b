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
import functools
import os
import sys
from pathlib import Path

import cv2
import numpy as np
from skeleton_perception.training.bags.reader import (
    BagError,
    BagFrame,
    ImageBag,
    list_topics,
    one_line_warnings,
    open_reader,
    read_messages,
)

from skeleton_perception.skeleton import Skeleton

SKELETON_GRAPH = "skeleton_perception/msg/SkeletonGraph"


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


@functools.cache
def _runtime_drawer():
    """The runtime package's ``draw_skeleton`` (joint colour by id), or None without ROS."""
    try:
        from skeleton_perception.visualization import draw_skeleton
    except ImportError:  # it builds RViz markers too, which needs the ROS message packages
        return None
    return draw_skeleton


def _draw(rgb: np.ndarray, skeleton: Skeleton, truth: Skeleton | None) -> np.ndarray:
    """Draws the prediction (and the ground truth underneath, in white) on a copy of rgb."""
    draw_skeleton = _runtime_drawer()
    if draw_skeleton is not None:
        return draw_skeleton(rgb, skeleton, ground_truth=truth)
    out = np.ascontiguousarray(rgb).copy()
    for sk, color in ((truth, (255, 255, 255)), (skeleton, (255, 64, 0))):
        if sk is None:
            continue
        pts = np.round(sk.joints).astype(int)
        for a, b in sk.links.tolist():
            cv2.line(out, tuple(pts[a]), tuple(pts[b]), color, 2, cv2.LINE_AA)
        for p in pts.tolist():
            cv2.circle(out, tuple(p), 4, color, -1, cv2.LINE_AA)
    return out


def graph_to_skeleton(msg: object) -> Skeleton:
    """A rosbags ``SkeletonGraph`` message -> :class:`Skeleton` (ids kept, rows for links)."""
    ids = np.array([j.id for j in msg.joints], np.int64)
    row = {int(i): k for k, i in enumerate(ids.tolist())}
    links = [(row[lk.joint_a], row[lk.joint_b]) for lk in msg.links if lk.joint_a in row]
    links = [(min(a, b), max(a, b)) for a, b in links if b in row.values()]
    return Skeleton(
        joints=np.array([(j.x, j.y) for j in msg.joints], np.float32).reshape(-1, 2),
        joint_ids=ids,
        joint_scores=np.array([j.score for j in msg.joints], np.float32),
        links=np.array(links, np.int64).reshape(-1, 2),
        link_scores=np.ones(len(links), np.float32),
        image_size=(int(msg.image_width), int(msg.image_height)),
    )


def read_ground_truth(path: Path, topic: str) -> dict[int, Skeleton]:
    """Header stamp (ns) -> ground-truth Skeleton of a ``SkeletonGraph`` topic; {} if absent."""
    reader = open_reader(path)
    try:
        types = {t.name: t.msgtype for t in list_topics(reader)}
    finally:
        reader.close()
    if not topic or types.get(topic) != SKELETON_GRAPH:
        return {}
    truth = {}
    for _, msg, _ in read_messages(path, [topic]):
        stamp = int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)
        truth[stamp] = graph_to_skeleton(msg)
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
        out.parent.mkdir(parents=True, exist_ok=True)
        # Same directory (atomic rename), same extension (OpenCV picks the container by it).
        tmp = out.with_name(f".{out.stem}.{os.getpid()}.partial{out.suffix or '.mp4'}")
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
                frame = _draw(f.rgb, sk, truth.get(f.stamp_ns, truth.get(f.t_ns)))
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

        try:
            for frame in bag.indexed_frames(stride=stride):
                if max_frames is not None and written + len(pending) >= max_frames:
                    break
                pending.append(frame)
                if len(pending) >= max(batch, 2 if writer is None else 1):
                    flush()
            if pending:
                flush()
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        finally:
            bar.close()
            if writer is not None:
                writer.release()
        os.replace(tmp, out)
    if snapshot is not None and shots:
        strip = np.concatenate(shots, axis=1)
        snapshot.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(snapshot), cv2.cvtColor(strip, cv2.COLOR_RGB2BGR))
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
