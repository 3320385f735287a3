"""One listener's telemetry: what the server measures and what the client reports, turned into
the monitor's figures.

* **Network latency** is measured by the server: half the round trip of its own WebSocket pings
  (`round_trip`, timed by the transport). A client's `rtt_ms` is not trusted for any figure.
* **Clock offset** between client and server (`auralis.monitoring.clock.ClockSync`): the client's
  message timestamps, with the server's round trips.
* **End-to-end latency is client-reported**, so it is bounded by what the server knows. A report
  counts only if the chunk was played after the server queued it, no later than the report's
  arrival, and no later than the connection's buffers allow (the send queue plus the longest
  client buffer); anything else is dropped and counted (`inconsistent`). Each connection adds at
  most one sample a second (a token bucket: 1 a second, 2 at most at once); the rest are dropped
  and counted (`rate`).
* **Client underruns**: cumulative per connection, counted at most once per chunk sent.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Protocol

from auralis.monitoring.clock import MAX_RTT_MS, ClockSync
from auralis.server.protocol import Ping, ProtocolError, Telemetry

log = logging.getLogger("auralis.server.telemetry")

#: Sent chunks remembered for end-to-end latency (played_seq -> production and queue times).
SENT_HISTORY = 1200
#: End-to-end samples a connection may add: this many a second on average...
SAMPLES_PER_S = 1.0
#: ...and at most this many at once (so a report a little early after the last still counts).
SAMPLE_BURST = 2.0
#: Slack for "played no later than the report arrived" (the clock offset's estimate error).
REPORT_SLACK_S = 0.1


class TelemetrySink(Protocol):
    """The monitor's inputs (`auralis.monitoring.metrics.Monitor`)."""

    def observe_network(self, ms: float) -> None: ...

    def observe_end_to_end(self, ms: float) -> None: ...

    def drop_end_to_end(self, reason: str) -> None: ...

    def count_underruns(self, n: int, *, source: str) -> None: ...


class ListenerTelemetry:
    """Per-connection telemetry state (event loop only)."""

    def __init__(
        self,
        sink: TelemetrySink,
        *,
        max_lag_s: float,
        client_id: str = "",
        history: int = SENT_HISTORY,
    ) -> None:
        """`max_lag_s`: the longest a chunk can take from being queued to being played (the
        connection's send queue plus the longest client buffer)."""
        self.sink = sink
        self.max_lag_s = max_lag_s
        self.client_id = client_id
        self.history = history
        self.clock = ClockSync()
        self.chunks_sent = 0
        self._sent: dict[int, tuple[float, float]] = {}  # seq -> (production time, queue time)
        self._sent_order: deque[int] = deque()
        self._tokens = SAMPLE_BURST
        self._tokens_at: float | None = None
        self._client_underruns = 0  # the client's last cumulative figure
        self._client_underruns_counted = 0  # how many of its underruns went into the metrics

    def sent(self, seq: int, timestamp: float, queued_at: float) -> None:
        """Chunk `seq`, produced at `timestamp`, was queued for the client at `queued_at` (both
        server clock, Unix seconds)."""
        self.chunks_sent = seq + 1
        self._sent[seq] = (timestamp, queued_at)
        self._sent_order.append(seq)
        if len(self._sent_order) > self.history:
            self._sent.pop(self._sent_order.popleft(), None)

    def round_trip(self, rtt_s: float) -> None:
        """A round trip of the server's own ping on this connection, timed by the server."""
        rtt_ms = rtt_s * 1000.0
        if not 0.0 <= rtt_ms <= MAX_RTT_MS:  # a ping timeout above a minute: not a latency figure
            return
        self.sink.observe_network(self.clock.observe_rtt(rtt_ms))

    def ping(self, msg: Ping, received: float) -> None:
        """A client `ping`: its timestamp feeds the clock offset; its `rtt_ms` is not used."""
        self.clock.observe_timestamp(msg.timestamp, received)

    def report(self, msg: Telemetry, received: float) -> None:
        """A `telemetry` message; ProtocolError (nothing recorded) for a seq never sent or forgotten."""
        sent = None
        if msg.played_seq is not None:
            sent = self._sent.get(msg.played_seq)
            if sent is None:
                raise ProtocolError(
                    f"played_seq {msg.played_seq} is not among the last {self.history} chunks sent "
                    f"(next seq is {self.chunks_sent})",
                    "played_seq",
                )
        if msg.timestamp is not None:
            self.clock.observe_timestamp(msg.timestamp, received)
        if msg.underruns is not None:
            self._underruns(msg.underruns)
        if sent is not None and msg.played_at is not None:
            self._end_to_end(sent, self.clock.to_server_time(msg.played_at), received)

    def _end_to_end(self, sent: tuple[float, float], played: float, received: float) -> None:
        produced, queued = sent
        if not queued <= played <= min(received + REPORT_SLACK_S, queued + self.max_lag_s):
            self.sink.drop_end_to_end("inconsistent")
            log.debug(
                "inconsistent end-to-end report dropped",
                extra={"client_id": self.client_id, "lag_s": round(played - queued, 3)},
            )
            return
        if not self._take_token(received):
            self.sink.drop_end_to_end("rate")
            return
        self.sink.observe_end_to_end((played - produced) * 1000.0)

    def _take_token(self, now: float) -> bool:
        if self._tokens_at is not None:
            self._tokens = min(SAMPLE_BURST, self._tokens + max(0.0, now - self._tokens_at) * SAMPLES_PER_S)
        self._tokens_at = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True

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
