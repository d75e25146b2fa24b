"""A depth-1 drop-oldest hand-off between a subscription callback and a worker thread.

The callback never waits: a new frame replaces one the worker has not taken yet (that
one is counted as dropped). Like ``BufferQueue`` in image_pipeline's camera calibrator.
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class LatestBuffer(Generic[T]):
    """Holds at most ``depth`` items; putting into a full buffer drops the oldest.

    Thread-safe. ``get`` blocks until an item arrives, the timeout passes or ``close``.
    """

    def __init__(self, depth: int = 1) -> None:
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        self._depth = depth
        self._items: list[T] = []
        self._cond = threading.Condition()
        self._closed = False
        self.dropped = 0  # items replaced before the consumer took them

    def put(self, item: T) -> bool:
        """Adds ``item``; returns True when an older item was dropped to make room."""
        with self._cond:
            dropped = len(self._items) >= self._depth
            if dropped:
                self._items.pop(0)
                self.dropped += 1
            self._items.append(item)
            self._cond.notify()
            return dropped

    def get(self, timeout: float | None = None) -> T | None:
        """Returns the oldest item, or None on timeout or after ``close``."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._items or self._closed, timeout):
                return None
            if self._closed:
                return None
            return self._items.pop(0)

    def close(self) -> None:
        """Wakes every waiting ``get`` (which returns None) and refuses further waits."""
        with self._cond:
            self._closed = True
            self._items.clear()
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)
