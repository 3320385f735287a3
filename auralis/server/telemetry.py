"""One listener's telemetry: what it reports (`ping`, `telemetry`) turned into the monitor's figures.

* the clock offset between client and server (`auralis.monitoring.clock.ClockSync`), from the
  timestamps of its messages;
* end-to-end latency: a chunk's production time (remembered when it is sent) to the moment the
  client says it played it, on the server's clock;
* client underruns: cumulative per connection, counted at most once per chunk sent.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Protocol

from auralis.monitoring.clock import ClockSync
from auralis.server.protocol import Ping, ProtocolError, Telemetry

log = logging.getLogger("auralis.server.telemetry")

#: Sent chunks remembered for end-to-end latency (played_seq -> production timestamp).
SENT_HISTORY = 1200
#: End-to-end samples outside this range (ms) are clock trouble, not latency; they are skipped.
MAX_END_TO_END_MS = 60_000.0


class TelemetrySink(Protocol):
    """The monitor's inputs (`auralis.monitoring.metrics.Monitor`)."""

    def observe_network(self, ms: float) -> None: ...

    def observe_end_to_end(self, ms: float) -> None: ...

    def count_underruns(self, n: int, *, source: str) -> None: ...


class ListenerTelemetry:
    """Per-connection telemetry state (event loop only)."""

    def __init__(self, sink: TelemetrySink, *, client_id: str = "", history: int = SENT_HISTORY) -> None:
        self.sink = sink
        self.client_id = client_id
        self.history = history
        self.clock = ClockSync()
        self.chunks_sent = 0
        self._sent: dict[int, float] = {}
        self._sent_order: deque[int] = deque()
        self._client_underruns = 0  # the client's last cumulative figure
        self._client_underruns_counted = 0  # how many of its underruns went into the metrics

    def sent(self, seq: int, timestamp: float) -> None:
        """Chunk `seq`, produced at `timestamp` (server clock), was queued for the client."""
        self.chunks_sent = seq + 1
        self._sent[seq] = timestamp
        self._sent_order.append(seq)
        if len(self._sent_order) > self.history:
            self._sent.pop(self._sent_order.popleft(), None)

    def ping(self, msg: Ping, received: float) -> None:
        self.clock.observe_timestamp(msg.timestamp, received)
        if msg.rtt_ms is not None:
            self.sink.observe_network(self.clock.observe_rtt(msg.rtt_ms))

    def report(self, msg: Telemetry, received: float) -> None:
        """A `telemetry` message; ProtocolError (nothing recorded) for a seq never sent or forgotten."""
        chunk_ts = None
        if msg.played_seq is not None:
            chunk_ts = self._sent.get(msg.played_seq)
            if chunk_ts is None:
                raise ProtocolError(
                    f"played_seq {msg.played_seq} is not among the last {self.history} chunks sent "
                    f"(next seq is {self.chunks_sent})",
                    "played_seq",
                )
        if msg.timestamp is not None:
            self.clock.observe_timestamp(msg.timestamp, received)
        if msg.underruns is not None:
            self._underruns(msg.underruns)
        if chunk_ts is not None and msg.played_at is not None:
            e2e_ms = (self.clock.to_server_time(msg.played_at) - chunk_ts) * 1000.0
            if 0.0 <= e2e_ms <= MAX_END_TO_END_MS:
                self.sink.observe_end_to_end(e2e_ms)
            else:
                log.debug("implausible end-to-end latency skipped", extra={"client_id": self.client_id, "ms": e2e_ms})

    def _underruns(self, reported: int) -> None:
        # cumulative per connection; a smaller figure means the client reset its counter.
        # Playback stops at most once per chunk received, so a connection's reported
        # underruns count up to the chunks sent to it: a client cannot inflate the figure.
        delta = reported - self._client_underruns if reported >= self._client_underruns else reported
        self._client_underruns = reported
        delta = min(delta, self.chunks_sent - self._client_underruns_counted)
        if delta > 0:
            self._client_underruns_counted += delta
            self.sink.count_underruns(delta, source="client")
