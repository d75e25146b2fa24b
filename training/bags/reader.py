"""Images out of recorded bags, read with the ``rosbags`` library (no ROS install needed).

Supports rosbag2 directories (sqlite3 or mcap storage, metadata up to version 9), single
``.mcap`` / ``.db3`` files and ROS 1 ``.bag`` files, through :class:`rosbags.highlevel.
AnyReader`; images are decoded with ``rosbags-image`` (``sensor_msgs/msg/Image`` in the
common encodings, ``sensor_msgs/msg/CompressedImage`` in JPEG or PNG).

Usage, in the spirit of rosbag2's ``rosbag2csv.py`` example::

    for t_ns, rgb in read_images("my_bag", "/camera/image_raw"):
        ...  # rgb: (H, W, 3) uint8 RGB

Every problem that makes a bag unusable raises :class:`BagError`, whose message names the
file, the topic and the problem (never a traceback from inside the library). A single
message that cannot be decoded (unsupported encoding, corrupt JPEG) is skipped, counted,
and reported once per pass as a :class:`SkippedFramesWarning`.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
from rosbags.highlevel import AnyReader, AnyReaderError
from rosbags.interfaces import Connection
from rosbags.rosbag1 import ReaderError as Reader1Error
from rosbags.rosbag2 import ReaderError as Reader2Error
from rosbags.typesys import Stores, get_typestore
from skeleton_perception.training.bags.decode import UndecodableFrameError, decode_image

from skeleton_perception.skeleton_msg import stamp_to_ns

IMAGE = "sensor_msgs/msg/Image"
COMPRESSED_IMAGE = "sensor_msgs/msg/CompressedImage"
IMAGE_TYPES = (IMAGE, COMPRESSED_IMAGE)
SKELETON_GRAPH = "skeleton_perception/msg/SkeletonGraph"

# Errors the library raises for unreadable files (mapped to BagError by _explain).
_LIBRARY_ERRORS = (AnyReaderError, Reader1Error, Reader2Error, FileNotFoundError, OSError)


class BagError(ValueError):
    """A bag (or one of its topics) cannot be used; the message names file, topic, problem.

    Attributes:
        path: the bag's path.
        topic: the topic concerned, or None when the whole file is unusable.
        problem: what is wrong, and where possible what to do about it.
    """

    def __init__(self, path: str | os.PathLike, problem: str, topic: str | None = None):
        self.path = Path(path)
        self.topic = topic
        self.problem = problem
        where = f"bag {str(self.path)!r}" + (f", topic {topic!r}" if topic else "")
        super().__init__(f"{where}: {problem}")


class SkippedFramesWarning(UserWarning):
    """Some messages of an image topic could not be decoded and were skipped."""


@dataclass(frozen=True)
class TopicSummary:
    """One topic of a bag.

    Attributes:
        name: topic name, e.g. ``/camera/image_raw``.
        msgtype: ROS 2 type name, e.g. ``sensor_msgs/msg/Image``.
        count: number of messages.
    """

    name: str
    msgtype: str
    count: int

    def __str__(self) -> str:
        return f"{self.name} ({self.msgtype}, {self.count} messages)"


class BagFrame(NamedTuple):
    """One decoded image of a bag.

    Attributes:
        t_ns: bag (receive) timestamp in ns.
        occurrence: rank among the topic's messages with the same ``t_ns`` (0 usually).
        stamp_ns: the message's header stamp (capture time) in ns.
        rgb: (H, W, 3) uint8 RGB.
    """

    t_ns: int
    occurrence: int
    stamp_ns: int
    rgb: np.ndarray


@dataclass
class SkipStats:
    """Counts of skipped messages during one pass, by reason, with the first detail of each.

    Attributes:
        read: messages read.
        skipped: reason -> count.
        examples: reason -> detail of the first skipped message with that reason.
    """

    read: int = 0
    skipped: Counter = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)

    @property
    def num_skipped(self) -> int:
        """Total number of skipped messages."""
        return sum(self.skipped.values())

    def add(self, skip: UndecodableFrameError, t_ns: int) -> None:
        """Counts one skipped message."""
        self.skipped[skip.reason] += 1
        self.examples.setdefault(skip.reason, f"{skip.detail} (first at t={t_ns} ns)")

    def summary(self) -> str:
        """One line: how many messages were skipped and why."""
        parts = [f"{n} {reason}: {self.examples[reason]}" for reason, n in self.skipped.items()]
        return f"skipped {self.num_skipped} of {self.read} messages ({'; '.join(parts)})"

    def warn(self, path: Path, topic: str) -> None:
        """Issues one :class:`SkippedFramesWarning` if anything was skipped."""
        if self.num_skipped:
            where = f"bag {str(path)!r}, topic {topic!r}"
            warnings.warn(f"{where}: {self.summary()}", SkippedFramesWarning, stacklevel=3)


@contextmanager
def one_line_warnings(prog: str) -> Iterator[None]:
    """Within the block, warnings print as one ``prog: warning: message`` line on stderr."""

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        from tqdm import tqdm

        tqdm.write(f"{prog}: warning: {message}", file=sys.stderr)  # clears progress bars

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


# ------------------------------------------------------------------------ the bag


def _explain(path: Path, err: BaseException) -> str:
    """Turns a library error into a problem statement a user can act on."""
    text = " ".join(str(a) for a in err.args) or type(err).__name__
    lowered = text.lower()
    if "end magic" in lowered or "invalid mcap footer" in lowered or "seems to be empty" in lowered:
        return (
            "the mcap file is truncated or was never closed (was the recorder killed "
            "before it finished?); recover what it holds with `mcap recover IN -o OUT.mcap` "
            f"(mcap CLI), or record it again [{text}]"
        )
    if "unrecognized storage format" in lowered:
        return (
            f"unknown storage format {path.suffix or path.name!r}: expected a rosbag2 "
            "directory (with metadata.yaml), a .mcap or .db3 file, or a ROS 1 .bag file"
        )
    if "storage plugin" in lowered and "not supported" in lowered:
        return f"unknown storage format in metadata.yaml ({text}); readable: mcap, sqlite3"
    if "file magic is invalid" in lowered or "profile is not ros2" in lowered:
        return f"not a ROS 2 mcap file ({text})"
    if "cannot open database" in lowered or "database" in lowered:
        return f"not a readable sqlite3 bag ({text})"
    if "metadata" in lowered:
        return f"unreadable metadata.yaml ({text}); `ros2 bag reindex` can rebuild it"
    return f"cannot be read ({type(err).__name__}: {text})"


def _storage_path(path: Path) -> Path:
    """The path to hand to rosbags: a directory without metadata.yaml falls back to its file.

    A recorder killed before closing leaves a rosbag2 directory without ``metadata.yaml``;
    its single storage file can still be opened on its own.
    """
    if not path.is_dir() or (path / "metadata.yaml").exists():
        return path
    files = sorted(p for p in path.iterdir() if p.suffix in (".mcap", ".db3"))
    if len(files) == 1:
        return files[0]
    found = ", ".join(p.name for p in files) or "no .mcap or .db3 file"
    raise BagError(
        path,
        f"directory has no metadata.yaml and {found}; rebuild the metadata with "
        "`ros2 bag reindex` or pass one storage file",
    )


def open_reader(path: str | os.PathLike) -> AnyReader:
    """Opens a bag with rosbags' AnyReader; every failure becomes one :class:`BagError`.

    Bags without embedded message definitions (rosbag2 before Iron) are read with the
    latest ROS 2 type store. The caller closes the returned reader.
    """
    path = Path(path)
    if not path.exists():
        raise BagError(path, "does not exist")
    storage = _storage_path(path)
    try:
        reader = AnyReader([storage], default_typestore=get_typestore(Stores.LATEST))
        reader.open()
    except _LIBRARY_ERRORS as err:
        raise BagError(path, _explain(storage, err)) from None
    except Exception as err:  # any other library failure, as one clear line
        raise BagError(path, f"cannot be read ({type(err).__name__}: {err})") from None
    return reader


class ImageBag:
    """One image topic of an open bag: sequential and random-access reading.

    Use as a context manager (or call :meth:`open` / :meth:`close`)::

        with ImageBag("run1.mcap", "/camera/image_raw") as bag:
            for t_ns, rgb in bag.frames(): ...

    Args:
        path: rosbag2 directory, ``.mcap`` / ``.db3`` file or ROS 1 ``.bag``.
        topic: image topic; None picks the only image topic, and is an error (listing the
            image topics and their counts) when there are several or none.

    Attributes:
        path: the bag's path as given.
        topic: the selected topic name.
        msgtype: its message type (one of :data:`IMAGE_TYPES`).
        count: number of messages on the topic.
    """

    def __init__(self, path: str | os.PathLike, topic: str | None = None):
        self.path = Path(path)
        self.requested_topic = topic
        self.topic = ""
        self.msgtype = ""
        self.count = 0
        self._reader: AnyReader | None = None
        self._connections: list[Connection] = []

    # -- opening
    def open(self) -> ImageBag:
        """Opens the bag and selects the topic; raises :class:`BagError` on any problem."""
        self._reader = open_reader(self.path)
        try:
            self._select(self.requested_topic)
        except BaseException:
            self.close()
            raise
        return self

    def _select(self, topic: str | None) -> None:
        assert self._reader is not None
        topics = list_topics(self._reader)
        images = [t for t in topics if t.msgtype in IMAGE_TYPES]
        listing = ", ".join(map(str, images)) or "none"
        if topic is None:
            if len(images) != 1:
                problem = (
                    "no image topic in this bag"
                    if not images
                    else "several image topics; choose one with --topic"
                )
                raise BagError(self.path, f"{problem}; image topics: {listing}")
            chosen = images[0]
        else:
            name = topic if topic.startswith("/") else "/" + topic
            matches = [t for t in topics if t.name in (topic, name)]
            if not matches:
                raise BagError(self.path, f"no such topic; image topics: {listing}", topic)
            chosen = matches[0]
            if chosen.msgtype not in IMAGE_TYPES:
                raise BagError(
                    self.path,
                    f"has type {chosen.msgtype}, not an image ({' or '.join(IMAGE_TYPES)}); "
                    f"image topics: {listing}",
                    chosen.name,
                )
        self.topic, self.msgtype, self.count = chosen.name, chosen.msgtype, chosen.count
        self._connections = [c for c in self._reader.connections if c.topic == chosen.name]

    def close(self) -> None:
        """Closes the bag (idempotent)."""
        reader, self._reader = self._reader, None
        if reader is not None:
            with suppress(Exception):  # closing a broken file must not mask the first error
                reader.close()

    def __enter__(self) -> ImageBag:
        return self.open() if self._reader is None else self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def is_open(self) -> bool:
        """Whether the bag is open."""
        return self._reader is not None

    # -- reading
    def raw_messages(
        self, start: int | None = None, stop: int | None = None
    ) -> Iterator[tuple[int, bytes]]:
        """Yields ``(t_ns, serialized bytes)`` of the topic in time order (bag receive time).

        Raises:
            BagError: the file is damaged part-way through.
        """
        if self._reader is None:
            raise BagError(self.path, "bag is not open", self.topic or self.requested_topic)
        try:
            for _, t_ns, raw in self._reader.messages(self._connections, start=start, stop=stop):
                yield t_ns, raw
        except _LIBRARY_ERRORS as err:
            raise BagError(self.path, _explain(self.path, err), self.topic) from None

    def _deserialize(self, raw: bytes) -> object:
        assert self._reader is not None
        try:
            return self._reader.deserialize(raw, self.msgtype)
        except (AnyReaderError, ValueError, IndexError, TypeError) as err:
            detail = f"message does not deserialise ({err})"
            raise UndecodableFrameError("corrupt", detail) from None

    def decode(self, raw: bytes) -> np.ndarray:
        """Deserialises and decodes one message to (H, W, 3) uint8 RGB.

        Raises:
            UndecodableFrameError: unsupported encoding or corrupt data.
        """
        return decode_image(self._deserialize(raw))

    def frames(
        self, stride: int = 1, stats: SkipStats | None = None, warn: bool = True
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Yields ``(t_ns, rgb)`` for every ``stride``-th message that decodes.

        Args:
            stride: keep messages 0, stride, 2*stride, ... of the topic.
            stats: filled with read/skip counts (a fresh one is used if None).
            warn: issue one :class:`SkippedFramesWarning` at the end if any was skipped.

        Raises:
            BagError: the file is damaged part-way through, or no message decoded.
        """
        for frame in self.indexed_frames(stride, stats, warn):
            yield frame.t_ns, frame.rgb

    def indexed_frames(
        self, stride: int = 1, stats: SkipStats | None = None, warn: bool = True
    ) -> Iterator[BagFrame]:
        """As :meth:`frames`, yielding :class:`BagFrame` (with occurrence and header stamp)."""
        stats = SkipStats() if stats is None else stats
        previous_t, occurrence = None, 0
        for position, (t_ns, raw) in enumerate(self.raw_messages()):
            occurrence = occurrence + 1 if t_ns == previous_t else 0
            previous_t = t_ns
            if position % stride:
                continue
            stats.read += 1
            try:
                msg = self._deserialize(raw)
                rgb = decode_image(msg)
            except UndecodableFrameError as skip:
                stats.add(skip, t_ns)
                continue
            stamp = stamp_to_ns(msg.header.stamp)
            yield BagFrame(t_ns, occurrence, stamp, rgb)
        if warn:
            stats.warn(self.path, self.topic)
        if stats.read == 0:
            raise BagError(self.path, "no messages on this topic", self.topic)
        if stats.num_skipped == stats.read:
            raise BagError(self.path, f"no decodable image: {stats.summary()}", self.topic)

    def frame_at(self, t_ns: int, occurrence: int = 0) -> np.ndarray:
        """Decodes the ``occurrence``-th message stamped exactly ``t_ns`` (random access).

        Raises:
            BagError: no such message, or it no longer decodes.
        """
        for k, (_, raw) in enumerate(self.raw_messages(start=t_ns, stop=t_ns + 1)):
            if k == occurrence:
                try:
                    return self.decode(raw)
                except UndecodableFrameError as skip:
                    problem = f"frame at t={t_ns} ns: {skip.detail}"
                    raise BagError(self.path, problem, self.topic) from None
        raise BagError(self.path, f"no message {occurrence} at t={t_ns} ns", self.topic)


