"""Rolling-window statistics: percentile definition, window bounds, thread safety."""

from __future__ import annotations

import random
import threading

import numpy as np
import pytest

from auralis.monitoring.window import RollingWindow, percentile, summarize


@pytest.mark.parametrize("q", [0, 1, 25, 50, 90, 95, 99, 100])
def test_percentile_matches_numpy_linear(q: float) -> None:
    rng = random.Random(7)
    values = sorted(rng.uniform(0, 200) for _ in range(257))
    assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)), rel=1e-12)


def test_percentile_single_value_and_errors() -> None:
    assert percentile([4.0], 99) == 4.0
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_summary_of_known_values() -> None:
    w = RollingWindow(max_samples=1000)
    for v in range(1, 101):  # 1..100 ms
        w.add(float(v))
    s = w.summary()
    assert s["samples"] == 100
    assert s["avg"] == pytest.approx(50.5)
    assert s["p50"] == pytest.approx(50.5)
    assert s["p95"] == pytest.approx(95.05)
    assert s["p99"] == pytest.approx(99.01)


def test_empty_summary_is_zero_with_no_samples() -> None:
    assert RollingWindow().summary() == {"avg": 0.0, "p50": 0.0, "p95": 0.0, "p99": 0.0, "samples": 0}


def test_window_keeps_only_the_latest_samples() -> None:
    w = RollingWindow(max_samples=10)
    for v in range(100):
        w.add(float(v))
    assert w.values() == [float(v) for v in range(90, 100)]
    assert w.summary()["samples"] == 10


def test_window_forgets_old_samples() -> None:
    now = [1000.0]
    w = RollingWindow(max_samples=100, max_age_s=60.0, clock=lambda: now[0])
    w.add(500.0)
    now[0] += 30
    w.add(10.0)
    assert w.summary()["samples"] == 2
    now[0] += 31  # the first sample is now 61 s old
    assert w.values() == [10.0]
    now[0] += 60
    assert w.summary()["samples"] == 0


def test_rejects_non_finite_samples() -> None:
    w = RollingWindow()
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError):
            w.add(bad)
    assert w.summary()["samples"] == 0


def test_concurrent_adds_and_reads() -> None:
    w = RollingWindow(max_samples=5000)
    errors: list[BaseException] = []

    def writer() -> None:
        for i in range(2000):
            w.add(float(i % 50))

    def reader() -> None:
        try:
            for _ in range(200):
                w.summary()
        except BaseException as exc:  # pragma: no cover - the failure being tested for
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(3)] + [threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert w.summary()["samples"] == 5000


def test_summary_kept_in_order_equals_sorting_the_window() -> None:
    """The window keeps its values in ascending order as they come and go (by count and by
    age, duplicates included); its summary is the one of sorting what is inside it."""
    now = [0.0]
    w = RollingWindow(max_samples=50, max_age_s=10.0, clock=lambda: now[0])
    rng = random.Random(11)
    for i in range(2000):
        now[0] += rng.choice((0.01, 0.05, 0.2, 1.5))  # some gaps age samples out
        w.add(float(rng.choice((1.0, 2.5, rng.uniform(0, 30)))))  # repeated values too
        if i % 37 == 0:
            inside = w.values()
            assert w.summary() == summarize(inside)
            assert w._sorted == sorted(inside)
            assert 0 < len(inside) <= 50
    now[0] += 11.0
    assert w.summary() == summarize([]) and w._sorted == []
