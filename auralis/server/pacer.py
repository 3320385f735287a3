"""The pacer: takes one listener's chunks from its stream on an absolute schedule.

Chunk k is due at ``t0 + max(0, k - burst + 1) * period``: a start burst, then real time with no
drift. ``t0`` is when the stream's first chunks are rendered: as many as its render lead, at most
the burst (the lead the engine chose: at lead one the first chunk leaves as soon as it exists,
and the rest of the burst as each is rendered). The lead is read again at every look while the
start waits: a stream granted a short lead whose lead is raised before its first chunk (a crowd
arriving together) then starts with the slack of the raised lead, as the crowd's own streams do.

A chunk that is due when none is ready is a server underrun: the pacer tells its listener
(`starving`), polls, and tells it again when chunks flow (`resumed`), re-anchoring the schedule
with a new start burst if it fell more than a burst behind. A chunk of the start burst is sent
as soon as it is rendered; it is late only once the listener has had time to play the chunks
before it (chunk ``i`` of a burst at ``t0 + i * period``), so a render lead shorter than the
burst is no underrun.

The clock is injected (a `now()` and an async `sleep()`), so tests drive the pacer with a fake
clock instead of sleeping.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

#: How often the pacer looks again while a chunk is late (starting or starved).
POLL_S = 0.005
#: A stream that has not produced its start burst within this time fails (`start_timeout`).
START_TIMEOUT_S = 15.0


class ChunkSource(Protocol):
    """What the pacer reads: a listener's stream (`auralis.streaming.stream.ListenerStream`)."""

    @property
    def depth(self) -> int: ...

    @property
    def error(self) -> BaseException | None: ...

    @property
    def overflows(self) -> int: ...

    @property
    def lead_chunks(self) -> int: ...

    def pop(self) -> Any: ...


class PaceEvents(Protocol):
    """What the pacer tells its session."""

    def chunk(self, chunk: Any) -> None:
        """A chunk is due: send it."""

    def starving(self) -> None:
        """A chunk is due and none is ready (a server underrun); called once per starvation."""

    def resumed(self, depth: int) -> None:
        """Chunks flow again after `starving`."""

    def overflowed(self, n: int) -> None:
        """The stream dropped `n` more chunks because its buffer was full."""

    def stream_failed(self, error: BaseException) -> None:
        """The stream's synthesis failed; the pacer has stopped."""

    def start_timed_out(self, seconds: float) -> None:
        """The start burst was not rendered in time; the pacer has stopped."""


class Pacer:
    def __init__(
        self,
        source: ChunkSource,
        events: PaceEvents,
        *,
        burst: int,
        period_s: float,
        now: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        poll_s: float = POLL_S,
        start_timeout_s: float = START_TIMEOUT_S,
    ) -> None:
        self.source = source
        self.events = events
        self.burst = burst
        self.period_s = period_s
        self._now = now
        self._sleep = sleep
        self.poll_s = poll_s
        self.start_timeout_s = start_timeout_s
        self.sent = 0  # chunks handed to `events.chunk`
        self._overflows_seen = 0

    def _time(self) -> float:
        if self._now is not None:
            return self._now()
        return asyncio.get_running_loop().time()

    def _failed(self) -> bool:
        error = self.source.error
        if error is None:
            return False
        self.events.stream_failed(error)
        return True

    async def run(self) -> None:
        """Pace until cancelled, or until the stream fails or does not start in time."""
        source, events, burst, period = self.source, self.events, self.burst, self.period_s
        # Start: wait (bounded) until the stream's lead (at most the burst) is rendered; it leaves at once.
        deadline = self._time() + self.start_timeout_s
        while source.depth < min(burst, source.lead_chunks):
            if self._failed():
                return
            if self._time() > deadline:
                events.start_timed_out(self.start_timeout_s)
                return
            await self._sleep(self.poll_s)
        base_time, base_k = self._time(), 0
        k = 0
        starving = False
        while True:
            i = k - base_k  # position since the (re-)anchor
            due = base_time + max(0, i - burst + 1) * period
            # a burst chunk leaves as soon as it is rendered, and is late only at its real time
            late_at = due if i >= burst else base_time + i * period
            delay = due - self._time()
            if delay > 0:
                await self._sleep(delay)
            if self._failed():
                return
            chunk = source.pop()
            if chunk is None:
                if not starving and self._time() >= late_at:
                    starving = True
                    events.starving()
                await self._sleep(self.poll_s)
                continue
            if starving:
                starving = False
                now = self._time()
                if now - due > burst * period:  # fell too far behind: start afresh with a burst
                    base_time, base_k = now, k
                events.resumed(source.depth)
            events.chunk(chunk)
            self.sent += 1
            k += 1
            overflows = source.overflows
            if overflows > self._overflows_seen:
                events.overflowed(overflows - self._overflows_seen)
                self._overflows_seen = overflows
