"""The request head's limits: the bounding HTTP protocol against uvicorn's h11 limit.

    .venv/bin/python bench/bench_http.py [--requests 2000] [--repeat 3]

Each configuration runs a real server process (the Auralis app, development mode, no SoundFont so
no render thread runs) on a free loopback port, measured with psutil:

- ``flood``: server CPU for 20 requests with 1-64 MiB heads (refused at 16 KiB);
- ``requests``: server CPU per 1,000 keep-alive ``GET /api/status`` requests.

Configurations: ``protocol`` (auralis.server.transport.HttpProtocol, what `auralis serve` runs),
``h11-limit`` (uvicorn's h11 with ``h11_max_incomplete_event_size=16384``) and, for requests
only, ``httptools`` (uvicorn's default, no head limit). Medians of --repeat runs; ratios against
``protocol`` measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.reliability_limits import FLOOD_SIZES_MIB, MIB, send_huge_head  # noqa: E402
from tests.support.server import free_port  # noqa: E402

CONFIGS = ("protocol", "h11-limit", "httptools")


def serve(config: str, port: int) -> None:
    import uvicorn

    from auralis.server.app import create_app
    from auralis.server.settings import Settings
    from auralis.server.transport import http_protocol

    settings = Settings(soundfont=Path("/nonexistent/none.sf2"), log_level="warning")
    http: object = {"protocol": http_protocol(16384, 5.0), "h11-limit": "h11", "httptools": "httptools"}[config]
    uvicorn.run(
        create_app(settings), host="127.0.0.1", port=port, http=http,  # type: ignore[arg-type]
        h11_max_incomplete_event_size=16384, log_level="warning", access_log=False,
    )


def start(config: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", config, str(port)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/status", timeout=1)
            break
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                proc.kill()
                raise
            time.sleep(0.05)
    time.sleep(0.5)
    return proc, port


def cpu(proc: subprocess.Popen[bytes]) -> float:
    t = psutil.Process(proc.pid).cpu_times()
    return t.user + t.system


def flood(port: int) -> list[str]:
    async def run() -> list[str]:
        sem = asyncio.Semaphore(4)

        async def one(size: int) -> str:
            async with sem:
                return await asyncio.to_thread(send_huge_head, port, size * MIB)

        return list(await asyncio.gather(*(one(s) for s in FLOOD_SIZES_MIB)))

    return asyncio.run(run())


def requests(port: int, n: int) -> None:
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        for _ in range(n):
            client.get("/api/status").raise_for_status()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--serve", nargs=2, metavar=("CONFIG", "PORT"))
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]))
        return 0
    flood_cpu: dict[str, list[float]] = {c: [] for c in CONFIGS}
    req_cpu: dict[str, list[float]] = {c: [] for c in CONFIGS}
    answers: dict[str, set[str]] = {c: set() for c in CONFIGS}
    for _ in range(args.repeat):
        for config in CONFIGS:
            proc, port = start(config)
            try:
                if config != "httptools":  # unbounded: seconds of CPU per 64 MiB head
                    c0 = cpu(proc)
                    answers[config].update(flood(port))
                    flood_cpu[config].append(cpu(proc) - c0)
                c0 = cpu(proc)
                requests(port, args.requests)
                req_cpu[config].append((cpu(proc) - c0) * 1000 / args.requests)
            finally:
                proc.terminate()
                proc.wait(10)
    base_req = statistics.median(req_cpu["protocol"])
    print(f"{'config':<10} {'flood CPU s (20 heads)':>23} {'answers':>14} {'CPU s / 1000 req':>17} {'ratio':>6}")
    for config in CONFIGS:
        f = f"{statistics.median(flood_cpu[config]):.3f}" if flood_cpu[config] else "-"
        r = statistics.median(req_cpu[config])
        print(f"{config:<10} {f:>23} {','.join(sorted(answers[config])) or '-':>14} {r:>17.3f} {r / base_req:>6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
