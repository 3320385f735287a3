"""Rolling-window latency statistics: the avg/p50/p95/p99/samples figures of `/api/metrics`."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

import numpy as np


class RollingWindow:
    """The most recent samples: at most `max_samples`, none older than `max_age_s` seconds.

    Thread-safe: render threads add synthesis timings while the event loop reads summaries.
    """

    def __init__(
        self,
        max_samples: int = 1000,
        max_age_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_samples < 1:
            raise ValueError("max_samples must be at least 1")
        if max_age_s <= 0:
            raise ValueError("max_age_s must be positive")
        self._samples: deque[tuple[float, float]] = deque(maxlen=max_samples)
        self._max_age_s = max_age_s
        self._clock = clock
        self._lock = threading.Lock()

    def add(self, value: float) -> None:
        if not math.isfinite(value):
            raise ValueError(f"sample must be finite, got {value!r}")
        with self._lock:
            self._samples.append((self._clock(), float(value)))

    def cutoff(self) -> float:
        """The clock reading before which a sample is too old to count."""
        return self._clock() - self._max_age_s

    def pairs(self) -> list[tuple[float, float]]:
        """The ``(time, value)`` samples still inside the window, oldest first (the worker
        board shares them: `auralis.monitoring.board`)."""
        cutoff = self.cutoff()
        with self._lock:
            while self._samples and self._samples[0][0] < cutoff:
                self._samples.popleft()
            return list(self._samples)

    def values(self) -> list[float]:
        """The samples still inside the window, oldest first."""
        return [v for _, v in self.pairs()]

    def summary(self) -> dict[str, float | int]:
        """avg, p50, p95, p99 (milliseconds, like the samples) and the sample count; zeros when empty."""
        return summarize(self.values())


def summarize(samples: Sequence[float]) -> dict[str, float | int]:
    """avg, p50, p95, p99 of `samples` (in any order) and their count; zeros when there are none.

    Percentiles interpolate linearly between ranks (rank = q/100 x (n - 1), numpy's default
    "linear"), computed by numpy's partial sorts: a window of 1,000 samples costs tens of
    microseconds on the event loop, not a Python sort."""
    n = len(samples)
    if not n:
        return {"avg": 0.0, "p50": 0.0, "p95": 0.0, "p99": 0.0, "samples": 0}
    values = np.fromiter(samples, dtype=np.float64, count=n)
    p50, p95, p99 = np.percentile(values, (50, 95, 99))
    return {
        "avg": round(math.fsum(samples) / n, 3),
        "p50": round(float(p50), 3),
        "p95": round(float(p95), 3),
        "p99": round(float(p99), 3),
        "samples": n,
    }
