"""Clock offset and network latency estimation from client timestamps."""

from __future__ import annotations

import pytest

from auralis.monitoring.clock import ClockSync


def test_offset_unknown_until_a_timestamp_arrives() -> None:
    c = ClockSync()
    assert c.offset_s is None
    assert c.to_server_time(100.0) == 100.0


def test_offset_with_round_trips() -> None:
    # client clock is 5 s behind the server; one-way latency 20 ms, with queuing jitter
    c = ClockSync()
    true_offset, owl = 5.0, 0.020
    for i, jitter in enumerate([0.030, 0.0, 0.012, 0.050]):
        sent_client = 1000.0 + i
        c.observe_timestamp(sent_client, sent_client + true_offset + owl + jitter)
        assert c.observe_rtt(40.0) == pytest.approx(20.0)
    assert c.offset_s == pytest.approx(true_offset)
    assert c.to_server_time(2000.0) == pytest.approx(2005.0)


def test_offset_without_round_trips_is_bounded_by_one_way_latency() -> None:
    c = ClockSync()
    c.observe_timestamp(100.0, 100.0 - 3.0 + 0.004)  # client 3 s ahead, 4 ms one way
    assert c.offset_s == pytest.approx(-3.0 + 0.004)


def test_offset_follows_the_recent_window() -> None:
    c = ClockSync(window=4)
    c.observe_timestamp(0.0, 1.0)  # an old, smaller delay
    for i in range(4):
        c.observe_timestamp(float(i), i + 2.0)
    assert c.offset_s == pytest.approx(2.0)


@pytest.mark.parametrize("bad", [-1.0, 60_001.0, float("nan")])
def test_rejects_implausible_round_trips(bad: float) -> None:
    with pytest.raises(ValueError):
        ClockSync().observe_rtt(bad)
