"""The figures behind `/api/status`, `/api/metrics` and the Prometheus `/metrics`.

Other layers feed this module (it imports nothing from them): the engine reports each chunk's
render time, the WebSocket sessions report round trips, end-to-end latencies, underruns,
overflows and disconnects, and a `StatusProbe` answers the live questions (connections, ring
depth, SoundFont and synthesis state). Every figure is read live at request or scrape time,
so it is never older than the request itself.

**Several workers** (`auralis serve --workers N`): given a `WorkerBoard`, the monitor publishes
its worker's figures there (`publish`, every quarter second) and answers for the whole server:
its own figures live, the other workers' from the board (at most one publication period old),
combined as `auralis.monitoring.merge` says.
"""

from __future__ import annotations

import gc
import itertools
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
import numpy as np

from auralis.monitoring.board import WorkerBoard
from auralis.monitoring.memory import ResidentMemory
from auralis.monitoring.merge import families_of, merge_families, merge_status, sum_counts, window_values

from auralis.monitoring.models import (
    GCStats,
    LatencyHistogram,
    PerformanceMetrics,
    SystemStatus,
    utc_now,
)
from auralis.monitoring.window import RollingWindow, summarize

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
        board: WorkerBoard | None = None,
    ) -> None:
        self._probe = probe
        self.board = board
        self._device = device
        self._process = psutil.Process()
        self._process_started = self._process.create_time()
        self._memory = ResidentMemory()  # RSS with one pread: the loop gives up the GIL once
        self.synthesis = RollingWindow(window_samples, window_age_s)
        self.network = RollingWindow(window_samples, window_age_s)
        self.end_to_end = RollingWindow(window_samples, window_age_s)
        self._lock = threading.Lock()
        self._server_underruns = 0
        self._client_underruns = 0
        self._overflows = 0
        self._disconnects = 0
        self._listener_counts: Callable[[], dict[tuple[str, str], int]] = dict

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
        """Seconds since the server started (with workers: the supervisor, not this worker)."""
        started = self.board.started if self.board is not None else self._process_started
        return max(0.0, time.time() - started)

    def memory_usage_mb(self) -> float:
        """This process's resident memory, MiB (the server's, with workers: `metrics`)."""
        return self._memory.rss() / (1024 * 1024)

    # --- several workers -------------------------------------------------------------------------

    def _local_status(self) -> dict[str, object]:
        p = self._probe
        stream_count = getattr(p, "stream_count", None)
        depth = p.buffer_depth()
        return {
            "active_connections": p.active_connections(),
            "buffer_depth": depth,
            "streams": stream_count() if stream_count is not None else int(depth > 0),
            "soundfont_loaded": p.soundfont_loaded(),
            "synthesis_active": p.synthesis_active(),
        }

    def _local_counts(self) -> dict[str, int]:
        with self._lock:
            return {
                "server_underruns": self._server_underruns,
                "client_underruns": self._client_underruns,
                "overflows": self._overflows,
                "disconnects": self._disconnects,
            }

    def _windows(self) -> dict[str, RollingWindow]:
        return {"synthesis": self.synthesis, "network": self.network, "end_to_end": self.end_to_end}

    def _peers(self, *, families: bool = False) -> list[tuple[dict, dict[str, np.ndarray]]]:
        board = self.board
        return [] if board is None else [peer for peer in board.peers(families=families) if peer is not None]

    def publish(self) -> None:
        """Leave this worker's figures on the board (no-op without one)."""
        if self.board is None:
            return
        gc_stats = self.gc_collections()
        figures = {
            "status": self._local_status(),
            "counters": self._local_counts(),
            "memory_bytes": self._memory.rss(),
            "gc": [gc_stats.gen0, gc_stats.gen1, gc_stats.gen2],
            "listeners": [[st, t, n] for (st, t), n in self._listener_counts().items() if n],
            "families": families_of(self.registry.collect()),
        }
        windows = {name: _as_array(w.pairs()) for name, w in self._windows().items()}
        self.board.publish(figures, windows)

    def peer_listener_counts(self) -> dict[tuple[str, str], int]:
        """``{(station, transport): listeners}`` on the other workers (empty without a board)."""
        total: dict[tuple[str, str], int] = {}
        for head, _ in self._peers():
            for station, transport, n in head.get("listeners", []):
                total[(station, transport)] = total.get((station, transport), 0) + int(n)
        return total

    def _server_status(self, peers: list[tuple[dict, dict[str, np.ndarray]]]) -> dict[str, object]:
        own = self._local_status()
        if self.board is None:
            return own
        complete = len(peers) == self.board.workers - 1
        return merge_status([own] + [head["status"] for head, _ in peers], complete=complete)

    @staticmethod
    def gc_collections() -> GCStats:
        stats = gc.get_stats()
        return GCStats(**{f"gen{i}": int(s["collections"]) for i, s in enumerate(stats[:3])})

    def status(self) -> SystemStatus:
        s = self._server_status(self._peers())
        return SystemStatus(
            uptime_sec=round(self.uptime_sec(), 3),
            active_connections=s["active_connections"],
            buffer_depth=s["buffer_depth"],
            device=self._device,
            soundfont_loaded=s["soundfont_loaded"],
            synthesis_active=s["synthesis_active"],
            timestamp=utc_now(),
        )

    def metrics(self) -> PerformanceMetrics:
        peers = self._peers()
        counts = sum_counts([self._local_counts()] + [head["counters"] for head, _ in peers])
        gc_stats = self.gc_collections()
        rss = self._memory.rss()
        if peers:
            gens = [gc_stats.gen0, gc_stats.gen1, gc_stats.gen2]
            for head, _ in peers:
                gens = [a + int(b) for a, b in zip(gens, head["gc"], strict=True)]
                rss += int(head["memory_bytes"])
            gc_stats = GCStats(gen0=gens[0], gen1=gens[1], gen2=gens[2])

        def latency(name: str, window: RollingWindow) -> LatencyHistogram:
            if not peers:
                return LatencyHistogram(**window.summary())
            values = window.values() + window_values([w[name] for _, w in peers], window.cutoff())
            return LatencyHistogram(**summarize(values))

        windows = self._windows()
        return PerformanceMetrics(
            synthesis_latency_ms=latency("synthesis", windows["synthesis"]),
            network_latency_ms=latency("network", windows["network"]),
            end_to_end_latency_ms=latency("end_to_end", windows["end_to_end"]),
            buffer_underruns=counts["server_underruns"] + counts["client_underruns"],
            buffer_overflows=counts["overflows"],
            disconnects=counts["disconnects"],
            memory_usage_mb=round(rss / (1024 * 1024), 2),
            gc_collections=gc_stats,
            timestamp=utc_now(),
        )

    def add_listener_counts(self, counts: Callable[[], dict[tuple[str, str], int]]) -> None:
        """Export ``auralis_station_listeners{station, transport}``, read from ``counts()`` at
        each scrape (``{(station, transport): listeners}``); with workers, each worker's counts
        go on the board too (`peer_listener_counts`)."""
        self._listener_counts = counts

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
        if self.board is None:
            return generate_latest(self.registry)
        peers = self._peers(families=True)
        s = self._server_status(peers)
        rss = self._memory.rss() + sum(int(head["memory_bytes"]) for head, _ in peers)
        merged = merge_families(
            [families_of(self.registry.collect())] + [head["families"] for head, _ in peers],
            replace={
                "auralis_active_connections": float(s["active_connections"]),
                "auralis_buffer_depth": float(s["buffer_depth"]),
                "auralis_soundfont_loaded": float(bool(s["soundfont_loaded"])),
                "auralis_synthesis_active": float(bool(s["synthesis_active"])),
                "auralis_memory_usage_mb": rss / (1024 * 1024),
                "auralis_uptime_seconds": self.uptime_sec(),
            },
        )
        return generate_latest(_Collected(merged))  # type: ignore[arg-type]


def _as_array(pairs: list[tuple[float, float]]) -> np.ndarray:
    """``(time, value)`` pairs as an (n, 2) float64 array (without numpy's per-tuple path)."""
    flat = np.fromiter(itertools.chain.from_iterable(pairs), dtype=np.float64, count=2 * len(pairs))
    return flat.reshape(-1, 2)


class _Collected:
    """Metric families already collected, in the shape `generate_latest` reads."""

    def __init__(self, families: list) -> None:
        self._families = families

    def collect(self) -> Iterator:
        return iter(self._families)
