"""On-disk episode shards: atomic, checksummed writing and verified, random-access reading.

Layout (documented in ``docs/data.md``)::

    <root>/dataset.json                 what was generated (dataset, size, counts, seed)
    <root>/<split>/manifest.json        shard name -> first episode, count, bytes, sha256
    <root>/<split>/shard-00000.npz      a zip archive of episodes first .. first+count-1

A shard is a zip archive (readable by :func:`numpy.load` for its ``.npy`` members) holding,
for every episode ``e`` (7 digits): ``e0000012/meta.json`` (family, seed, index, size),
``e0000012/joints.npy`` ``(T, J, 2) float32``, ``e0000012/visible.npy`` ``(T, J) bool``,
``e0000012/adjacency.npy`` ``(J, J) bool`` and ``e0000012/frame-000.png`` ... one PNG per
frame, so that a pair of frames is read without decoding the whole episode. Every member
has a fixed timestamp, so the same episodes give the same bytes. Shards are written to a
temporary file in the same directory and renamed; the manifest, rewritten the same way
after each shard, is the only list of shards a reader trusts.
"""

from __future__ import annotations

import hashlib
import io
import json
import warnings
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from skeleton_perception.training.sim.record import Episode

from skeleton_perception.atomic import write_bytes_atomic

MANIFEST = "manifest.json"
_EPOCH = (1980, 1, 1, 0, 0, 0)
# Fast PNG: zlib level 1 with run-length matching is ~6x faster than the default level
# and smaller than level 1 alone on these flat-shaded frames.
_PNG_OPTIONS = [
    cv2.IMWRITE_PNG_COMPRESSION,
    1,
    cv2.IMWRITE_PNG_STRATEGY,
    cv2.IMWRITE_PNG_STRATEGY_RLE,
]


def read_identity(root: str | Path) -> dict:
    """The settings that made a dataset's shards (``dataset.json``'s ``identity``).

    Raises:
        ValueError: naming the file, when it is missing or holds no identity.
    """
    info = Path(root) / "dataset.json"
    try:
        return dict(json.loads(info.read_text())["identity"])
    except FileNotFoundError:
        raise ValueError(f"{info}: no such file (a dataset written by `generate`)") from None
    except (OSError, KeyError, ValueError, TypeError) as e:
        raise ValueError(f"{info}: not a dataset description ({type(e).__name__}: {e})") from e


def dataset_name(root: str | Path, override: str | None = None) -> str:
    """The dataset a folder holds: ``override``, else its ``dataset.json``, else its name."""
    if override:
        return override
    try:
        return str(read_identity(root)["dataset"])
    except (ValueError, KeyError, TypeError):
        return Path(root).resolve().name


class CorruptShardError(RuntimeError):
    """A shard failed its checksum or could not be decoded."""


def shard_name(number: int) -> str:
    """File name of shard ``number``: ``shard-00000.npz``."""
    return f"shard-{number:05d}.npz"


