"""The monitor: live status figures, counters, memory, GC and the Prometheus exposition."""

from __future__ import annotations

import gc
import re
import time
from dataclasses import dataclass

import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from auralis.monitoring.metrics import Monitor

ISO_MS_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


@dataclass
class Probe:
    connections: int = 0
    depth: int = 0
    loaded: bool = False
    active: bool = False

    def active_connections(self) -> int:
        return self.connections

    def buffer_depth(self) -> int:
        return self.depth

    def soundfont_loaded(self) -> bool:
        return self.loaded

    def synthesis_active(self) -> bool:
        return self.active


def families(monitor: Monitor) -> dict:
    return {f.name: f for f in text_string_to_metric_families(monitor.prometheus().decode())}


def test_status_reads_the_probe_live() -> None:
    probe = Probe()
    m = Monitor(probe)
    s = m.status()
    assert (s.active_connections, s.buffer_depth, s.soundfont_loaded, s.synthesis_active) == (0, 0, False, False)
    assert s.device == "CPU"
    probe.connections, probe.depth, probe.loaded, probe.active = 3, 7, True, True
    s = m.status()
    assert (s.active_connections, s.buffer_depth, s.soundfont_loaded, s.synthesis_active) == (3, 7, True, True)


def test_uptime_is_since_process_start() -> None:
    m = Monitor(Probe())
    expected = time.time() - psutil.Process().create_time()
    first = m.status().uptime_sec
    assert first == pytest.approx(expected, abs=1.0)
    time.sleep(0.05)
    assert m.status().uptime_sec > first


def test_status_json_timestamp_is_iso_utc_milliseconds() -> None:
    data = Monitor(Probe()).status().model_dump(mode="json")
    assert ISO_MS_Z.match(data["timestamp"]), data["timestamp"]


def test_memory_is_process_rss() -> None:
    m = Monitor(Probe())
    rss = psutil.Process().memory_info().rss / 2**20
    assert m.metrics().memory_usage_mb == pytest.approx(rss, rel=0.1)
    ballast = bytearray(64 * 2**20)
    ballast[:: 4096] = b"x" * len(ballast[::4096])  # touch every page
    assert m.metrics().memory_usage_mb > rss + 50
    del ballast


def test_gc_collections_come_from_the_gc_module() -> None:
    m = Monitor(Probe())
    before = m.metrics().gc_collections
    gc.collect()
    after = m.metrics().gc_collections
    assert after.gen2 == before.gen2 + 1
    assert after.gen2 == gc.get_stats()[2]["collections"]


def test_counters_and_histograms() -> None:
    m = Monitor(Probe())
    for ms in (10.0, 20.0, 30.0, 40.0):
        m.observe_synthesis(ms)
    m.observe_network(5.0)
    m.observe_end_to_end(400.0)
    m.count_underruns(2, source="server")
    m.count_underruns(3, source="client")
    m.count_overflows(1)
    m.count_disconnect()
    data = m.metrics().model_dump(mode="json")
    assert data["synthesis_latency_ms"] == {"avg": 25.0, "p50": 25.0, "p95": 38.5, "p99": 39.7, "samples": 4}
    assert data["network_latency_ms"]["samples"] == 1 and data["network_latency_ms"]["p50"] == 5.0
    assert data["end_to_end_latency_ms"]["avg"] == 400.0
    assert (data["buffer_underruns"], data["buffer_overflows"], data["disconnects"]) == (5, 1, 1)
    assert ISO_MS_Z.match(data["timestamp"])
    with pytest.raises(ValueError):
        m.count_underruns(-1, source="server")
    with pytest.raises(ValueError):
        m.count_underruns(1, source="elsewhere")


