"""Writing rosbag2 bags with the ``rosbags`` library: images, camera info, ground truth.

Used by ``record-sim`` and by the tests. The output path decides the layout:

* ``name.mcap``: one self-contained mcap file (what ``ros2 bag record -s mcap`` writes
  inside its directory; ``ros2 bag play name.mcap`` and ``rosbags`` read it directly);
* anything else: a rosbag2 directory with ``metadata.yaml`` (format version 9) and one
  storage file, mcap or sqlite3.

The bag is written next to its final path under a temporary name and moved into place
only when complete, so an interrupted recording never leaves a half-written bag behind.
Our ``skeleton_perception/msg`` types are registered in the type store from their
``.msg`` files (installed to ``<prefix>/share/skeleton_perception/msg``).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
from rosbags.interfaces import Connection
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

from skeleton_perception.skeleton_msg import GraphTypes

PACKAGE = "skeleton_perception"
OUR_MESSAGES = ("SkeletonJoint", "SkeletonLink", "SkeletonGraph")


def message_dir() -> Path:
    """The directory holding our ``.msg`` files (installed share/ first, then the sources).

    Raises:
        FileNotFoundError: neither location holds them.
    """
    candidates = [Path(sys.prefix) / "share" / PACKAGE / "msg"]
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        if prefix:
            candidates.append(Path(prefix) / "share" / PACKAGE / "msg")
    # The source tree: training/bags/writer.py -> <repo>/msg (symlink installs resolve there).
    candidates.append(Path(__file__).resolve().parents[2] / "msg")
    for directory in candidates:
        if all((directory / f"{name}.msg").is_file() for name in OUR_MESSAGES):
            return directory
    searched = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(f"skeleton_perception .msg files not found in: {searched}")


def make_typestore() -> Typestore:
    """The latest ROS 2 type store plus ``skeleton_perception/msg/*`` from the .msg files."""
    store = get_typestore(Stores.LATEST)
    directory = message_dir()
    types = {}
    for name in OUR_MESSAGES:
        text = (directory / f"{name}.msg").read_text()
        types.update(get_types_from_msg(text, f"{PACKAGE}/msg/{name}"))
    store.register(types)
    return store


class BagWriter:
    """A rosbag2 writer that moves the finished bag into place atomically.

    Use as a context manager; on an exception the partial bag is deleted::

        with BagWriter("sim.mcap") as bag:
            bag.add_topic("/camera/image_raw", "sensor_msgs/msg/Image")
            bag.write("/camera/image_raw", msg, t_ns)

    Args:
        out: ``*.mcap`` for a single mcap file, otherwise a rosbag2 directory.
        storage: ``"mcap"`` or ``"sqlite3"`` (directories only; a ``.mcap`` path is mcap).
        typestore: type store for serialisation (default: :func:`make_typestore`).
        overwrite: replace an existing ``out``.

    Raises:
        FileExistsError: ``out`` exists and ``overwrite`` is False.
        ValueError: a storage that contradicts the path, or an unknown storage.
    """

    def __init__(
        self,
        out: str | os.PathLike,
        storage: str = "mcap",
        typestore: Typestore | None = None,
        overwrite: bool = False,
    ):
        self.out = Path(out)
        self.single_file = self.out.suffix == ".mcap"
        if storage not in ("mcap", "sqlite3"):
            raise ValueError(f"unknown storage {storage!r}: choose mcap or sqlite3")
        if self.single_file and storage != "mcap":
            raise ValueError(f"{str(self.out)!r} names an mcap file but storage is {storage!r}")
        if self.out.exists() and not overwrite:
            raise FileExistsError(f"{str(self.out)!r} exists; remove it or choose another path")
        self.storage = storage
        self.overwrite = overwrite
        self.typestore = typestore or make_typestore()
        self._tmp: Path | None = None
        self._writer: Writer | None = None
        self._connections: dict[str, Connection] = {}

    def __enter__(self) -> BagWriter:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = Path(tempfile.mkdtemp(prefix=f".{self.out.name}.", dir=self.out.parent))
        plugin = StoragePlugin.MCAP if self.storage == "mcap" else StoragePlugin.SQLITE3
        self._writer = Writer(self._tmp / self.out.stem, version=9, storage_plugin=plugin)
        self._writer.open()
        return self

    def add_topic(self, topic: str, msgtype: str) -> None:
        """Declares a topic and its message type (once per topic)."""
        assert self._writer is not None, "use BagWriter as a context manager"
        self._connections[topic] = self._writer.add_connection(
            topic, msgtype, typestore=self.typestore
        )

    def write(self, topic: str, msg: object, t_ns: int) -> None:
        """Serialises ``msg`` (a type-store message object) onto ``topic`` at ``t_ns``."""
        conn = self._connections[topic]
        self.write_raw(topic, self.typestore.serialize_cdr(msg, conn.msgtype), t_ns)

    def write_raw(self, topic: str, data: bytes | memoryview, t_ns: int) -> None:
        """Writes already-serialised CDR bytes (e.g. from an rclpy ``raw=True`` callback)."""
        assert self._writer is not None
        self._writer.write(self._connections[topic], int(t_ns), data)

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        assert self._writer is not None and self._tmp is not None
        try:
            if exc_type is not None:
                self._writer.abort()
                return
            self._writer.close()
            bag_dir = self._tmp / self.out.stem
            source = bag_dir / f"{self.out.stem}.mcap" if self.single_file else bag_dir
            if self.out.exists() and self.overwrite:
                if self.out.is_dir():
                    shutil.rmtree(self.out)
                else:
                    self.out.unlink()
            os.replace(source, self.out)
        finally:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._writer = None


# ------------------------------------------------------------------ message builders


def graph_types(store: Typestore) -> GraphTypes:
    """The store's SkeletonGraph classes, for :mod:`skeleton_perception.skeleton_msg`."""
    return GraphTypes(
        graph=store.types[f"{PACKAGE}/msg/SkeletonGraph"],
        joint=store.types[f"{PACKAGE}/msg/SkeletonJoint"],
        link=store.types[f"{PACKAGE}/msg/SkeletonLink"],
    )


def header(store: Typestore, t_ns: int, frame_id: str = "camera_optical_frame") -> object:
    """A ``std_msgs/msg/Header`` stamped ``t_ns``."""
    Time = store.types["builtin_interfaces/msg/Time"]
    Header = store.types["std_msgs/msg/Header"]
    return Header(
        stamp=Time(sec=int(t_ns // 1_000_000_000), nanosec=int(t_ns % 1_000_000_000)),
        frame_id=frame_id,
    )


def image_message(
    store: Typestore,
    rgb: np.ndarray,
    t_ns: int,
    encoding: str = "rgb8",
    frame_id: str = "camera_optical_frame",
) -> object:
    """A ``sensor_msgs/msg/Image`` of an (H, W, 3) uint8 RGB image in ``rgb8`` or ``bgr8``."""
    rgb = np.ascontiguousarray(rgb, np.uint8)
    if encoding == "bgr8":
        rgb = np.ascontiguousarray(rgb[..., ::-1])
    elif encoding != "rgb8":
        raise ValueError(f"image_message writes rgb8 or bgr8, not {encoding!r}")
    height, width = rgb.shape[:2]
    Image = store.types["sensor_msgs/msg/Image"]
    return Image(
        header=header(store, t_ns, frame_id), height=height, width=width, encoding=encoding,
        is_bigendian=0, step=width * 3, data=rgb.reshape(-1),
    )  # fmt: skip


def compressed_message(
    store: Typestore,
    rgb: np.ndarray,
    t_ns: int,
    fmt: str = "jpeg",
    frame_id: str = "camera_optical_frame",
    quality: int = 90,
) -> object:
    """A ``sensor_msgs/msg/CompressedImage`` (JPEG or PNG) of an (H, W, 3) uint8 RGB image."""
    bgr = cv2.cvtColor(np.ascontiguousarray(rgb, np.uint8), cv2.COLOR_RGB2BGR)
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if fmt == "jpeg" else []
    ok, data = cv2.imencode(".jpg" if fmt == "jpeg" else ".png", bgr, params)
    if not ok:
        raise ValueError(f"cannot encode the image as {fmt}")
    CompressedImage = store.types["sensor_msgs/msg/CompressedImage"]
    return CompressedImage(
        header=header(store, t_ns, frame_id),
        format=f"rgb8; {fmt} compressed bgr8",
        data=data.reshape(-1),
    )
