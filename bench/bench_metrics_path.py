"""What one `/api/metrics` answer costs the event loop, in figures that machine load does not move.

    .venv/bin/python bench/bench_metrics_path.py [--requests 200]

1. System calls of the server's event-loop thread per answer (`strace -c` attached to a real
   `auralis serve` on loopback while one client asks `--requests` times). Every file system call
   made from Python gives up the GIL, and under load the render threads take it meanwhile: each is
   a wait of up to the switch interval (1 ms) before the answer goes on.
2. The handler's own CPU time in-process (`Monitor.metrics()` and its JSON, 1,000 samples in each
   window): the minimum over 30 batches of 100, which other processes on the machine only raise.

Needs `strace` (Debian package `strace`) for part 1; without it part 1 is skipped.
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

from auralis.monitoring.metrics import Monitor  # noqa: E402
from tests.support.server import running_server  # noqa: E402


def syscalls_per_answer(requests: int) -> dict[str, float]:
    with running_server(env={"AURALIS_LOG_LEVEL": "warning"}) as srv, httpx.Client() as client:
        url = f"{srv.url}/api/metrics"
        for _ in range(20):
            client.get(url).raise_for_status()
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "strace.txt"
            tracer = subprocess.Popen(["strace", "-c", "-o", str(out), "-p", str(srv.process.pid)],
                                      stderr=subprocess.DEVNULL)
            time.sleep(1.0)  # attached
            for _ in range(requests):
                client.get(url).raise_for_status()
            time.sleep(0.3)
            tracer.terminate()
            tracer.wait(10)
            text = out.read_text()
    counts: dict[str, float] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 5 and parts[0][0].isdigit() and parts[-1] != "total":
            counts[parts[-1]] = int(parts[3]) / requests
    return counts


class _Probe:
    def active_connections(self) -> int:
        return 20

    def buffer_depth(self) -> int:
        return 1

    def soundfont_loaded(self) -> bool:
        return True

    def synthesis_active(self) -> bool:
        return True


def handler_us() -> dict[str, float]:
    monitor = Monitor(_Probe())
    rng = random.Random(1)
    for _ in range(1000):
        monitor.observe_synthesis(rng.uniform(0.5, 3.0))
        monitor.observe_network(rng.uniform(0.1, 1.0))
        monitor.observe_end_to_end(rng.uniform(200.0, 400.0))

    def best(fn, n: int = 100, reps: int = 30) -> float:
        fn()
        out = float("inf")
        for _ in range(reps):
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            out = min(out, (time.perf_counter() - t0) / n * 1e6)
        return out

    return {
        "metrics() and JSON": best(lambda: monitor.metrics().model_dump_json()),
        "one window's summary": best(monitor.synthesis.summary),
        "RSS reading": best(monitor.memory_usage_mb),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=200)
    a = ap.parse_args()
    if shutil.which("strace"):
        counts = syscalls_per_answer(a.requests)
        print(f"event-loop thread system calls per /api/metrics answer ({a.requests} answers):")
        for name, n in sorted(counts.items(), key=lambda kv: -kv[1]):
            print(f"  {name:16} {n:6.2f}")
        print(f"  {'all':16} {sum(counts.values()):6.2f}")
    else:
        print("strace not found: system calls not counted (apt-get install strace)")
    print("handler CPU in-process (min of 30 batches of 100):")
    for name, us in handler_us().items():
        print(f"  {name:24} {us:8.1f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
