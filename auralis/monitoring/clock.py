"""Per-connection clock offset and network latency, from the protocol's client timestamps.

The server sees only the client's clock in the messages it receives, so it measures:

* **delay samples** ``d = server_receive_time - client_timestamp`` from every client message
  that carries a send `timestamp` (`ping`, `telemetry`). Each is ``offset + one_way_latency
  + queuing``; the smallest recent one has the least queuing (the NTP "minimum filter").
* **round trips** reported by the client: a `ping` may carry ``rtt_ms``, the round trip the
  client measured for its previous ping -> pong pair (its own clock on both ends, so no
  offset is involved). The one-way network latency is half of it (the protocol's
  "half the round trip").

The clock offset (server minus client) is then ``min(d) - median(rtt) / 2``. Without any round
trip it is ``min(d)``, which overstates the offset, and therefore end-to-end latency, by at
most the one-way latency (microseconds on loopback, a few milliseconds on a LAN).
"""

from __future__ import annotations

import math
import statistics
from collections import deque

#: Plausibility bounds: samples outside them are refused as client errors.
MAX_RTT_MS = 60_000.0


class ClockSync:
    """Clock offset estimator for one connection (event-loop only, not thread-safe)."""

    def __init__(self, window: int = 32) -> None:
        self._delays: deque[float] = deque(maxlen=window)
        self._rtts: deque[float] = deque(maxlen=window)

    def observe_timestamp(self, client_timestamp: float, server_receive_time: float) -> None:
        """Record one message's send time (client clock) and arrival time (server clock)."""
        if not (math.isfinite(client_timestamp) and math.isfinite(server_receive_time)):
            raise ValueError("timestamps must be finite")
        self._delays.append(server_receive_time - client_timestamp)

    def observe_rtt(self, rtt_ms: float) -> float:
        """Record a client-measured round trip; returns the one-way latency estimate (ms)."""
        if not math.isfinite(rtt_ms) or not 0.0 <= rtt_ms <= MAX_RTT_MS:
            raise ValueError(f"rtt_ms must be between 0 and {MAX_RTT_MS:g}, got {rtt_ms!r}")
        self._rtts.append(rtt_ms / 1000.0)
        return rtt_ms / 2.0

    @property
    def one_way_s(self) -> float:
        """Median one-way network latency in seconds (0 until the client reports a round trip)."""
        return statistics.median(self._rtts) / 2.0 if self._rtts else 0.0

    @property
    def offset_s(self) -> float | None:
        """Server clock minus client clock, in seconds; None before any timestamped message."""
        if not self._delays:
            return None
        return min(self._delays) - self.one_way_s

    def to_server_time(self, client_time: float) -> float:
        """A client-clock instant on the server clock (unchanged while the offset is unknown)."""
        offset = self.offset_s
        return client_time + (offset if offset is not None else 0.0)
