"""Listener telemetry: network latency from the server's own round trips, end-to-end latency
bounded by what the server sent (inconsistent reports dropped and counted, at most one sample a
second per connection), the clock offset, and client underruns bounded by the chunks sent."""

from __future__ import annotations

import pytest

from auralis.server.protocol import Ping, ProtocolError, Telemetry
from auralis.server.telemetry import ListenerTelemetry

MAX_LAG_S = 7.5


class Sink:
    def __init__(self) -> None:
        self.network: list[float] = []
        self.end_to_end: list[float] = []
        self.dropped: list[str] = []
        self.underruns: list[tuple[int, str]] = []

    def observe_network(self, ms: float) -> None:
        self.network.append(ms)

    def observe_end_to_end(self, ms: float) -> None:
        self.end_to_end.append(ms)

    def drop_end_to_end(self, reason: str) -> None:
        self.dropped.append(reason)

    def count_underruns(self, n: int, *, source: str) -> None:
        self.underruns.append((n, source))


def report(seq=None, played_at=None, underruns=None, timestamp=None) -> Telemetry:
    return Telemetry(played_seq=seq, played_at=played_at, buffered_ms=None, underruns=underruns, timestamp=timestamp)


def make(**kw) -> tuple[ListenerTelemetry, Sink]:
    sink = Sink()
    return ListenerTelemetry(sink, max_lag_s=MAX_LAG_S, **kw), sink


def test_network_latency_is_the_servers_round_trip_not_the_clients_claim() -> None:
    t, sink = make()
    t.ping(Ping(timestamp=100.0, rtt_ms=30_000.0), received=100.001)  # a forged round trip
    assert sink.network == []
    t.round_trip(0.020)  # the server's own ping, 20 ms there and back
    assert sink.network == [pytest.approx(10.0)]
    t.round_trip(90.0)  # only possible with a ping timeout above a minute: not a latency
    assert sink.network == [pytest.approx(10.0)]


def test_end_to_end_is_corrected_by_the_clock_offset() -> None:
    t, sink = make()
    # the client's clock is 5 s behind the server's; one-way latency 10 ms (server round trip 20 ms)
    t.round_trip(0.020)
    t.ping(Ping(timestamp=995.0, rtt_ms=None), received=1000.010)
    t.sent(0, 1000.0, 1000.05)
    t.report(report(seq=0, played_at=995.3, timestamp=995.3), received=1000.31)
    assert sink.end_to_end == [pytest.approx(300.0, abs=1e-6)]
    assert sink.dropped == []


@pytest.mark.parametrize(
    ("played_at", "received", "why"),
    [
        (1000.04, 1000.5, "played before it was sent"),
        (1000.0, 1000.5, "played when produced, before it was sent"),
        (1060.0, 1060.1, "played 59.5 s after production"),
        (1000.05 + MAX_LAG_S + 0.2, 1008.0, "held longer than the connection's buffers allow"),
        (1002.0, 1001.0, "played after the report arrived"),
    ],
)
def test_inconsistent_reports_are_dropped_and_counted(played_at: float, received: float, why: str) -> None:
    t, sink = make()
    t.sent(0, 1000.0, 1000.05)  # produced at 1000.0, queued at 1000.05
    t.report(report(seq=0, played_at=played_at, timestamp=received), received=received)
    assert sink.end_to_end == [], why
    assert sink.dropped == ["inconsistent"], why


def test_the_longest_consistent_hold_counts() -> None:
    t, sink = make()
    t.sent(0, 1000.0, 1000.05)
    t.report(report(seq=0, played_at=1000.05 + MAX_LAG_S), received=1000.05 + MAX_LAG_S + 0.01)
    assert sink.end_to_end == [pytest.approx((0.05 + MAX_LAG_S) * 1000.0)]


def test_a_forged_clock_offset_cannot_carry_a_report_outside_the_bounds() -> None:
    t, sink = make()
    # pings claiming the client is 30 s ahead move the offset, not the bounds
    t.ping(Ping(timestamp=1030.0, rtt_ms=None), received=1000.0)
    t.sent(0, 1000.0, 1000.05)
    t.report(report(seq=0, played_at=1030.3), received=1000.3)  # 0.3 s on the forged clock
    t.report(report(seq=0, played_at=1060.0), received=1000.4)  # "played" 30 s after the report
    # the first is consistent once converted (a client 30 s ahead is possible); the second is not
    assert sink.end_to_end == [pytest.approx(300.0)]
    assert sink.dropped == ["inconsistent"]


def test_at_most_one_sample_a_second_on_average() -> None:
    t, sink = make()
    for seq in range(200):
        t.sent(seq, 1000.0 + seq * 0.1, 1000.0 + seq * 0.1)
    # a flood: 10 reports a second for 10 s, each consistent
    for i in range(100):
        now = 1001.0 + i * 0.1
        seq = int((now - 0.2 - 1000.0) / 0.1)
        t.report(report(seq=seq, played_at=now - 0.01), received=now)
    assert 10 <= len(sink.end_to_end) <= 12  # 1 a second, plus the burst of 2
    assert sink.dropped.count("rate") == 100 - len(sink.end_to_end)


def test_a_jittery_once_a_second_reporter_keeps_every_sample() -> None:
    t, sink = make()
    for seq in range(300):
        t.sent(seq, 1000.0 + seq * 0.1, 1000.0 + seq * 0.1)
    now = 1001.0
    for i in range(25):
        now += 1.0 + (0.03 if i % 2 else -0.03)  # setInterval(1000) with jitter
        seq = int((now - 0.3 - 1000.0) / 0.1)
        t.report(report(seq=seq, played_at=now - 0.1), received=now)
    assert len(sink.end_to_end) == 25 and sink.dropped == []


def test_a_seq_never_sent_is_refused_and_nothing_recorded() -> None:
    t, sink = make()
    t.sent(0, 100.0, 100.0)
    with pytest.raises(ProtocolError) as exc:
        t.report(report(seq=7, played_at=100.2, underruns=1, timestamp=100.2), received=100.2)
    assert exc.value.field == "played_seq"
    assert sink.end_to_end == [] and sink.underruns == [] and sink.dropped == []


def test_history_forgets_old_chunks() -> None:
    t, _ = make(history=3)
    for seq in range(5):
        t.sent(seq, 100.0 + seq * 0.1, 100.0 + seq * 0.1)
    assert t.chunks_sent == 5
    with pytest.raises(ProtocolError):
        t.report(report(seq=1, played_at=101.0), received=101.0)
    t.report(report(seq=2, played_at=101.0), received=101.0)


def test_client_underruns_are_deltas_capped_by_chunks_sent() -> None:
    t, sink = make()
    for seq in range(3):
        t.sent(seq, 100.0, 100.0)
    t.report(report(underruns=2), received=100.0)
    t.report(report(underruns=2), received=100.0)  # unchanged: nothing new
    t.report(report(underruns=1000), received=100.0)  # capped: 3 chunks sent, 2 counted already
    t.report(report(underruns=1), received=100.0)  # a reset counter: nothing left to count
    assert sink.underruns == [(2, "client"), (1, "client")]
