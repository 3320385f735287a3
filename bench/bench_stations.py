"""Station fan-out and synthesis cost, in one process (no sockets: the transports come later).

1. Fan-out: one writer thread publishes 1.2 KB packets (an Opus chunk's size) to N asyncio
   readers; the process CPU per packet is measured for N = 0 and N = readers, and the
   difference gives the fan-out CPU per 100 readers at the real chunk rate (10 per second).
2. Memory per reader: RSS and traced Python memory of 10,000 readers, each with the task that
   reads it (what a transport adds on top: its socket, its buffers).
3. Station cost: the render thread's CPU per chunk (synthesis + composition) of station
   ``focus`` with 1 listener and with ``readers`` listeners, alternated 1 / N three times, medians.
4. Joining a station mid-segment: the time to compose its segment up to the live chunk.

With ``--compare-fanout FILE`` it measures only the fan-out's CPU per reader per packet of
another version of ``fanout.py`` (e.g. ``git show bce4d6d:auralis/streaming/fanout.py >
/tmp/fanout_old.py``) against this one, alternated three times in the same run.

Run: .venv/bin/python bench/bench_stations.py [--readers 1000] [--seconds 6] [--pairs 3]
     [--compare-fanout FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import sys
import threading
import time
import tracemalloc
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from auralis.audio.soundfont import find_soundfont  # noqa: E402
from auralis.streaming.fanout import FanOut  # noqa: E402
from auralis.streaming.station_score import Score  # noqa: E402
from auralis.streaming.station_specs import DEFAULT_STATIONS  # noqa: E402
from auralis.streaming.stations import Stations  # noqa: E402

PACKET = os.urandom(1200)


async def fanout_cpu(n_readers: int, n_items: int, interval: float, fanout: type = FanOut) -> float:
    """Process CPU seconds per published item with n_readers readers consuming everything."""
    fo = fanout(50)
    readers = [fo.reader() for _ in range(n_readers)]
    received = [0]

    async def consume(r) -> None:
        async for item in r:
            received[0] += len(item)

    tasks = [asyncio.create_task(consume(r)) for r in readers]
    await asyncio.sleep(0.2)

    def write() -> None:
        for _ in range(n_items):
            fo.publish(PACKET)
            time.sleep(interval)
        fo.close()

    cpu0 = time.process_time()
    writer = threading.Thread(target=write)
    writer.start()
    await asyncio.gather(*tasks)
    writer.join()
    cpu = time.process_time() - cpu0
    assert received[0] == n_readers * n_items * len(PACKET), "a reader missed items"
    return cpu / n_items


async def reader_memory(n: int) -> tuple[float, float]:
    """(RSS bytes, traced bytes) per reader, each with a task waiting on it."""
    proc = psutil.Process()
    fo: FanOut[bytes] = FanOut(50)
    gc.collect()
    await asyncio.sleep(0.1)
    rss0 = proc.memory_info().rss
    tracemalloc.start()
    snap0 = tracemalloc.get_traced_memory()[0]

    async def consume(r) -> None:
        async for _ in r:
            pass

    readers = [fo.reader() for _ in range(n)]
    tasks = [asyncio.create_task(consume(r)) for r in readers]
    await asyncio.sleep(0.2)
    fo.publish(PACKET)  # every reader wakes, reads and waits again
    await asyncio.sleep(0.2)
    traced = tracemalloc.get_traced_memory()[0] - snap0
    tracemalloc.stop()
    rss = proc.memory_info().rss - rss0
    fo.close()
    await asyncio.gather(*tasks)
    return rss / n, traced / n


async def station_cost(hub: Stations, n_readers: int, seconds: float) -> tuple[float, float]:
    """(render-thread CPU ms per chunk, synthesis wall ms per chunk) with n_readers listening."""
    st = hub["focus"]
    readers = [hub.listen("focus") for _ in range(n_readers)]
    got = [0]

    async def consume(r) -> None:
        while True:
            await r.next()
            got[0] += 1

    tasks = [asyncio.create_task(consume(r)) for r in readers]
    await asyncio.sleep(1.0)  # started, pre-roll done
    cpu0, chunks0, wall0 = hub.thread_cpu_s[0], st.chunks_rendered, st.render_seconds
    got[0] = 0
    await asyncio.sleep(seconds)
    chunks = st.chunks_rendered - chunks0
    cpu = (hub.thread_cpu_s[0] - cpu0) / chunks * 1000
    wall = (st.render_seconds - wall0) / chunks * 1000
    assert got[0] >= 0.9 * chunks * n_readers, f"readers got {got[0]} of {chunks * n_readers}"
    for t in tasks:
        t.cancel()
    for r in readers:
        r.close()
    await asyncio.gather(*tasks, return_exceptions=True)
    return cpu, wall


async def compare_fanout(path: str, n: int) -> None:
    """This FanOut against the one in `path`: CPU per reader per packet, alternated 3 times."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("other_fanout", path)
    assert spec is not None and spec.loader is not None
    other = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(other)
    per_reader: dict[str, list[float]] = {path: [], "this branch": []}
    for _ in range(3):
        for name, cls in ((path, other.FanOut), ("this branch", FanOut)):
            base = await fanout_cpu(0, 200, 0.002, cls)
            full = await fanout_cpu(n, 200, 0.002, cls)
            per_reader[name].append((full - base) / n * 1e6)
    print(f"| fan-out, {n} readers | CPU per reader per packet (3 runs) | median |")
    print("|---|---|---|")
    for name, values in per_reader.items():
        print(f"| {name} | {', '.join(f'{v:.2f}' for v in values)} us | {statistics.median(values):.2f} us |")
    ratio = statistics.median(per_reader["this branch"]) / statistics.median(per_reader[path])
    print(f"| ratio this branch / other | | {ratio:.2f} |")


