"""Rolling-window latency statistics: the avg/p50/p95/p99/samples figures of `/api/metrics`."""

from __future__ import annotations

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
    """avg, p50, p95, p99 of `samples` (in any order) and their count; zeros when there are none."""
    values = sorted(samples)
    if not values:
        return {"avg": 0.0, "p50": 0.0, "p95": 0.0, "p99": 0.0, "samples": 0}
    return {
        "avg": round(math.fsum(values) / len(values), 3),
        "p50": round(percentile(values, 50), 3),
        "p95": round(percentile(values, 95), 3),
        "p99": round(percentile(values, 99), 3),
        "samples": len(values),
    }
