"""Pairs each message of a main stream with the nearest-stamped message of another stream.

The ``skeleton_3d`` node pairs every skeleton with the depth image of the same capture.
``message_filters`` is not among PyPI's ROS 2 wheels, so this is a small synchroniser of
its own (no rclpy, stamps in integer nanoseconds), with a policy that fits the case:

* every *main* message (a skeleton) is paired with the *other* message (a depth image)
  whose stamp is nearest to its own, if that is within ``tolerance_ns``;
* a pair is only decided once the other stream holds a message stamped at or after the
  main one (messages of each stream arrive in stamp order), so a closer depth image that
  is still on its way is not missed; with an exact stamp match it is decided at once;
* a main message that can no longer be matched (the other stream moved past it by more
  than the tolerance), or that falls out of the bounded queue, is returned as
  *unmatched*, with the stamp offset of the nearest other message, for a clear warning.

Skeletons come at most as often as the images (the detector skips frames when busy), so
pairing from the skeleton's side keeps every skeleton that has a depth image and never
waits for a skeleton that will not come, unlike a symmetric approximate-time policy.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any


@dataclass
class SyncResult:
    """What one :meth:`NearestStampSync.add_main` / ``add_other`` call decided.

    Attributes:
        pairs: ``(main, other)`` message pairs, oldest first.
        unmatched: ``(main, offset_ns)`` for main messages given up: ``offset_ns`` is the
            stamp of the nearest other message minus the main stamp (None: no other
            message was ever seen).
    """

    pairs: list[tuple[Any, Any]]
    unmatched: list[tuple[Any, int | None]]


class NearestStampSync:
    """Nearest-stamp pairing of a main stream with another stream (not thread-safe).

    Args:
        tolerance_ns: largest accepted ``|stamp_main - stamp_other|``.
        queue_size: messages kept per stream while waiting (>= 1).
    """

    def __init__(self, tolerance_ns: int, queue_size: int = 10) -> None:
        if tolerance_ns < 0 or queue_size < 1:
            raise ValueError(
                f"need tolerance_ns >= 0 and queue_size >= 1, got {tolerance_ns}, {queue_size}"
            )
        self.tolerance_ns = int(tolerance_ns)
        self._main: deque[tuple[int, Any]] = deque()
        self._other: deque[tuple[int, Any]] = deque(maxlen=queue_size)
        self._queue_size = queue_size
        self._last_other_offset: int | None = None

    def add_main(self, stamp_ns: int, msg: Any) -> SyncResult:
        """Adds a main-stream message and returns what can be decided now."""
        self._main.append((int(stamp_ns), msg))
        return self._decide()

    def add_other(self, stamp_ns: int, msg: Any) -> SyncResult:
        """Adds an other-stream message and returns what can be decided now."""
        if self._other and stamp_ns < self._other[-1][0]:  # a restarted source (bag loop)
            self._other.clear()
        self._other.append((int(stamp_ns), msg))
        return self._decide()

    def _nearest(self, stamp: int) -> tuple[int, Any] | None:
        return min(self._other, key=lambda item: abs(item[0] - stamp), default=None)

    def _decide(self) -> SyncResult:
        result = SyncResult(pairs=[], unmatched=[])
        while self._main:
            stamp, msg = self._main[0]
            nearest = self._nearest(stamp)
            newest = self._other[-1][0] if self._other else None
            if nearest is not None and nearest[0] == stamp:  # exact: nothing can be closer
                decided = True
            else:
                decided = newest is not None and newest >= stamp
            overflow = len(self._main) > self._queue_size
            if not decided and not overflow:
                break
            self._main.popleft()
            offset = None if nearest is None else nearest[0] - stamp
            if nearest is not None and abs(offset) <= self.tolerance_ns:
                result.pairs.append((msg, nearest[1]))
                # Older other messages can no longer be the nearest for later skeletons.
                while self._other and self._other[0][0] < nearest[0]:
                    self._other.popleft()
            else:
                result.unmatched.append((msg, offset))
        return result

    @property
    def waiting(self) -> int:
        """Main messages waiting for their pair."""
        return len(self._main)
