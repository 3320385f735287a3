"""Render headroom: may a new stream start at a short render lead?

A stream's render lead (chunks rendered ahead of their send) is its slack against render delays,
and 100 ms of end-to-end latency per chunk. A new stream starts at the short lead (one chunk)
only when the render workers have measured headroom for it, else at the configured lead; a
server underrun still raises a stream's lead (`ListenerStream.raise_lead`).

**What is measured** (`RenderLoad`, fed by the engine's workers): every interval a worker
spends on a stream (a chunk's composition, synthesis and encoding, or a new stream's synth
creation with its first chunk), as wall time. Wall time, not CPU time, so a core taken by
other processes or a GIL held by other threads shows up as a slower chunk. From it:

* the workers' **busy share** over the last `window_s` seconds: busy time divided by the
  window times the render capacity (render threads, at most the usable cores);
* the **cost of a chunk** and the **cost of a start** (synth creation and first chunk), as
  moving averages of recent intervals.

**The decision** (`projected_load`): the share of the render capacity the workers would need
over the next chunk period if the stream started now. It is the larger of the busy share and
the steady load of every stream plus the new one (streams x chunk cost / period / capacity),
plus the work already waiting: the chunks streams are missing below their lead and the starts
not done yet (new streams registered but without a synth), and the new stream's own start.
With no cost measured yet (a fresh engine) only an idle engine (no stream at all) counts as
having headroom; otherwise the load is unknown and the stream starts at the configured lead.

A stream starts at the short lead when the projected load is at most the limit
(`AURALIS_LEAD_SHORT_MAX_LOAD`, docs/server.md) **and no other stream is in its start
transient**: none registered without its first chunk, and no start finished within the window.
Starts come in crowds (a page reload storm, a test's 20 listeners, a station's fans after a
post), a crowd's starts are work due now that no busy share shows yet, and a stream at lead 1
has only ~100 ms of slack against them; so of a crowd arriving together only the first gets the
short lead, the others the configured one, and their starts raise the first to it at once
(`StreamEngine.open_stream`).
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

#: Weight of the newest interval in the moving averages of a chunk's and a start's cost.
COST_WEIGHT = 0.1
#: Seconds of busy intervals the busy share looks back over.
WINDOW_S = 2.0


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the platform says)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


@dataclass(frozen=True)
class Measured:
    """What `RenderLoad` measured: the decision's inputs."""

    #: Busy time of the render workers over the window / (window x capacity), 0 when idle.
    busy_share: float
    #: Moving average of a chunk's wall time on a worker, seconds; None before the first.
    chunk_s: float | None
    #: Moving average of a stream's start (synth creation and first chunk), seconds; None before the first.
    start_s: float | None
    #: Starts (synth creation and first chunk) the workers finished within the window.
    recent_starts: int = 0


@dataclass(frozen=True)
class Backlog:
    """Render work waiting now, counted by the engine under its lock."""

    #: Active streams (registered, not closed or failed).
    streams: int
    #: Streams registered whose synth is not created yet (their start is still to do).
    starting: int
    #: Chunks the started streams miss below their render lead.
    missing_chunks: int


def projected_load(measured: Measured, backlog: Backlog, *, capacity: float, period_s: float) -> float | None:
    """The share of the render capacity needed over the next `period_s` if one more stream
    starts now (see the module docstring); None when it cannot be told (no cost measured yet
    while streams exist)."""
    if capacity <= 0 or period_s <= 0:
        raise ValueError("capacity and period_s must be positive")
    chunk_s, start_s = measured.chunk_s, measured.start_s
    if chunk_s is None or start_s is None:
        if backlog.streams or backlog.starting:
            return None
        return measured.busy_share  # nothing renders and nothing waits
    steady = (backlog.streams + 1) * chunk_s / period_s / capacity
    waiting = backlog.missing_chunks * chunk_s + (backlog.starting + 1) * start_s
    return max(measured.busy_share, steady) + waiting / (period_s * capacity)


def short_lead_allowed(
    measured: Measured, backlog: Backlog, *, capacity: float, period_s: float, max_load: float
) -> bool:
    """True when a new stream may start at the short lead: its projected load is measured and
    at most `max_load` (0 or less: never)."""
    if max_load <= 0:
        return False
    if backlog.starting or measured.recent_starts:
        return False  # streams in their start transient: a crowd arriving gets the long lead
    load = projected_load(measured, backlog, capacity=capacity, period_s=period_s)
    return load is not None and load <= max_load


class RenderLoad:
    """The render workers' recent busy intervals (thread-safe: workers record, the engine reads)."""

    def __init__(
        self,
        capacity: float,
        *,
        window_s: float = WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if capacity <= 0 or window_s <= 0:
            raise ValueError("capacity and window_s must be positive")
        self.capacity = capacity
        self.window_s = window_s
        self._clock = clock
        self._lock = threading.Lock()
        self._intervals: deque[tuple[float, float]] = deque()  # (end time, busy seconds)
        self._starts: deque[float] = deque()  # end times of the starts within the window
        self._busy = 0.0  # sum of the intervals kept
        self._chunk_s: float | None = None
        self._start_s: float | None = None

    def record(self, busy_s: float, *, start: bool) -> None:
        """A worker was busy `busy_s` seconds (ending now) on a chunk, or on a stream's start
        (`start`: its synth creation and first chunk)."""
        if not busy_s >= 0.0:
            raise ValueError(f"busy_s must be a non-negative number, got {busy_s!r}")
        now = self._clock()
        with self._lock:
            self._intervals.append((now, busy_s))
            self._busy += busy_s
            self._expire(now)
            if start:
                self._starts.append(now)
                self._start_s = busy_s if self._start_s is None else self._start_s + COST_WEIGHT * (busy_s - self._start_s)
            else:
                self._chunk_s = busy_s if self._chunk_s is None else self._chunk_s + COST_WEIGHT * (busy_s - self._chunk_s)

    def _expire(self, now: float) -> None:
        cutoff = now - self.window_s
        while self._intervals and self._intervals[0][0] < cutoff:
            self._busy -= self._intervals.popleft()[1]
        while self._starts and self._starts[0] < cutoff:
            self._starts.popleft()
        if not self._intervals:
            self._busy = 0.0  # no float residue

    def measured(self) -> Measured:
        now = self._clock()
        with self._lock:
            self._expire(now)
            share = max(0.0, self._busy) / (self.window_s * self.capacity)
            return Measured(busy_share=share, chunk_s=self._chunk_s, start_s=self._start_s,
                            recent_starts=len(self._starts))