async def main(args: argparse.Namespace) -> None:
    n = args.readers
    if args.compare_fanout:
        await compare_fanout(args.compare_fanout, n)
        return
    print("Station benchmark (one process, asyncio readers, no sockets; shared machine)")
    print()
    base = statistics.median([await fanout_cpu(0, 200, 0.002) for _ in range(3)])
    full = statistics.median([await fanout_cpu(n, 200, 0.002) for _ in range(3)])
    per_100 = (full - base) / n * 100 * 10  # CPU seconds per second at 10 chunks/s
    print("| fan-out | value |")
    print("|---|---|")
    print(f"| CPU per packet, 0 readers | {base * 1e6:.0f} us |")
    print(f"| CPU per packet, {n} readers | {full * 1e6:.0f} us |")
    print(f"| CPU per reader per packet | {(full - base) / n * 1e6:.2f} us |")
    print(f"| CPU per 100 readers at 10 packets/s | {per_100 * 100:.2f} % of a core |")
    rss, traced = await reader_memory(10_000)
    print(f"| memory per reader + its task (10,000 readers) | RSS {rss / 1024:.2f} KB, traced {traced / 1024:.2f} KB |")
    print()

    score = Score(DEFAULT_STATIONS[0].params, DEFAULT_STATIONS[0].seed)
    joins = []
    for k in (5999, 3000, 1):
        t0 = time.perf_counter()
        score.cursor(10_000 * 6000 + k)
        joins.append((k, (time.perf_counter() - t0) * 1000))
    print("| joining mid-segment (compose up to the live chunk) | ms |")
    print("|---|---|")
    for k, ms in joins:
        print(f"| {k / 10:.0f} s into a 600 s segment | {ms:.1f} |")
    print()

    hub = Stations(DEFAULT_STATIONS[:1], find_soundfont(None), idle_s=60.0, ring_chunks=50)
    await asyncio.to_thread(hub.start)
    try:
        rows = []
        for readers in (1, n) * args.pairs:
            rows.append((readers, *await station_cost(hub, readers, args.seconds)))
    finally:
        await asyncio.to_thread(hub.close)
    one = [r for r in rows if r[0] == 1]
    many = [r for r in rows if r[0] == n]
    cpu1 = statistics.median(r[1] for r in one)
    cpun = statistics.median(r[1] for r in many)
    wall1 = statistics.median(r[2] for r in one)
    walln = statistics.median(r[2] for r in many)
    print("| station focus | render-thread CPU per chunk | synthesis wall time per chunk |")
    print("|---|---|---|")
    for readers, cpu, wall in rows:
        print(f"| {readers} listener(s) | {cpu:.2f} ms | {wall:.2f} ms |")
    print(f"| ratio {n} / 1 (medians) | {cpun / cpu1:.3f} | {walln / wall1:.3f} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=6.0, help="per measurement")
    parser.add_argument("--pairs", type=int, default=3, help="1 / N alternations")
    parser.add_argument("--compare-fanout", default=None, metavar="FILE",
                        help="only compare the fan-out's CPU with another fanout.py")
    asyncio.run(main(parser.parse_args()))
