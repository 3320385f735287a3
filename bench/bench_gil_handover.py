"""The event loop beside the render threads, with and without the GIL hand-overs.

    .venv/bin/python bench/bench_gil_handover.py [--streams 20] [--seconds 10] [--rounds 3]

In one process, as in `auralis serve`: a real `StreamEngine` (its render threads: one per core)
renders `--streams` Opus streams, and a uvloop event loop takes each stream's chunks at real-time
pace (one per 100 ms per stream, the streams' phases spread over the period, as listeners arrive)
while a probe sleeps 1 ms at a time and records how late it wakes: what a request or a send waiting
for the loop waits. Rounds alternate the hand-overs on (`auralis.streaming.handover.HANDOVER_S`,
a short sleep between a render thread's stages) and off, each on fresh streams.

Prints per round the probe's lateness (p50 / p90 / p99 / max), the render threads' CPU per chunk
(the process's CPU over the chunks taken) and the chunks a stream did not have when due
(underruns). Nothing is sent over a network: the loop's own work is the pacing and the probe.

After each wake-up the probe also reads this process's RSS twice on the loop: with `os.pread`
(which gives the GIL up around the call) and with `auralis.monitoring.memory.ResidentMemory`
(the server's `/api/metrics` reading, which keeps it), and prints both readings' p50 / p99 / max:
what one hand-off of the GIL costs the loop beside the render threads.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import uvloop  # noqa: E402

from auralis.audio.soundfont import find_soundfont  # noqa: E402
from auralis.monitoring.memory import STATM, ResidentMemory  # noqa: E402
from auralis.music.params import MusicParams  # noqa: E402
from auralis.streaming import handover  # noqa: E402
from auralis.streaming.chunk import CHUNK_SECONDS  # noqa: E402
from auralis.streaming.encoders import OpusEncoder  # noqa: E402
from auralis.streaming.engine import StreamEngine  # noqa: E402

PROBE_S = 0.001
WARMUP_S = 2.0


async def one_round(engine: StreamEngine, streams: int, seconds: float, seed0: int) -> dict:
    opened = [
        engine.open_stream(MusicParams(), seed0 + i, encoder=OpusEncoder(), lead_chunks=3) for i in range(streams)
    ]
    taken = [0]
    missed = [0]
    measuring = [False]

    async def pace(k: int, stream) -> None:  # type: ignore[no-untyped-def]
        # wait for the start burst (the lead), then one chunk per period at this stream's phase
        while stream.depth < 3:
            await asyncio.sleep(0.01)
        due = time.monotonic() + CHUNK_SECONDS * k / streams
        while True:
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            if stream.pop() is None:
                if measuring[0]:
                    missed[0] += 1
            elif measuring[0]:
                taken[0] += 1
            due += CHUNK_SECONDS

    pacers = [asyncio.create_task(pace(k, s)) for k, s in enumerate(opened)]
    await asyncio.sleep(WARMUP_S + 0.5)
    late: list[float] = []
    reads: dict[str, list[float]] = {"os.pread": [], "ResidentMemory": []}
    memory = ResidentMemory()
    fd = os.open(STATM, os.O_RDONLY)
    measuring[0] = True
    cpu0, t0 = time.process_time(), time.monotonic()
    while time.monotonic() - t0 < seconds:
        t = time.perf_counter()
        await asyncio.sleep(PROBE_S)
        t1 = time.perf_counter()
        late.append((t1 - t - PROBE_S) * 1000.0)
        os.pread(fd, 256, 0)
        t2 = time.perf_counter()
        memory.rss()
        reads["ResidentMemory"].append((time.perf_counter() - t2) * 1000.0)
        reads["os.pread"].append((t2 - t1) * 1000.0)
    cpu = time.process_time() - cpu0
    os.close(fd)
    memory.close()
    measuring[0] = False
    for p in pacers:
        p.cancel()
    await asyncio.gather(*pacers, return_exceptions=True)
    for s in opened:
        s.close()
    lateness = np.array(late)
    return {
        "p50": float(np.percentile(lateness, 50)),
        "p90": float(np.percentile(lateness, 90)),
        "p99": float(np.percentile(lateness, 99)),
        "max": float(lateness.max()),
        "cpu_ms_per_chunk": cpu * 1000.0 / max(1, taken[0]),
        "taken": taken[0],
        "missed": missed[0],
        "reads": {k: (float(np.percentile(v, 50)), float(np.percentile(v, 99)), float(max(v))) for k, v in reads.items()},
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--streams", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=10.0, help="measured seconds per round")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of each setting, alternated")
    a = ap.parse_args()
    sys.setswitchinterval(0.001)  # as `auralis serve` (auralis.server.app)
    engine = StreamEngine(find_soundfont())
    on_s = handover.HANDOVER_S
    rows = []
    try:
        for r in range(a.rounds):
            for label, value in (("on", on_s), ("off", 0.0)):
                handover.HANDOVER_S = value
                row = uvloop.run(one_round(engine, a.streams, a.seconds, 100 * r))
                row.update(label=label, load=os.getloadavg()[0])
                rows.append(row)
                print(
                    f"hand-overs {label:3s}: loop lateness p50 {row['p50']:.2f} / p90 {row['p90']:.2f} / "
                    f"p99 {row['p99']:.2f} / max {row['max']:.2f} ms; CPU {row['cpu_ms_per_chunk']:.2f} ms "
                    f"per chunk; {row['taken']} chunks, {row['missed']} underruns; load {row['load']:.1f}",
                    flush=True,
                )
                for name, (p50, p99, top) in row["reads"].items():
                    print(f"    RSS read with {name:14s}: p50 {p50 * 1000:.0f} us / p99 {p99 * 1000:.0f} us / max {top:.2f} ms",
                          flush=True)
    finally:
        handover.HANDOVER_S = on_s
        engine.close()
    print()
    print(f"{a.streams} Opus streams, {engine.workers} render threads, {a.seconds:g} s x {a.rounds} rounds each")
    print("| hand-overs | loop lateness p50 / p99 / max (ms), median of rounds | CPU per chunk (ms) | underruns |")
    print("|---|---|---|---|")
    for label in ("on", "off"):
        mine = [r for r in rows if r["label"] == label]
        med = {k: statistics.median(r[k] for r in mine) for k in ("p50", "p99", "max", "cpu_ms_per_chunk")}
        print(
            f"| {label} | {med['p50']:.2f} / {med['p99']:.2f} / {med['max']:.2f} | "
            f"{med['cpu_ms_per_chunk']:.2f} | {sum(r['missed'] for r in mine)} |"
        )
    on = statistics.median(r["p99"] for r in rows if r["label"] == "on")
    off = statistics.median(r["p99"] for r in rows if r["label"] == "off")
    print(f"loop lateness p99, on / off: {on:.2f} / {off:.2f} ms = {on / off:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
