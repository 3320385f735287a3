"""The dashboard feed's cost against its number of viewers.

A real server (`auralis serve`, loopback, no listeners) serves `GET /api/feed` to 0, 1, 10 and 30
viewers (`httpx` streams in threads) for `--duration` seconds each. Reported: the server's CPU
time per second of wall time (psutil), the samples each viewer received per second, and the
same viewers polling `/api/status` and `/api/metrics` once a second (what /debug did before, in
development mode where nothing limits it) for comparison. One producer computes status and metrics once a second for everyone,
so the computation does not grow with viewers; each viewer adds only its send.

    .venv/bin/python bench/bench_feed.py                 # 20 s per level
    .venv/bin/python bench/bench_feed.py --duration 5    # quick look
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.server import running_server  # noqa: E402


def viewer(url: str, stop: threading.Event, counts: list[int], i: int) -> None:
    with httpx.stream("GET", f"{url}/api/feed", timeout=30) as r:
        for line in r.iter_lines():
            if line.startswith("data:"):
                counts[i] += 1
            if stop.is_set():
                return


def poller(url: str, stop: threading.Event, counts: list[int], i: int) -> None:
    """What /debug did before the feed: /api/status and /api/metrics once a second."""
    with httpx.Client(timeout=10) as client:
        while not stop.is_set():
            t = time.monotonic()
            client.get(f"{url}/api/status").raise_for_status()
            client.get(f"{url}/api/metrics").raise_for_status()
            counts[i] += 1
            stop.wait(max(0.0, 1.0 - (time.monotonic() - t)))


def level(url: str, proc: psutil.Process, n: int, duration: float, target=viewer) -> tuple[float, float]:
    stop = threading.Event()
    counts = [0] * n
    threads = [threading.Thread(target=target, args=(url, stop, counts, i), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    time.sleep(2.0)  # every viewer connected and past its first event
    start_counts = list(counts)
    c0 = proc.cpu_times()
    t0 = time.monotonic()
    time.sleep(duration)
    c1 = proc.cpu_times()
    wall = time.monotonic() - t0
    got = [b - a for a, b in zip(start_counts, counts, strict=True)]
    stop.set()
    for t in threads:
        t.join(5)
    cpu_ms_per_s = ((c1.user + c1.system) - (c0.user + c0.system)) * 1000 / wall
    per_viewer = (sum(got) / n / wall) if n else 0.0
    return cpu_ms_per_s, per_viewer


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--levels", default="0,1,10,30")
    args = ap.parse_args()
    with running_server() as srv:
        proc = psutil.Process(srv.process.pid)
        levels = list(map(int, args.levels.split(",")))
        rows = [("feed", n, *level(srv.url, proc, n, args.duration)) for n in levels]
        rows += [("polling", n, *level(srv.url, proc, n, args.duration, poller)) for n in levels if n]
    idle = next((cpu for how, n, cpu, _ in rows if n == 0), 0.0)
    print(f"{'how':>8} {'viewers':>8} {'server CPU ms/s':>16} {'above idle':>11} {'samples/s per viewer':>21}")
    for how, n, cpu, per in rows:
        print(f"{how:>8} {n:>8} {cpu:>16.1f} {cpu - idle:>11.1f} {per:>21.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