def test_prometheus_exposition() -> None:
    probe = Probe(connections=2, depth=5, loaded=True, active=True)
    m = Monitor(probe)
    for ms in (10.0, 60.0, 120.0):
        m.observe_synthesis(ms)
    m.observe_end_to_end(450.0)
    m.count_underruns(4, source="client")
    f = families(m)
    synth = {(s.name, s.labels.get("le")): s.value for s in f["auralis_synthesis_latency_ms"].samples}
    assert f["auralis_synthesis_latency_ms"].type == "histogram"
    assert synth[("auralis_synthesis_latency_ms_bucket", "50.0")] == 1
    assert synth[("auralis_synthesis_latency_ms_bucket", "100.0")] == 2
    assert synth[("auralis_synthesis_latency_ms_bucket", "+Inf")] == 3
    assert synth[("auralis_synthesis_latency_ms_sum", None)] == 190.0
    assert synth[("auralis_synthesis_latency_ms_count", None)] == 3
    assert f["auralis_memory_usage_mb"].type == "gauge"
    assert f["auralis_memory_usage_mb"].samples[0].value == pytest.approx(m.memory_usage_mb(), rel=0.1)
    assert f["auralis_active_connections"].samples[0].value == 2
    assert f["auralis_buffer_depth"].samples[0].value == 5
    assert f["auralis_end_to_end_latency_ms"].type == "histogram"
    assert "auralis_network_latency_ms" in f
    underruns = {s.labels["source"]: s.value for s in f["auralis_buffer_underruns"].samples if s.name.endswith("_total")}
    assert underruns == {"server": 0.0, "client": 4.0}
    assert "process_resident_memory_bytes" in {s.name for fam in f.values() for s in fam.samples}
    assert "python_gc_objects_collected" in f
    assert "python_info" in f
    for fam in f.values():  # no per-client label anywhere
        for sample in fam.samples:
            assert not {"client", "client_id", "peer"} & set(sample.labels)


def test_each_monitor_has_its_own_registry() -> None:
    a, b = Monitor(Probe()), Monitor(Probe())
    a.observe_synthesis(5.0)
    counts = {
        name: [s.value for s in families(m)["auralis_synthesis_latency_ms"].samples if s.name.endswith("_count")]
        for name, m in (("a", a), ("b", b))
    }
    assert counts == {"a": [1.0], "b": [0.0]}
    assert b.metrics().synthesis_latency_ms.samples == 0


def test_workers_on_one_board_answer_for_the_whole_server(tmp_path) -> None:
    from auralis.monitoring.board import WorkerBoard

    started = time.time() - 100.0
    probes = [Probe(connections=2, loaded=True), Probe(connections=3, depth=6, loaded=True)]
    monitors = [Monitor(p, board=WorkerBoard(tmp_path, i, 2, started=started)) for i, p in enumerate(probes)]
    assert monitors[0].status().soundfont_loaded is False  # worker 1 has not published yet
    monitors[0].count_disconnect()
    monitors[1].count_disconnect()
    monitors[1].count_underruns(4, source="server")
    monitors[0].observe_synthesis(1.0)
    for v in (10.0, 20.0, 30.0):
        monitors[1].observe_synthesis(v)
    for m in monitors:
        m.publish()
    for m in monitors:  # whichever worker answers
        s = m.status()
        assert (s.active_connections, s.buffer_depth, s.soundfont_loaded) == (5, 6, True)
        assert s.uptime_sec == pytest.approx(100.0, abs=2.0)
        metrics = m.metrics()
        assert (metrics.disconnects, metrics.buffer_underruns) == (2, 4)
        assert metrics.synthesis_latency_ms.samples == 4 and metrics.synthesis_latency_ms.p50 == 15.0
        fam = families(m)
        assert fam["auralis_active_connections"].samples[0].value == 5
        assert fam["auralis_disconnects"].samples[0].value == 2
        hist = {s.name: s.value for s in fam["auralis_synthesis_latency_ms"].samples if not s.labels}
        assert hist["auralis_synthesis_latency_ms_count"] == 4
    probes[0].connections = 7  # the answering worker's own figures are live
    assert monitors[0].status().active_connections == 10
