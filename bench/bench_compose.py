"""Composition speed: an hour of events, the cost per bar early vs late, and MIDI writing.

Run: .venv/bin/python bench/bench_compose.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from auralis.music.composer import Composer  # noqa: E402
from auralis.music.export import write_midi  # noqa: E402
from auralis.music.params import MusicParams  # noqa: E402

RUNS = 7
HOUR = 3600.0
CASES = [
    ("default (C aeolian, 60 BPM, 0.5)", MusicParams()),
    ("busiest (90 BPM, intensity 1.0)", MusicParams(bpm=90, intensity=1.0)),
    ("sleep preset (40 BPM, 0.2)", MusicParams().with_preset("sleep")),
]


def hour(params: MusicParams, seed: int) -> tuple[float, int]:
    c = Composer(params, seed=seed)
    t0 = time.perf_counter()
    events = c.events_until(HOUR)
    return time.perf_counter() - t0, len(events)


def per_bar_cost(params: MusicParams, seed: int) -> tuple[float, float]:
    """Median microseconds per bar over the first and the last 5 minutes of an hour, streamed
    the way a real-time renderer asks for it (one call per bar)."""
    c = Composer(params, seed=seed)
    bar = 4 * 60.0 / params.bpm
    costs: list[tuple[float, float]] = []
    t = 0.0
    while t < HOUR:
        t += bar
        t0 = time.perf_counter()
        c.events_until(t)
        costs.append((t, time.perf_counter() - t0))
    early = [dt for at, dt in costs if at <= 300.0]
    late = [dt for at, dt in costs if at > HOUR - 300.0]
    return statistics.median(early) * 1e6, statistics.median(late) * 1e6


def main() -> None:
    print(f"Composition benchmark: medians of {RUNS} runs, seeds 0..{RUNS - 1}, Python {sys.version.split()[0]}")
    print()
    print("| case | 60 min of events (median) | events | per bar, first 5 min | per bar, last 5 min | late/early | MIDI write (60 min) |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name, params in CASES:
            gen = [hour(params, s) for s in range(RUNS)]
            gen_s = statistics.median(g for g, _ in gen)
            n_events = int(statistics.median(n for _, n in gen))
            bars = [per_bar_cost(params, s) for s in range(RUNS)]
            early = statistics.median(b[0] for b in bars)
            late = statistics.median(b[1] for b in bars)
            c = Composer(params, seed=0)
            events = c.events_until(HOUR) + c.release_all(HOUR)
            writes = []
            for _ in range(RUNS):
                t0 = time.perf_counter()
                write_midi(events, Path(tmp) / "hour.mid")
                writes.append(time.perf_counter() - t0)
            print(
                f"| {name} | {gen_s * 1000:.0f} ms | {n_events} | {early:.0f} µs | {late:.0f} µs "
                f"| {late / early:.2f} | {statistics.median(writes) * 1000:.0f} ms |"
            )


if __name__ == "__main__":
    main()
