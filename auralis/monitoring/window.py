"""Rolling-window latency statistics: the avg/p50/p95/p99/samples figures of `/api/metrics`."""

from __future__ import annotations

import bisect
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) of ascending values, interpolating linearly between ranks.

    Same definition as numpy's default ("linear"): rank = q/100 * (n - 1).
    """
    if not sorted_values:
        raise ValueError("percentile of no values")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"q must be between 0 and 100, got {q!r}")
    rank = q / 100.0 * (len(sorted_values) - 1)
    lo = math.floor(rank)
    hi = min(lo + 1, len(sorted_values) - 1)
    frac = rank - lo
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * frac


class RollingWindow:
    """The most recent samples: at most `max_samples`, none older than `max_age_s` seconds.

    Thread-safe: render threads add synthesis timings while the event loop reads summaries.
    The values are also kept in ascending order as they come and go (`bisect`), so a summary
    reads its percentiles off that list instead of sorting the window on the event loop at every
    `/api/metrics` (a full window of 1,000 timings took 156 us a summary, about a third of the
    whole answer's time in the app).
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
        self._samples: deque[tuple[float, float]] = deque()
        self._sorted: list[float] = []  # the same values, ascending
        self._max_samples = max_samples
        self._max_age_s = max_age_s
        self._clock = clock
        self._lock = threading.Lock()

    def add(self, value: float) -> None:
        if not math.isfinite(value):
            raise ValueError(f"sample must be finite, got {value!r}")
        value = float(value)
        with self._lock:
            if len(self._samples) == self._max_samples:
                self._drop_oldest()
            self._samples.append((self._clock(), value))
            bisect.insort(self._sorted, value)

    def _drop_oldest(self) -> None:
        """(lock held)"""
        _, value = self._samples.popleft()
        del self._sorted[bisect.bisect_left(self._sorted, value)]

    def _expire(self) -> None:
        """(lock held) Drop the samples older than the window."""
        cutoff = self.cutoff()
        while self._samples and self._samples[0][0] < cutoff:
            self._drop_oldest()

    def cutoff(self) -> float:
        """The clock reading before which a sample is too old to count."""
        return self._clock() - self._max_age_s

    def pairs(self) -> list[tuple[float, float]]:
        """The ``(time, value)`` samples still inside the window, oldest first (the worker
        board shares them: `auralis.monitoring.board`)."""
        with self._lock:
            self._expire()
            return list(self._samples)

    def values(self) -> list[float]:
        """The samples still inside the window, oldest first."""
        return [v for _, v in self.pairs()]

    def summary(self) -> dict[str, float | int]:
        """avg, p50, p95, p99 (milliseconds, like the samples) and the sample count; zeros when
        empty. The same figures as `summarize(self.values())`."""
        with self._lock:
            self._expire()
            return summarize_sorted(self._sorted)


def summarize(samples: Sequence[float]) -> dict[str, float | int]:
    """avg, p50, p95, p99 of `samples` (in any order) and their count; zeros when there are none."""
    return summarize_sorted(sorted(samples))


def summarize_sorted(values: Sequence[float]) -> dict[str, float | int]:
    """`summarize` of values already in ascending order."""
    if not values:
        return {"avg": 0.0, "p50": 0.0, "p95": 0.0, "p99": 0.0, "samples": 0}
    return {
        "avg": round(math.fsum(values) / len(values), 3),
        "p50": round(percentile(values, 50), 3),
        "p95": round(percentile(values, 95), 3),
        "p99": round(percentile(values, 99), 3),
        "samples": len(values),
    }
