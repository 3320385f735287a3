"""How the workers' figures combine into the server's."""

from __future__ import annotations

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from auralis.monitoring.merge import families_of, merge_families, merge_status, sum_counts, window_values


def _status(conn: int, depth: int, streams: int, loaded: bool = True, active: bool = False) -> dict:
    return {"active_connections": conn, "buffer_depth": depth, "streams": streams,
            "soundfont_loaded": loaded, "synthesis_active": active}


def test_status_adds_listeners_and_takes_the_lowest_depth_among_workers_with_streams() -> None:
    s = merge_status([_status(3, 0, 0), _status(5, 7, 2, active=True), _status(1, 4, 1)], complete=True)
    assert s == {"active_connections": 9, "buffer_depth": 4, "streams": 3,
                 "soundfont_loaded": True, "synthesis_active": True}
    assert merge_status([_status(2, 0, 0), _status(0, 0, 0)], complete=True)["buffer_depth"] == 0


def test_soundfont_counts_as_loaded_only_when_every_worker_has_it() -> None:
    assert not merge_status([_status(0, 0, 0), _status(0, 0, 0, loaded=False)], complete=True)["soundfont_loaded"]
    assert not merge_status([_status(0, 0, 0)], complete=False)["soundfont_loaded"]  # one not there yet


def test_counters_add_up_and_windows_are_the_union_of_fresh_samples() -> None:
    assert sum_counts([{"a": 1, "b": 2}, {"a": 10}, {}]) == {"a": 11, "b": 2}
    w0 = np.array([[1.0, 5.0], [3.0, 6.0]])
    w1 = np.array([[2.0, 7.0], [4.0, 8.0]])
    assert sorted(window_values([w0, w1, np.empty((0, 2))], cutoff=2.0)) == [6.0, 7.0, 8.0]


def _worker_registry(listeners: float, depth: float, observations: list[float], events: int) -> list:
    reg = CollectorRegistry()
    Gauge("auralis_active_connections", "open", registry=reg).set(listeners)
    Gauge("auralis_buffer_depth", "lowest", registry=reg).set(depth)
    Gauge("process_start_time_seconds", "start", registry=reg).set(100.0 + listeners)
    c = Counter("auralis_disconnects", "gone", registry=reg)
    c.inc(events)
    h = Histogram("auralis_synthesis_latency_ms", "render", buckets=(1, 10), registry=reg)
    for v in observations:
        h.observe(v)
    g = Gauge("auralis_station_listeners", "by station", ["station", "transport"], registry=reg)
    g.labels("focus", "http_ogg").set(listeners)
    return families_of(reg.collect())


def test_prometheus_families_add_counters_buckets_and_listeners_bounds_take_min() -> None:
    a = _worker_registry(2, 5, [0.5, 5.0], 3)
    b = _worker_registry(3, 9, [20.0], 4)
    merged = merge_families([a, b], replace={"auralis_buffer_depth": 5.0})
    text = generate_latest(type("R", (), {"collect": lambda self: iter(merged)})()).decode()
    fam = {f.name: f for f in text_string_to_metric_families(text)}
    value = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in fam.values() for s in f.samples}
    assert value[("auralis_active_connections", ())] == 5
    assert value[("auralis_buffer_depth", ())] == 5
    assert value[("process_start_time_seconds", ())] == 102
    assert value[("auralis_disconnects_total", ())] == 7
    assert value[("auralis_synthesis_latency_ms_bucket", (("le", "1.0"),))] == 1
    assert value[("auralis_synthesis_latency_ms_bucket", (("le", "10.0"),))] == 2
    assert value[("auralis_synthesis_latency_ms_bucket", (("le", "+Inf"),))] == 3
    assert value[("auralis_synthesis_latency_ms_count", ())] == 3
    assert value[("auralis_synthesis_latency_ms_sum", ())] == 25.5
    assert value[("auralis_station_listeners", (("station", "focus"), ("transport", "http_ogg")))] == 5
    created_a = next(v for name, _, v in a[3][4] if name.endswith("_created"))
    created_b = next(v for name, _, v in b[3][4] if name.endswith("_created"))
    merged_disconnects = next(m for m in merged if m.name == "auralis_disconnects")
    created = [smp.value for smp in merged_disconnects.samples if smp.name.endswith("_created")]
    assert created == [min(created_a, created_b)]  # the earliest, not a sum of two moments