def _member(zf: zipfile.ZipFile, name: str, data: bytes, compress: bool) -> None:
    info = zipfile.ZipInfo(name, date_time=_EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    info.external_attr = 0o644 << 16
    zf.writestr(info, data)


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def encode_shard(episodes: Sequence[Episode]) -> bytes:
    """The bytes of a shard holding ``episodes`` (deterministic)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for ep in episodes:
            prefix = f"e{ep.index:07d}/"
            meta = {
                "family": ep.family,
                "seed": int(ep.seed),
                "index": int(ep.index),
                "num_frames": int(ep.frames.shape[0]),
                "size": [int(ep.frames.shape[1]), int(ep.frames.shape[2])],
                "num_joints": int(ep.joints.shape[1]),
            }
            _member(zf, prefix + "meta.json", json.dumps(meta, sort_keys=True).encode(), True)
            _member(zf, prefix + "joints.npy", _npy(ep.joints.astype(np.float32)), True)
            _member(zf, prefix + "visible.npy", _npy(ep.visible.astype(bool)), True)
            _member(zf, prefix + "adjacency.npy", _npy(ep.adjacency.astype(bool)), True)
            for t, frame in enumerate(ep.frames):
                ok, png = cv2.imencode(".png", frame[..., ::-1], _PNG_OPTIONS)
                if not ok:
                    raise RuntimeError(f"episode {ep.index}: PNG encoding of frame {t} failed")
                _member(zf, f"{prefix}frame-{t:03d}.png", png.tobytes(), False)
    return buf.getvalue()


def write_shard(path: str | Path, episodes: Sequence[Episode]) -> dict:
    """Writes a shard atomically.

    Returns:
        Its manifest entry: ``first`` and ``count`` (episode indices), ``bytes``, ``sha256``.
    """
    path = Path(path)
    data = encode_shard(episodes)
    write_bytes_atomic(path, data)
    return {
        "first": int(episodes[0].index),
        "count": len(episodes),
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def read_manifest(split_dir: Path) -> dict[str, dict]:
    """Shard entries of a split directory (empty when it has no manifest yet)."""
    path = split_dir / MANIFEST
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())["shards"]
    except (ValueError, KeyError) as err:
        raise CorruptShardError(f"{path}: unreadable manifest ({err})") from err


def write_manifest(split_dir: Path, shards: dict[str, dict]) -> None:
    """Rewrites a split's manifest atomically."""
    text = json.dumps({"shards": dict(sorted(shards.items()))}, indent=1, sort_keys=True)
    write_bytes_atomic(split_dir / MANIFEST, text.encode())


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_shard(path: Path, entry: dict | None, verify: bool = True) -> str | None:
    """Why a shard must not be read, or ``None`` when it matches its manifest entry."""
    if entry is None:
        return "not listed in the manifest (interrupted generation?)"
    if not path.exists():
        return "listed in the manifest but missing"
    size = path.stat().st_size
    if size != entry["bytes"]:
        return f"size {size} bytes, manifest says {entry['bytes']} (truncated?)"
    if verify and file_sha256(path) != entry["sha256"]:
        return "checksum differs from the manifest (corrupt)"
    return None


@dataclass(frozen=True)
class _Ref:
    shard: Path
    index: int  # episode index within the split


class EpisodeStore:
    """Random access to the episodes of one split.

    Shards that are missing from the manifest or fail their size/checksum test are
    skipped with a warning naming them. Shards stay open once read (one file handle each)
    and the store can be pickled into DataLoader workers (each reopens shards lazily).
    """

    def __init__(self, root: str | Path, split: str, verify: bool = True):
        """Indexes a split.

        Args:
            root: Dataset directory, e.g. ``data/cartpoles``.
            split: ``"train"``, ``"val"`` or ``"test"``.
            verify: Check every shard's SHA-256 (else only its size).
        """
        self.root = Path(root)
        self.split = split
        split_dir = self.root / split
        if not split_dir.is_dir():
            raise FileNotFoundError(f"{split_dir}: no such split directory")
        manifest = read_manifest(split_dir)
        names = sorted({p.name for p in split_dir.glob("shard-*.npz")} | set(manifest))
        refs: list[_Ref] = []
        for name in names:
            path = split_dir / name
            problem = check_shard(path, manifest.get(name), verify)
            if problem:
                warnings.warn(f"skipping shard {path}: {problem}", stacklevel=2)
                continue
            entry = manifest[name]
            refs += [_Ref(path, entry["first"] + k) for k in range(entry["count"])]
        self._refs = sorted(refs, key=lambda r: r.index)
        # Open shards (their central directories parsed once) and parsed episode metadata:
        # random access across shards, as training does, then costs one PNG decode per frame.
        self._zips: dict[Path, zipfile.ZipFile] = {}
        self._meta: dict[int, dict] = {}

    def __len__(self) -> int:
        return len(self._refs)

    def __getitem__(self, i: int) -> Episode:
        meta = self.meta(i)
        frames = self.frames(i, range(meta["num_frames"]))
        prefix = self._prefix(i)
        return Episode(
            frames=frames,
            joints=self._array(i, prefix + "joints.npy"),
            visible=self._array(i, prefix + "visible.npy"),
            adjacency=self._array(i, prefix + "adjacency.npy"),
            family=meta["family"],
            seed=meta["seed"],
            index=meta["index"],
        )

    def __iter__(self) -> Iterator[Episode]:
        for i in range(len(self)):
            yield self[i]

    def meta(self, i: int) -> dict:
        """Episode ``i``'s metadata: family, seed, index, num_frames, size, num_joints."""
        meta = self._meta.get(i)
        if meta is None:
            meta = self._meta[i] = json.loads(self._read(i, self._prefix(i) + "meta.json"))
        return dict(meta)

    def frames(self, i: int, which: Sequence[int]) -> np.ndarray:
        """Only the frames ``which`` of episode ``i``, ``(len(which), H, W, 3)`` uint8 RGB."""
        prefix = self._prefix(i)
        out = []
        for t in which:
            raw = np.frombuffer(self._read(i, f"{prefix}frame-{t:03d}.png"), np.uint8)
            img = cv2.imdecode(raw, cv2.IMREAD_COLOR)
            if img is None:
                raise CorruptShardError(f"{self._refs[i].shard}: frame {t} does not decode")
            out.append(img[..., ::-1])
        return np.ascontiguousarray(np.stack(out))

    def _prefix(self, i: int) -> str:
        if not -len(self) <= i < len(self):
            raise IndexError(f"episode {i} out of range: {self.root / self.split} has {len(self)}")
        return f"e{self._refs[i].index:07d}/"

    def _array(self, i: int, name: str) -> np.ndarray:
        return np.lib.format.read_array(io.BytesIO(self._read(i, name)), allow_pickle=False)

    def _read(self, i: int, name: str) -> bytes:
        path = self._refs[i].shard
        shard = self._zips.get(path)
        if shard is None:
            try:
                shard = self._zips[path] = zipfile.ZipFile(path)
            except (zipfile.BadZipFile, OSError) as err:
                raise CorruptShardError(f"{path}: cannot open ({err})") from err
        try:
            return shard.read(name)
        except (zipfile.BadZipFile, KeyError, OSError, ValueError, zlib.error) as err:
            raise CorruptShardError(f"{path}: cannot read {name} ({err})") from err

    def close(self) -> None:
        """Closes the open shards (they reopen when read again)."""
        for shard in self._zips.values():
            shard.close()
        self._zips = {}

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_zips"] = {}
        return state
