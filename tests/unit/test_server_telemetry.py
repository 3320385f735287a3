"""Listener telemetry: end-to-end latency from the chunks sent, the clock offset, round trips and
client underruns (bounded by the chunks sent)."""

from __future__ import annotations

import pytest

from auralis.server.protocol import Ping, ProtocolError, Telemetry
from auralis.server.telemetry import ListenerTelemetry


class Sink:
    def __init__(self) -> None:
        self.network: list[float] = []
        self.end_to_end: list[float] = []
        self.underruns: list[tuple[int, str]] = []

    def observe_network(self, ms: float) -> None:
        self.network.append(ms)

    def observe_end_to_end(self, ms: float) -> None:
        self.end_to_end.append(ms)

    def count_underruns(self, n: int, *, source: str) -> None:
        self.underruns.append((n, source))


def report(seq=None, played_at=None, underruns=None, timestamp=None) -> Telemetry:
    return Telemetry(played_seq=seq, played_at=played_at, buffered_ms=None, underruns=underruns, timestamp=timestamp)


def test_end_to_end_is_corrected_by_the_clock_offset() -> None:
    sink = Sink()
    t = ListenerTelemetry(sink)
    # the client's clock is 5 s behind the server's; one-way latency 10 ms (rtt 20 ms)
    t.ping(Ping(timestamp=995.0, rtt_ms=20.0), received=1000.010)
    assert sink.network == [10.0]
    t.sent(0, 1000.0)
    t.report(report(seq=0, played_at=995.3, timestamp=995.3), received=1000.31)
    assert sink.end_to_end == [pytest.approx(300.0, abs=1e-6)]


def test_a_seq_never_sent_is_refused_and_nothing_recorded() -> None:
    sink = Sink()
    t = ListenerTelemetry(sink)
    t.sent(0, 100.0)
    with pytest.raises(ProtocolError) as exc:
        t.report(report(seq=7, played_at=100.2, underruns=1, timestamp=100.2), received=100.2)
    assert exc.value.field == "played_seq"
    assert sink.end_to_end == [] and sink.underruns == []


def test_history_forgets_old_chunks() -> None:
    t = ListenerTelemetry(Sink(), history=3)
    for seq in range(5):
        t.sent(seq, 100.0 + seq * 0.1)
    assert t.chunks_sent == 5
    with pytest.raises(ProtocolError):
        t.report(report(seq=1, played_at=101.0), received=101.0)
    t.report(report(seq=2, played_at=101.0), received=101.0)


def test_implausible_end_to_end_is_skipped() -> None:
    sink = Sink()
    t = ListenerTelemetry(sink)
    t.sent(0, 1000.0)
    t.report(report(seq=0, played_at=999.0, timestamp=1000.0), received=1000.0)  # before it was made
    assert sink.end_to_end == []


def test_client_underruns_are_deltas_capped_by_chunks_sent() -> None:
    sink = Sink()
    t = ListenerTelemetry(sink)
    for seq in range(3):
        t.sent(seq, 100.0)
    t.report(report(underruns=2), received=100.0)
    t.report(report(underruns=2), received=100.0)  # unchanged: nothing new
    t.report(report(underruns=1000), received=100.0)  # capped: 3 chunks sent, 2 counted already
    t.report(report(underruns=1), received=100.0)  # a reset counter: nothing left to count
    assert sink.underruns == [(2, "client"), (1, "client")]
