"""The figures behind `/api/status`, `/api/metrics` and the Prometheus `/metrics`.

Other layers feed this module (it imports nothing from them): the engine reports each chunk's
render time, the WebSocket sessions report round trips, end-to-end latencies, underruns,
overflows and disconnects, and a `StatusProbe` answers the live questions (connections, ring
depth, SoundFont and synthesis state). Every figure is read live at request or scrape time,
so it is never older than the request itself.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterator
from typing import Protocol

import psutil
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client import GCCollector, PlatformCollector, ProcessCollector

from auralis.monitoring.models import (
    GCStats,
    LatencyHistogram,
    PerformanceMetrics,
    SystemStatus,
    utc_now,
)
from auralis.monitoring.window import RollingWindow

SYNTHESIS_BUCKETS_MS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
NETWORK_BUCKETS_MS = (0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000)
END_TO_END_BUCKETS_MS = (50, 100, 200, 300, 400, 500, 600, 800, 1000, 1500, 2000, 5000)

PROMETHEUS_CONTENT_TYPE = CONTENT_TYPE_LATEST
#: Why a client's end-to-end report is not counted (labels of auralis_end_to_end_samples_dropped).
END_TO_END_DROP_REASONS = ("inconsistent", "rate")


class StatusProbe(Protocol):
    """Live state the server knows and the monitor reports."""

    def active_connections(self) -> int: ...

    def buffer_depth(self) -> int: ...

    def soundfont_loaded(self) -> bool: ...

    def synthesis_active(self) -> bool: ...


class Monitor:
    """Rolling latency windows, event counters and the Prometheus registry of one server."""

    def __init__(
        self,
        probe: StatusProbe,
        *,
        device: str = "CPU",
        window_samples: int = 1000,
        window_age_s: float = 300.0,
    ) -> None:
        self._probe = probe
        self._device = device
        self._process = psutil.Process()
        self._process_started = self._process.create_time()
        self.synthesis = RollingWindow(window_samples, window_age_s)
        self.network = RollingWindow(window_samples, window_age_s)
        self.end_to_end = RollingWindow(window_samples, window_age_s)
        self._lock = threading.Lock()
        self._server_underruns = 0
        self._client_underruns = 0
        self._overflows = 0
        self._disconnects = 0

        reg = self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=reg)
        PlatformCollector(registry=reg)
        GCCollector(registry=reg)
        self._h_synthesis = Histogram(
            "auralis_synthesis_latency_ms",
            "FluidSynth synthesis latency: time to render one 100 ms chunk",
            buckets=SYNTHESIS_BUCKETS_MS,
            registry=reg,
        )
        self._h_network = Histogram(
            "auralis_network_latency_ms",
            "One-way network latency: half the round trip of the server's own WebSocket pings",
            buckets=NETWORK_BUCKETS_MS,
            registry=reg,
        )
        self._h_end_to_end = Histogram(
            "auralis_end_to_end_latency_ms",
            "Client-reported end-to-end latency: chunk production to playback as the client reports "
            "it, clock-offset corrected; at most one sample a second per connection, reports "
            "inconsistent with what the server sent dropped",
            buckets=END_TO_END_BUCKETS_MS,
            registry=reg,
        )
        self._c_underruns = Counter(
            "auralis_buffer_underruns",
            "Buffer underruns: server (chunk due, none ready) and client-reported",
            ["source"],
            registry=reg,
        )
        for source in ("server", "client"):
            self._c_underruns.labels(source=source)
        self._c_e2e_dropped = Counter(
            "auralis_end_to_end_samples_dropped",
            "Client end-to-end reports not counted: inconsistent (a chunk played before it was "
            "sent, after the report, or later than the connection's buffers allow) or rate (over "
            "one sample a second per connection)",
            ["reason"],
            registry=reg,
        )
        for reason in END_TO_END_DROP_REASONS:
            self._c_e2e_dropped.labels(reason=reason)
        self._c_overflows = Counter(
            "auralis_buffer_overflows", "Ring-buffer full events", registry=reg
        )
        self._c_disconnects = Counter(
            "auralis_disconnects", "WebSocket disconnections", registry=reg
        )
        gauges = {
            "auralis_memory_usage_mb": ("Process memory usage (RSS, MiB)", self.memory_usage_mb),
            "auralis_uptime_seconds": ("Seconds since the process started", self.uptime_sec),
            "auralis_active_connections": (
                "Open WebSocket connections",
                lambda: probe.active_connections(),
            ),
            "auralis_buffer_depth": (
                "Lowest ring-buffer depth among active streams (chunks)",
                lambda: probe.buffer_depth(),
            ),
            "auralis_soundfont_loaded": (
                "1 when the SoundFont is loaded",
                lambda: float(probe.soundfont_loaded()),
            ),
            "auralis_synthesis_active": (
                "1 while a listener stream renders without failure",
                lambda: float(probe.synthesis_active()),
            ),
        }
        for name, (doc, fn) in gauges.items():
            Gauge(name, doc, registry=reg).set_function(fn)

    # --- feeding -----------------------------------------------------------------------------

    def observe_synthesis(self, ms: float) -> None:
        """One chunk's render time (called from render threads)."""
        self.synthesis.add(ms)
        self._h_synthesis.observe(ms)

    def observe_network(self, ms: float) -> None:
        self.network.add(ms)
        self._h_network.observe(ms)

    def observe_end_to_end(self, ms: float) -> None:
        self.end_to_end.add(ms)
        self._h_end_to_end.observe(ms)

    def drop_end_to_end(self, reason: str) -> None:
        """A client end-to-end report that was not counted, and why."""
        if reason not in END_TO_END_DROP_REASONS:
            raise ValueError(f"unknown drop reason {reason!r}")
        self._c_e2e_dropped.labels(reason=reason).inc()

    def count_underruns(self, n: int, *, source: str) -> None:
        if n < 0:
            raise ValueError("underrun count must not be negative")
        if source not in ("server", "client"):
            raise ValueError(f"unknown underrun source {source!r}")
        with self._lock:
            if source == "server":
                self._server_underruns += n
            else:
                self._client_underruns += n
        self._c_underruns.labels(source=source).inc(n)

    def count_overflows(self, n: int) -> None:
        if n < 0:
            raise ValueError("overflow count must not be negative")
        with self._lock:
            self._overflows += n
        self._c_overflows.inc(n)

    def count_disconnect(self) -> None:
        with self._lock:
            self._disconnects += 1
        self._c_disconnects.inc()

    # --- reading -----------------------------------------------------------------------------

    def uptime_sec(self) -> float:
        return max(0.0, time.time() - self._process_started)

    def memory_usage_mb(self) -> float:
        return self._process.memory_info().rss / (1024 * 1024)

    @staticmethod
    def gc_collections() -> GCStats:
        stats = gc.get_stats()
        return GCStats(**{f"gen{i}": int(s["collections"]) for i, s in enumerate(stats[:3])})

    def status(self) -> SystemStatus:
        p = self._probe
        return SystemStatus(
            uptime_sec=round(self.uptime_sec(), 3),
            active_connections=p.active_connections(),
            buffer_depth=p.buffer_depth(),
            device=self._device,
            soundfont_loaded=p.soundfont_loaded(),
            synthesis_active=p.synthesis_active(),
            timestamp=utc_now(),
        )

    def metrics(self) -> PerformanceMetrics:
        with self._lock:
            underruns = self._server_underruns + self._client_underruns
            overflows, disconnects = self._overflows, self._disconnects
        return PerformanceMetrics(
            synthesis_latency_ms=LatencyHistogram(**self.synthesis.summary()),
            network_latency_ms=LatencyHistogram(**self.network.summary()),
            end_to_end_latency_ms=LatencyHistogram(**self.end_to_end.summary()),
            buffer_underruns=underruns,
            buffer_overflows=overflows,
            disconnects=disconnects,
            memory_usage_mb=round(self.memory_usage_mb(), 2),
            gc_collections=self.gc_collections(),
            timestamp=utc_now(),
        )

    def add_listener_counts(self, counts: Callable[[], dict[tuple[str, str], int]]) -> None:
        """Export ``auralis_station_listeners{station, transport}``, read from ``counts()`` at
        each scrape (``{(station, transport): listeners}``)."""

        class _Listeners:
            def collect(self) -> Iterator[GaugeMetricFamily]:
                family = GaugeMetricFamily(
                    "auralis_station_listeners",
                    "Listeners of each station by transport (ws_json, ws_pcm, ws_opus, http_ogg, http_mp3)",
                    labels=["station", "transport"],
                )
                for (station, transport), n in sorted(counts().items()):
                    family.add_metric([station, transport], n)
                yield family

        self.registry.register(_Listeners())

    def prometheus(self) -> bytes:
        return generate_latest(self.registry)
