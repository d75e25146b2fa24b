"""Atomic file writes: a reader sees the old file or the whole new one, never a part.

Every file this package writes (checkpoints, dataset shards, plots, animations, reports)
goes through :func:`atomic_path`: the content is written to a temporary file in the same
directory, flushed to disk, given ordinary permissions and moved over the destination with
``os.replace``; if writing fails or the process is interrupted, the temporary file is
removed and the destination is untouched.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """Yields a temporary path to write; on success it replaces ``path``.

    Args:
        path: the destination; its directory is created if needed.
        suffix: suffix of the temporary file (some writers choose the format by it).

    Yields:
        The temporary file's path (an empty file that exists).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Writes ``data`` to ``path`` atomically; returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)
