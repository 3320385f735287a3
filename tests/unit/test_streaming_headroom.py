"""The render-lead decision (auralis.streaming.headroom) on fake measurements and a fake clock."""

from __future__ import annotations

import pytest

from auralis.streaming.headroom import (
    Backlog,
    Measured,
    RenderLoad,
    projected_load,
    short_lead_allowed,
)

PERIOD = 0.1
IDLE = Backlog(streams=0, starting=0, missing_chunks=0)


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def allowed(measured: Measured, backlog: Backlog, capacity: float = 2.0, max_load: float = 0.5) -> bool:
    return short_lead_allowed(measured, backlog, capacity=capacity, period_s=PERIOD, max_load=max_load)


def test_a_fresh_idle_engine_has_headroom_for_one_stream() -> None:
    fresh = Measured(busy_share=0.0, chunk_s=None, start_s=None)
    assert projected_load(fresh, IDLE, capacity=2, period_s=PERIOD) == 0.0
    assert allowed(fresh, IDLE)


def test_without_a_measured_cost_any_other_stream_makes_the_load_unknown() -> None:
    fresh = Measured(busy_share=0.0, chunk_s=None, start_s=None)
    # a second stream arriving while the first is still creating its synth: unknown, so no
    assert projected_load(fresh, Backlog(streams=1, starting=1, missing_chunks=0), capacity=2, period_s=PERIOD) is None
    assert not allowed(fresh, Backlog(streams=1, starting=1, missing_chunks=0))
    assert not allowed(fresh, Backlog(streams=1, starting=0, missing_chunks=0))


def test_steady_load_of_every_stream_plus_the_new_one() -> None:
    m = Measured(busy_share=0.0, chunk_s=0.002, start_s=0.010)
    # 20 playing streams at 2 ms a chunk on 2 threads: 21 x 2 ms / 100 ms / 2 = 0.21, plus the
    # new stream's own start 10 ms / (100 ms x 2) = 0.05
    load = projected_load(m, Backlog(streams=20, starting=0, missing_chunks=0), capacity=2, period_s=PERIOD)
    assert load == pytest.approx(0.26)
    assert allowed(m, Backlog(streams=20, starting=0, missing_chunks=0))
    # 45 streams: 46 x 0.01 + 0.05 = 0.51 > 0.5
    assert not allowed(m, Backlog(streams=45, starting=0, missing_chunks=0))


def test_the_measured_busy_share_counts_when_it_is_higher_than_the_projection() -> None:
    # a slow machine (other processes on the cores): the workers were busy 60% of the window
    # although the chunk cost says 21%
    busy = Measured(busy_share=0.6, chunk_s=0.002, start_s=0.010)
    assert projected_load(busy, Backlog(streams=20, starting=0, missing_chunks=0), capacity=2,
                          period_s=PERIOD) == pytest.approx(0.65)
    assert not allowed(busy, Backlog(streams=20, starting=0, missing_chunks=0))


def test_a_crowd_arriving_together_sees_the_starts_before_it() -> None:
    """Streams arriving in the same second: the busy share (an old measurement) still says
    idle, but each new stream sees the starts registered before it, or finished within the
    window: only the first of the crowd gets the short lead."""
    m = Measured(busy_share=0.0, chunk_s=0.002, start_s=0.010)
    grants = []
    for k in range(20):  # stream k finds k streams registered, none started yet
        grants.append(allowed(m, Backlog(streams=k, starting=k, missing_chunks=0)))
    assert grants == [True] + [False] * 19
    # the earlier ones started already (within the window): still the long lead
    started = Measured(busy_share=0.05, chunk_s=0.002, start_s=0.010, recent_starts=3)
    assert not allowed(started, Backlog(streams=3, starting=0, missing_chunks=0))
    # the projection alone would have allowed up to 8 (starts at 10 ms each on 2 threads)
    loads = [projected_load(m, Backlog(streams=k, starting=k, missing_chunks=0), capacity=2, period_s=PERIOD)
             for k in range(20)]
    assert sum(load <= 0.5 for load in loads) == 8


def test_missing_chunks_are_work_waiting_now() -> None:
    m = Measured(busy_share=0.1, chunk_s=0.002, start_s=0.010)
    assert allowed(m, Backlog(streams=10, starting=0, missing_chunks=0))
    # 60 chunks missing below their lead (streams raised after underruns, or starved): 120 ms of
    # work waiting on 2 threads for a 100 ms period
    assert not allowed(m, Backlog(streams=10, starting=0, missing_chunks=60))


def test_the_limit_bounds_it_and_zero_turns_it_off() -> None:
    m = Measured(busy_share=0.0, chunk_s=0.002, start_s=0.010)
    b = Backlog(streams=2, starting=0, missing_chunks=0)
    assert allowed(m, b, max_load=0.5)
    assert not allowed(m, b, max_load=0.0)
    assert not allowed(Measured(0.0, None, None), IDLE, max_load=0.0)  # off, even when idle


def test_bad_capacity_or_period_is_refused() -> None:
    with pytest.raises(ValueError):
        projected_load(Measured(0.0, None, None), IDLE, capacity=0, period_s=PERIOD)
    with pytest.raises(ValueError):
        RenderLoad(0)


def test_render_load_busy_share_over_its_window() -> None:
    clock = FakeClock()
    load = RenderLoad(2, window_s=2.0, clock=clock)
    assert load.measured() == Measured(busy_share=0.0, chunk_s=None, start_s=None)
    load.record(0.020, start=True)
    assert load.measured().recent_starts == 1
    for _ in range(99):
        clock.t += 0.01
        load.record(0.004, start=False)
    m = load.measured()
    # 20 ms + 99 x 4 ms busy within the 2 s window of 2 threads
    assert m.busy_share == pytest.approx((0.020 + 99 * 0.004) / 4.0)
    assert m.start_s == pytest.approx(0.020)
    assert m.chunk_s == pytest.approx(0.004)
    clock.t += 1.505  # the start and the first 49 chunks leave the window
    m = load.measured()
    assert m.busy_share == pytest.approx(50 * 0.004 / 4.0)
    assert m.recent_starts == 0  # the start left the window
    clock.t += 10.0  # idle: the share falls to 0, the costs are kept (what a chunk costs here)
    m = load.measured()
    assert m.busy_share == 0.0 and m.chunk_s == pytest.approx(0.004) and m.start_s == pytest.approx(0.020)


def test_render_load_costs_follow_recent_chunks() -> None:
    clock = FakeClock()
    load = RenderLoad(2, clock=clock)
    load.record(0.002, start=False)
    for _ in range(50):  # the machine got slower: chunks take 8 ms now
        clock.t += 0.01
        load.record(0.008, start=False)
    assert load.measured().chunk_s == pytest.approx(0.008, rel=0.02)


def test_render_load_refuses_a_negative_or_nan_interval() -> None:
    load = RenderLoad(1, clock=FakeClock())
    with pytest.raises(ValueError):
        load.record(-0.001, start=False)
    with pytest.raises(ValueError):
        load.record(float("nan"), start=False)
