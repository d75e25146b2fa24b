"""Rate and latency bookkeeping for the nodes' diagnostics and the demo (no rclpy)."""

from __future__ import annotations

import threading
import time
from collections import deque

import numpy as np


class RateMeter:
    """Counts events and reports the rate over a sliding time window (thread-safe)."""

    def __init__(self, window_s: float = 2.0) -> None:
        self._window = window_s
        self._times: deque[float] = deque()
        self._lock = threading.Lock()
        self.count = 0  # total events since creation

    def tick(self, now: float | None = None, count: int = 1) -> None:
        """Records ``count`` events at ``now`` (default: time.monotonic())."""
        now = time.monotonic() if now is None else now
        with self._lock:
            self.count += count
            self._times.extend([now] * count)
            self._trim(now)

    def rate(self, now: float | None = None) -> float:
        """Events per second over the last window (0 when fewer than two events)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            self._trim(now)
            if len(self._times) < 2:
                return 0.0
            span = max(now - self._times[0], self._times[-1] - self._times[0])
            return (len(self._times) - 1) / span if span > 0 else 0.0

    def _trim(self, now: float) -> None:
        while self._times and now - self._times[0] > self._window:
            self._times.popleft()


class LatencyWindow:
    """Keeps the last ``size`` latencies (seconds) and reports percentiles (thread-safe)."""

    def __init__(self, size: int = 500) -> None:
        self._values: deque[float] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, seconds: float) -> None:
        """Records one latency in seconds."""
        with self._lock:
            self._values.append(float(seconds))

    def percentiles_ms(self, qs: tuple[float, ...] = (50, 95, 99)) -> dict[float, float]:
        """Returns {q: latency in ms} for the given percentiles (NaN when empty)."""
        with self._lock:
            values = np.array(self._values, np.float64)
        if values.size == 0:
            return {q: float("nan") for q in qs}
        return {q: float(np.percentile(values, q) * 1e3) for q in qs}

    def __len__(self) -> int:
        with self._lock:
            return len(self._values)


class SequenceGaps:
    """Counts the messages missed between two taken ones, per publisher.

    From the publication sequence numbers that the middleware reports with each message
    (rclpy's message info): a gap is a message the publisher sent that was never taken
    (lost in transport, or overwritten in the subscription's history). The first message
    of a publisher, or one whose number does not increase (a restarted publisher), counts
    no gap.

    Args:
        max_publishers: publishers remembered; the oldest is forgotten beyond that.
    """

    def __init__(self, max_publishers: int = 64) -> None:
        self._last: dict[bytes, int] = {}
        self._max = max_publishers

    def missed(self, publisher: bytes, sequence: int | None) -> int | None:
        """Messages of ``publisher`` missed before ``sequence``; None when unknown.

        None means the middleware gives no sequence numbers (then count otherwise).
        """
        if sequence is None or not 0 < sequence < 2**63:
            return None
        last = self._last.pop(publisher, None)
        self._last[publisher] = sequence  # most recent last, for forgetting the oldest
        if len(self._last) > self._max:
            del self._last[next(iter(self._last))]
        if last is None or sequence <= last:
            return 0
        return sequence - last - 1