def list_topics(reader: AnyReader) -> list[TopicSummary]:
    """All topics of an open reader, sorted by name."""
    return [
        TopicSummary(name, info.msgtype or "(mixed types)", int(info.msgcount))
        for name, info in sorted(reader.topics.items())
    ]


def topic_types(path: str | os.PathLike) -> dict[str, str]:
    """Topic name -> message type of every topic of a bag.

    Raises:
        BagError: the bag cannot be opened.
    """
    reader = open_reader(path)
    try:
        return {t.name: t.msgtype for t in list_topics(reader)}
    finally:
        reader.close()


def image_topics(path: str | os.PathLike) -> list[TopicSummary]:
    """The image topics of a bag (Image or CompressedImage) with their message counts.

    Raises:
        BagError: the bag cannot be opened.
    """
    reader = open_reader(path)
    try:
        return [t for t in list_topics(reader) if t.msgtype in IMAGE_TYPES]
    finally:
        reader.close()


def read_images(
    path: str | os.PathLike, topic: str | None = None, stride: int = 1
) -> Iterator[tuple[int, np.ndarray]]:
    """Yields ``(t_ns, rgb)`` of an image topic: (H, W, 3) uint8 RGB, bag time in ns.

    Undecodable messages are skipped and reported in one :class:`SkippedFramesWarning`.

    Raises:
        BagError: unreadable bag, missing or non-image topic, or no decodable frame.
    """
    with ImageBag(path, topic) as bag:
        yield from bag.frames(stride=stride)


def read_messages(
    path: str | os.PathLike, topics: list[str] | None = None
) -> Iterator[tuple[str, object, int]]:
    """Yields ``(topic, message, t_ns)`` for the given topics (all if None), in time order.

    Raises:
        BagError: unreadable bag or a requested topic that does not exist.
    """
    reader = open_reader(path)
    try:
        names = {c.topic for c in reader.connections}
        for topic in topics or []:
            if topic not in names:
                listing = ", ".join(map(str, list_topics(reader)))
                raise BagError(path, f"no such topic; topics: {listing}", topic)
        conns = [c for c in reader.connections if topics is None or c.topic in topics]
        for conn, t_ns, raw in reader.messages(conns):
            yield conn.topic, reader.deserialize(raw, conn.msgtype), t_ns
    except _LIBRARY_ERRORS as err:
        raise BagError(path, _explain(Path(path), err)) from None
    finally:
        reader.close()
