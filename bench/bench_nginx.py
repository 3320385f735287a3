"""The cost of nginx: the same listeners straight to an instance, and through nginx, in one run.

One instance and the cluster's nginx (scripts/cluster.py, the site of deploy/) on loopback. In
alternating phases (direct, nginx, direct, nginx, ...) `--listeners` personal streams
(`--format`, default pcm) play for `--duration` seconds each after a warm-up; per phase: p99
chunk inter-arrival at the clients, seq gaps, the instance's CPU and nginx's (master and
workers). Printed as JSON with the ratios nginx/direct of the medians over the phases:
p99 inter-arrival, and CPU (instance + nginx against the instance alone).

    .venv/bin/python bench/bench_nginx.py                          # 10 listeners, 2 x 20 s each way
    .venv/bin/python bench/bench_nginx.py --listeners 40 --duration 30 --rounds 3

The clients share the machine (2 cores here) with the server and nginx: compare the ratio, not
the absolute figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import struct
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from scripts.cluster import LocalCluster, children, free_port  # noqa: E402

BIN_SEQ = struct.Struct("<Q")
WARMUP_S = 5.0
STAGGER_S = 0.1


async def listener(url: str, seed: int, fmt: str, measure_from: float, measure_to: float) -> dict:
    arrivals: list[float] = []
    last = None
    gaps = 0
    dropped = None
    async with websockets.connect(f"{url}/ws/stream?seed={seed}&format={fmt}", compression=None, max_queue=64,
                                  open_timeout=30) as ws:
        try:
            while True:
                msg = await ws.recv()
                now = time.monotonic()
                if now >= measure_to:
                    break
                if isinstance(msg, bytes):
                    seq = BIN_SEQ.unpack_from(msg, 16)[0]
                    gaps += last is not None and seq != last + 1
                    last = seq
                    if now >= measure_from:
                        arrivals.append(now)
        except websockets.ConnectionClosed as exc:
            dropped = f"closed {exc.rcvd.code if exc.rcvd else None}: {exc.rcvd.reason if exc.rcvd else ''}"
    return {"arrivals": arrivals, "gaps": gaps, "dropped": dropped}


def cpu_seconds(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


async def phase(url: str, n: int, fmt: str, duration: float, instance: psutil.Process, nginx: list[psutil.Process]) -> dict:
    start = time.monotonic()
    measure_from, measure_to = start + WARMUP_S, start + WARMUP_S + duration
    tasks = []
    for i in range(n):  # staggered: n streams starting at once is a burst of its own
        tasks.append(asyncio.create_task(listener(url, 100 + i, fmt, measure_from, measure_to)))
        await asyncio.sleep(STAGGER_S)
    await asyncio.sleep(max(0.0, measure_from - time.monotonic()))
    i0, n0, t0 = cpu_seconds([instance]), cpu_seconds(nginx), time.monotonic()
    results = await asyncio.gather(*tasks)
    wall = time.monotonic() - t0
    i1, n1 = cpu_seconds([instance]), cpu_seconds(nginx)
    inter = np.concatenate([np.diff(r["arrivals"]) * 1000 for r in results if len(r["arrivals"]) > 1] or [np.zeros(1)])
    return {
        "p99_inter_arrival_ms": round(float(np.percentile(inter, 99)), 1),
        "p50_inter_arrival_ms": round(float(np.percentile(inter, 50)), 1),
        "seq_gaps": sum(r["gaps"] for r in results),
        "dropped": [r["dropped"] for r in results if r["dropped"]],
        "instance_cpu_pct": round((i1 - i0) / wall * 100, 1),
        "nginx_cpu_pct": round((n1 - n0) / wall * 100, 1),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--listeners", type=int, default=10)
    p.add_argument("--duration", type=float, default=20.0)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--format", default="pcm", choices=("json", "pcm", "opus"))
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="auralis-bench-nginx-") as tmp:
        cl = LocalCluster(Path(tmp), port=free_port(), instance_ports=(free_port(),), redis_port=free_port(),
                          env={"AURALIS_MAX_CONNECTIONS": str(args.listeners * 2 + 10)})
        cl.up()
        try:
            instance = psutil.Process(cl.pids["auralis-1"])
            nginx = [psutil.Process(pid) for pid in [cl.pids["nginx"], *children(cl.pids["nginx"])]]
            direct_url = f"ws://127.0.0.1:{cl.instances['auralis-1']}"
            phases: dict[str, list[dict]] = {"direct": [], "nginx": []}
            for _ in range(args.rounds):
                for name, url in (("direct", direct_url), ("nginx", cl.ws_url)):
                    phases[name].append(asyncio.run(phase(url, args.listeners, args.format, args.duration, instance, nginx)))
                    time.sleep(1.0)
        finally:
            cl.down()

    def median(name: str, key: str) -> float:
        return statistics.median(ph[key] for ph in phases[name])

    direct_cpu = median("direct", "instance_cpu_pct")
    via_cpu = median("nginx", "instance_cpu_pct") + median("nginx", "nginx_cpu_pct")
    out = {
        "listeners": args.listeners, "format": args.format, "duration_s": args.duration, "rounds": args.rounds,
        "phases": phases,
        "ratio_p99_inter_arrival_nginx_over_direct": round(median("nginx", "p99_inter_arrival_ms") / median("direct", "p99_inter_arrival_ms"), 3),
        "ratio_cpu_nginx_over_direct": round(via_cpu / direct_cpu, 3) if direct_cpu else None,
        "nginx_cpu_pct_median": round(median("nginx", "nginx_cpu_pct"), 2),
        "nginx_cpu_pct_per_listener": round(median("nginx", "nginx_cpu_pct") / args.listeners, 3),
    }
    print(json.dumps(out, indent=2))
    bad = sum(ph["seq_gaps"] + len(ph["dropped"]) for phs in phases.values() for ph in phs)
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
