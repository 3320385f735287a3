"""The pacer under a fake clock (no sleeps): the start burst, the drift-free schedule,
starvation and re-anchoring, stream failure, the start timeout and overflow counts."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from auralis.server.pacer import Pacer

PERIOD = 0.1
T0 = 1000.0


class FakeClock:
    def __init__(self) -> None:
        self.t = T0

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += max(0.0, seconds)
        await asyncio.sleep(0)  # let other tasks (none here) run, as a real sleep would


@dataclass
class Source:
    """Chunks 0..n-1; `available(t)` says how many have been rendered by time t."""

    clock: FakeClock
    available: object = None
    error: BaseException | None = None
    overflows: int = 0
    popped: int = 0
    overflow_at: dict[int, int] = field(default_factory=dict)
    lead: object = 1  # the stream's render lead, or a function of nothing giving it

    @property
    def lead_chunks(self) -> int:
        return self.lead() if callable(self.lead) else self.lead

    def _ready(self) -> int:
        return self.available(self.clock.t) if callable(self.available) else 10**9

    @property
    def depth(self) -> int:
        return max(0, self._ready() - self.popped)

    def pop(self) -> int | None:
        if self.depth == 0:
            return None
        seq = self.popped
        self.popped += 1
        self.overflows = self.overflow_at.get(seq, self.overflows)
        return seq


class Events:
    def __init__(self, clock: FakeClock, stop_after: int) -> None:
        self.clock = clock
        self.stop_after = stop_after
        self.log: list[tuple] = []
        self.times: list[float] = []
        self.task: asyncio.Task | None = None

    def chunk(self, chunk: int) -> None:
        self.log.append(("chunk", chunk))
        self.times.append(self.clock.t)
        if len(self.times) >= self.stop_after and self.task is not None:
            self.task.cancel()

    def starving(self) -> None:
        self.log.append(("starving", self.clock.t))

    def resumed(self, depth: int) -> None:
        self.log.append(("resumed", self.clock.t))

    def overflowed(self, n: int) -> None:
        self.log.append(("overflowed", n))

    def stream_failed(self, error: BaseException) -> None:
        self.log.append(("failed", str(error)))

    def start_timed_out(self, seconds: float) -> None:
        self.log.append(("timeout", self.clock.t))


def pace(source: Source, events: Events, clock: FakeClock, *, burst: int = 3, ready=1, **kw) -> None:
    source.lead = ready  # the chunks the start waits for: the stream's lead, at most the burst
    pacer = Pacer(source, events, burst=burst, period_s=PERIOD, now=clock.now, sleep=clock.sleep, **kw)

    async def main() -> None:
        events.task = asyncio.create_task(pacer.run())
        try:
            await events.task
        except asyncio.CancelledError:
            pass

    asyncio.run(main())
    assert pacer.sent == len(events.times)


def test_start_burst_then_real_time_without_drift() -> None:
    clock = FakeClock()
    events = Events(clock, stop_after=200)
    pace(Source(clock), events, clock, burst=3)
    assert [c for kind, c in events.log] == list(range(200))
    # chunks 0..2 leave at once, then chunk k at t0 + (k - 2) * period: no accumulated drift
    assert events.times[:3] == [T0] * 3
    for k in range(3, 200):
        assert events.times[k] == pytest.approx(T0 + (k - 2) * PERIOD, abs=1e-9)


def test_waits_for_ready_chunks_before_sending() -> None:
    clock = FakeClock()
    # one chunk rendered every 50 ms from T0
    source = Source(clock, available=lambda t: int((t - T0) / 0.05 + 1e-9))
    events = Events(clock, stop_after=3)
    pace(source, events, clock, burst=3, ready=3)
    first = events.times[0]
    assert first >= T0 + 0.15 - 1e-9  # three chunks were rendered before the first left
    assert events.times == [first] * 3


def test_ready_chunks_read_again_while_the_start_waits() -> None:
    """A stream granted a short lead whose lead is raised before its first chunk (a crowd's
    starts) waits for the raised lead's chunks, as the crowd's streams do."""
    clock = FakeClock()
    # one chunk rendered every 50 ms from T0; the lead is raised from 1 to 3 at T0 + 0.02,
    # before the first chunk exists
    source = Source(clock, available=lambda t: int((t - T0) / 0.05 + 1e-9))
    events = Events(clock, stop_after=4)
    pace(source, events, clock, burst=3, ready=lambda: 1 if clock.t < T0 + 0.02 else 3)
    first = events.times[0]
    assert first >= T0 + 0.15 - 1e-9  # three chunks, not one, were rendered before the first left
    assert events.times[:3] == [first] * 3
    assert "starving" not in [e[0] for e in events.log]
    assert events.times[3] == pytest.approx(first + PERIOD, abs=1e-9)


def test_a_lead_raised_after_the_start_does_not_hold_the_stream_back() -> None:
    clock = FakeClock()
    source = Source(clock, available=lambda t: int((t - T0) / 0.05 + 1e-9))
    events = Events(clock, stop_after=2)
    pace(source, events, clock, burst=3, ready=lambda: 1 if not events.times else 3)
    assert T0 + 0.05 - 1e-9 <= events.times[0] <= T0 + 0.055 + 1e-9  # left with its one chunk
    assert events.times[1] <= T0 + 0.105 + 1e-9  # the next as rendered: the start is over


def test_first_chunk_leaves_when_rendered_and_the_burst_as_rendered_without_underrun() -> None:
    clock = FakeClock()
    # a render lead of one chunk: one chunk every 30 ms from T0 while the burst is out
    source = Source(clock, available=lambda t: int((t - T0) / 0.03 + 1e-9))
    events = Events(clock, stop_after=6)
    pace(source, events, clock, burst=3)
    assert [e[0] for e in events.log] == ["chunk"] * 6  # no starving: a burst chunk is not late yet
    t0 = events.times[0]
    assert T0 + 0.03 <= t0 <= T0 + 0.03 + 0.005 + 1e-9  # the first chunk, one poll after it exists
    assert events.times[1] == pytest.approx(T0 + 0.06, abs=0.005 + 1e-9)
    assert events.times[2] == pytest.approx(T0 + 0.09, abs=0.005 + 1e-9)
    # then real time from the first chunk's departure: chunk k at t0 + (k - 2) * period
    for k in (3, 4, 5):
        assert events.times[k] == pytest.approx(t0 + (k - 2) * PERIOD, abs=1e-9)


def test_a_burst_chunk_late_past_its_real_time_is_an_underrun() -> None:
    clock = FakeClock()
    # chunk 0 at once, chunk 1 only at T0 + 0.25: the listener ran out of chunk 0 at T0 + 0.1
    source = Source(clock, available=lambda t: 1 if t < T0 + 0.25 else 10**9)
    events = Events(clock, stop_after=5)
    pace(source, events, clock, burst=3)
    kinds = [e[0] for e in events.log]
    assert kinds == ["chunk", "starving", "resumed", "chunk", "chunk", "chunk", "chunk"]
    assert events.log[1][1] == pytest.approx(T0 + PERIOD, abs=0.005 + 1e-9)
    assert events.log[2][1] >= T0 + 0.25


def test_starvation_is_reported_once_then_resumes_and_reanchors() -> None:
    clock = FakeClock()
    # 10 chunks at once, then nothing until T0 + 2.0, then plenty
    source = Source(clock, available=lambda t: 10 if t < T0 + 2.0 else 10**9)
    events = Events(clock, stop_after=20)
    pace(source, events, clock, burst=3)
    kinds = [e[0] for e in events.log]
    assert kinds.count("starving") == 1 and kinds.count("resumed") == 1
    i_starve, i_resume = kinds.index("starving"), kinds.index("resumed")
    assert [e[1] for e in events.log[:i_starve]] == list(range(10))
    starved_at, resumed_at = events.log[i_starve][1], events.log[i_resume][1]
    assert starved_at == pytest.approx(T0 + 8 * PERIOD, abs=1e-9)  # chunk 10 was due then
    assert resumed_at >= T0 + 2.0
    # it fell more than a burst behind: a new start burst at the resume, then real time again
    after = events.times[10:]
    assert after[:3] == [after[0]] * 3
    for j in range(3, len(after)):
        assert after[j] == pytest.approx(after[0] + (j - 2) * PERIOD, abs=1e-9)
    assert [e[1] for e in events.log if e[0] == "chunk"] == list(range(20))


def test_short_starvation_keeps_the_schedule() -> None:
    clock = FakeClock()
    # chunk 5 is 120 ms late (less than a burst): the schedule is not re-anchored
    source = Source(clock, available=lambda t: 5 if t < T0 + 3 * PERIOD + 0.12 else 10**9)
    events = Events(clock, stop_after=12)
    pace(source, events, clock, burst=3)
    # the late chunk leaves when it is ready; those after it catch up with the original schedule
    assert events.times[-1] == pytest.approx(T0 + 9 * PERIOD, abs=1e-9)


def test_stream_failure_stops_pacing() -> None:
    clock = FakeClock()
    source = Source(clock)
    events = Events(clock, stop_after=10**6)

    class Failing(Events):
        def chunk(self, chunk: int) -> None:
            super().chunk(chunk)
            if chunk == 4:
                source.error = RuntimeError("synthesis failed")

    events = Failing(clock, stop_after=10**6)
    pace(source, events, clock)
    assert events.log[-1] == ("failed", "synthesis failed")
    assert [e[1] for e in events.log if e[0] == "chunk"] == [0, 1, 2, 3, 4]


def test_start_timeout_in_fake_time() -> None:
    clock = FakeClock()
    source = Source(clock, available=lambda t: 0)  # never renders its first chunk
    events = Events(clock, stop_after=1)
    pace(source, events, clock, start_timeout_s=15.0)
    assert len(events.log) == 1 and events.log[0][0] == "timeout"
    assert T0 + 15.0 < events.log[0][1] <= T0 + 15.0 + 0.01


def test_overflows_are_reported_as_increments() -> None:
    clock = FakeClock()
    source = Source(clock, overflow_at={2: 1, 5: 3, 6: 3})
    events = Events(clock, stop_after=8)
    pace(source, events, clock)
    assert [e[1] for e in events.log if e[0] == "overflowed"] == [1, 2]
