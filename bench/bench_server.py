"""Server capacity: how many independent listeners one server sustains in real time.

For each level (20, 40, 60, ... listeners) a real server (`auralis serve`, loopback) streams to
that many `websockets` clients for `--duration` seconds after a warm-up. A level passes with
0 server underruns (the `/api/metrics` counter; these clients report none of their own), no
seq gap, no drop, and a p99 chunk inter-arrival under 150 ms. The run stops at the first level
that fails. Alongside: `/api/metrics` response time (p50/p99, polled every 100 ms during the
measurement by two clients at once, each in its own process on one keep-alive connection: a plain
socket, and `curl` as a client this project did not write), the server's CPU use, and RSS with 10 listeners.

    .venv/bin/python bench/bench_server.py                      # full run (60 s per level)
    .venv/bin/python bench/bench_server.py --duration 10 --levels 20,40   # quick look
    .venv/bin/python bench/bench_server.py --format opus --duration 20 --levels 70   # Opus listeners

`--format` is what every listener asks for (`json`, `pcm`, `opus`); binary frames' seq is read
from the AUR2 header (bytes 16-24, u64 little-endian).

`--workers 1,2` finds the capacity with one worker process, then with two (`auralis serve
--workers 2`), in the same run, and prints the ratio (issue 11). `--half` then measures
`/api/metrics` with half the capacity connected (issue 9's target: p99 at most 5 ms):

    .venv/bin/python bench/bench_server.py --format opus --workers 1,2 --half --duration 20 --levels 20,40,60,80,100,120,140,160

The server logs at `--log-level`, by default `info` as it does unless told otherwise: an access
line for every `/api/metrics` answer is part of what is timed (runs before 2026-11-29 logged at
`warning`).

Server CPU is the sum over the server's processes (the supervisor and its workers).

The clients share the machine with the server (2 cores here), so the figures are a floor.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import re
import statistics
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import psutil
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.server import running_server  # noqa: E402

SEQ = re.compile(r'"seq":(\d+)')
BIN_SEQ = struct.Struct("<Q")
CONTENT_LENGTH = re.compile(rb"content-length: *(\d+)", re.I)
WARMUP_S = 3.0


def poll_metrics(url: str, seconds: float, out: mp.Queue) -> None:
    """Time GET /api/metrics every 100 ms (own process, one keep-alive connection): from the
    request's first byte sent to its body's last byte received, over a plain socket. A client
    library's own work is not the server's: httpx took 1.79 ms at the median against an idle
    server where this takes 0.75 ms and curl 0.88 ms (one run, docs/benchmarks.md), and its tail
    grew with the machine's load."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    request = f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode()

    def get() -> None:
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            data += recv(sock)
        head, body = data.split(b"\r\n\r\n", 1)
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"/api/metrics answered {head[:40]!r}")
        length = int(CONTENT_LENGTH.search(head).group(1))
        while len(body) < length:
            body += recv(sock)

    times = []
    with sock:
        get()
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            t0 = time.perf_counter()
            get()
            times.append((time.perf_counter() - t0) * 1000)
            time.sleep(0.1)
    out.put(times)


def recv(sock: socket.socket) -> bytes:
    data = sock.recv(65536)
    if not data:
        raise RuntimeError("the server closed the connection")
    return data


def poll_metrics_curl(url: str, seconds: float, out: mp.Queue) -> None:
    """The same with curl, a client this project did not write: 10 requests a second over one
    connection, each one's `time_total`."""
    n = max(2, int(seconds * 10))
    done = subprocess.run(["curl", "-sS", "--rate", "10/s", "-w", "\nTIME %{http_code} %{time_total}\n", f"{url}?[1-{n}]"],
                          capture_output=True, text=True, check=True, timeout=seconds + 60)
    rows = [line.split()[1:] for line in done.stdout.splitlines() if line.startswith("TIME ")]
    if len(rows) != n or any(code != "200" for code, _ in rows):
        raise RuntimeError(f"curl: {len(rows)} answers of {n}, codes {sorted({code for code, _ in rows})}")
    out.put([float(t) * 1000 for _, t in rows[1:]])  # the first carries the connection's set-up


async def listener(url: str, seed: int, measure_from: float, measure_to: float, fmt: str = "json") -> dict:
    arrivals: list[float] = []
    seqs: list[int] = []
    dropped = None
    query = f"seed={seed}" + (f"&format={fmt}" if fmt != "json" else "")
    async with websockets.connect(f"{url}/ws/stream?{query}", compression=None, max_queue=64) as ws:
        try:
            while True:
                msg = await ws.recv()
                now = time.monotonic()
                if now >= measure_to:
                    break
                if isinstance(msg, bytes) or msg.startswith('{"type":"audio"'):
                    seq = BIN_SEQ.unpack_from(msg, 16)[0] if isinstance(msg, bytes) else int(SEQ.search(msg, 0, 40).group(1))
                    if seqs and seq != seqs[-1] + 1:
                        raise AssertionError(f"seq gap {seqs[-1]} -> {seq}")
                    seqs.append(seq)
                    if now >= measure_from:
                        arrivals.append(now)
                elif '"type":"error"' in msg:
                    dropped = json.loads(msg)["message"]
        except websockets.ConnectionClosed as exc:
            dropped = f"closed {exc.rcvd.code if exc.rcvd else None}"
    return {"arrivals": arrivals, "seqs": len(seqs), "dropped": dropped}


async def run_level(srv, n: int, duration: float, fmt: str = "json") -> dict:
    url = srv.ws_url
    start = time.monotonic()
    measure_from, measure_to = start + WARMUP_S, start + WARMUP_S + duration
    members = server_processes(srv.process.pid)
    tasks = [asyncio.create_task(listener(url, 1000 + i, measure_from, measure_to, fmt)) for i in range(n)]
    await asyncio.sleep(max(0.0, measure_from - time.monotonic()))
    before = srv.metrics()
    queue: mp.Queue = mp.Queue()
    curl_queue: mp.Queue = mp.Queue()
    poller = mp.Process(target=poll_metrics, args=(f"{srv.url}/api/metrics", duration - 1.0, queue))
    curl_poller = mp.Process(target=poll_metrics_curl, args=(f"{srv.url}/api/metrics", duration - 1.0, curl_queue))
    poller.start()
    curl_poller.start()
    cpu0, t0 = cpu_seconds(members), time.monotonic()
    psutil.cpu_percent(None)
    bench = psutil.Process()
    bench.cpu_percent(None)
    status_mid = None
    await asyncio.sleep(duration / 2)
    status_mid = await asyncio.to_thread(srv.status)
    results = await asyncio.gather(*tasks, return_exceptions=True)
    cpu = (cpu_seconds(members) - cpu0) / (time.monotonic() - t0) * 100.0
    system_cpu = psutil.cpu_percent(None) * psutil.cpu_count()
    bench_cpu = bench.cpu_percent(None)
    after = srv.metrics()
    metric_times = queue.get(timeout=30)
    curl_times = curl_queue.get(timeout=60)
    poller.join(10)
    curl_poller.join(10)
    gaps = [r for r in results if isinstance(r, BaseException)]
    ok = [r for r in results if not isinstance(r, BaseException)]
    inter = np.concatenate([np.diff(r["arrivals"]) * 1000 for r in ok if len(r["arrivals"]) > 1]) if ok else np.array([])
    per_client_rate = [len(r["arrivals"]) / duration * 0.1 for r in ok]
    return {
        "listeners": n,
        "active_mid": status_mid["active_connections"],
        "server_underruns": after["buffer_underruns"] - before["buffer_underruns"],
        "errors": [repr(g) for g in gaps][:3],
        "dropped": sum(1 for r in ok if r["dropped"]),
        "inter_p50_ms": float(np.percentile(inter, 50)) if inter.size else None,
        "inter_p99_ms": float(np.percentile(inter, 99)) if inter.size else None,
        "inter_max_ms": float(inter.max()) if inter.size else None,
        "min_realtime_ratio": min(per_client_rate) if per_client_rate else 0.0,
        "synth_p50_ms": after["synthesis_latency_ms"]["p50"],
        "synth_p99_ms": after["synthesis_latency_ms"]["p99"],
        "metrics_p50_ms": statistics.median(metric_times),
        "metrics_p99_ms": float(np.percentile(metric_times, 99)),
        "metrics_curl_p50_ms": statistics.median(curl_times),
        "metrics_curl_p99_ms": float(np.percentile(curl_times, 99)),
        "server_cpu_pct": cpu,
        "clients_cpu_pct": bench_cpu,
        "others_cpu_pct": max(0.0, system_cpu - cpu - bench_cpu),
        "loadavg_1m": os.getloadavg()[0],
        "server_rss_mb": after["memory_usage_mb"],
    }


def server_processes(pid: int) -> list[psutil.Process]:
    """The server process and its workers (not multiprocessing's resource tracker)."""
    server = psutil.Process(pid)
    out = [server]
    for child in server.children(recursive=True):
        try:
            if "resource_tracker" not in " ".join(child.cmdline()):
                out.append(child)
        except psutil.Error:
            pass
    return out


def cpu_seconds(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        try:
            total += sum(p.cpu_times()[:2])
        except psutil.Error:
            pass
    return total


def passed(r: dict) -> bool:
    return (
        r["server_underruns"] == 0
        and not r["errors"]
        and r["dropped"] == 0
        and r["inter_p99_ms"] is not None
        and r["inter_p99_ms"] < 150.0
        and r["active_mid"] == r["listeners"]
    )


async def rss_with(srv, n: int, seconds: float) -> float:
    end = time.monotonic() + seconds
    tasks = [asyncio.create_task(listener(srv.ws_url, 500 + i, end, end)) for i in range(n)]
    await asyncio.sleep(seconds - 1)
    rss = (await asyncio.to_thread(srv.metrics))["memory_usage_mb"]
    await asyncio.gather(*tasks, return_exceptions=True)
    return rss


def print_table(rows: list[dict]) -> None:
    print("| workers | listeners | server underruns | drops | inter-arrival p50 / p99 / max (ms) | min real-time ratio "
          "| synthesis p50 / p99 (ms) | /api/metrics p50 / p99 (ms), socket; curl | CPU server / clients / other | RSS (MB) | pass |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['workers']} | {r['listeners']} | {r['server_underruns']} | {r['dropped']} | "
            f"{r['inter_p50_ms']:.1f} / {r['inter_p99_ms']:.1f} / {r['inter_max_ms']:.1f} | "
            f"{r['min_realtime_ratio']:.3f} | {r['synth_p50_ms']:.2f} / {r['synth_p99_ms']:.2f} | "
            f"{r['metrics_p50_ms']:.2f} / {r['metrics_p99_ms']:.2f}; "
            f"{r['metrics_curl_p50_ms']:.2f} / {r['metrics_curl_p99_ms']:.2f} | "
            f"{r['server_cpu_pct']:.0f}% / {r['clients_cpu_pct']:.0f}% / {r['others_cpu_pct']:.0f}% | "
            f"{r['server_rss_mb']:.0f} | {'yes' if r['pass'] else 'no'} |"
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=60.0, help="measured seconds per level (default 60)")
    ap.add_argument("--levels", default="20,40,60,80,100,120,140", help="listener counts, ascending")
    ap.add_argument("--format", default="json", choices=["json", "pcm", "opus"], help="what every listener asks for")
    ap.add_argument("--lead-chunks", type=int, default=None, help="pin every stream's render lead (AURALIS_LEAD_CHUNKS and _SHORT); unset: the server chooses by headroom")
    ap.add_argument("--workers", default="1", help="worker counts compared in this run, e.g. 1,2 (default 1)")
    ap.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"],
                    help="the server's AURALIS_LOG_LEVEL (default info, the server's own default: an access line per answer)")
    ap.add_argument("--half", action="store_true",
                    help="then time /api/metrics with half the capacity connected (target: p99 <= 5 ms)")
    args = ap.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    cap = str(max(levels) + 10)
    env = {"AURALIS_MAX_CONNECTIONS": cap, "AURALIS_MAX_PERSONAL_STREAMS": cap, "AURALIS_LOG_LEVEL": args.log_level}
    if args.lead_chunks is not None:  # pinned: every stream at this lead
        env["AURALIS_LEAD_CHUNKS"] = env["AURALIS_LEAD_CHUNKS_SHORT"] = str(args.lead_chunks)
    rows, summary = [], []
    for workers in (int(w) for w in args.workers.split(",")):
        extra = ["--workers", str(workers)] if workers > 1 else []
        with running_server(env=env, args=extra, timeout=120) as srv:
            idle_rss = srv.metrics()["memory_usage_mb"]
            rss10 = asyncio.run(rss_with(srv, 10, 15.0))
            print(f"--- {workers} worker(s), load {os.getloadavg()[0]:.1f}: RSS idle {idle_rss:.1f} MB, "
                  f"with 10 listeners {rss10:.1f} MB", flush=True)
            mine = []
            for n in levels:
                r = asyncio.run(run_level(srv, n, args.duration, args.format))
                r["workers"] = workers
                r["pass"] = passed(r)
                mine.append(r)
                print(json.dumps(r), flush=True)
                time.sleep(2.0)
                if not r["pass"]:
                    break
            best = max((r["listeners"] for r in mine if r["pass"]), default=0)
            half = None
            if args.half and best >= 2:
                h = asyncio.run(run_level(srv, best // 2, args.duration, args.format))
                h["workers"], h["pass"] = workers, passed(h)
                half = (h["metrics_p99_ms"], h["metrics_curl_p99_ms"])
                print(json.dumps(h), flush=True)
                mine.append(h)
            rows += mine
            summary.append((workers, best, half, idle_rss, rss10))
    print()
    print_table(rows)
    print()
    for workers, best, half, idle_rss, rss10 in summary:
        line = (f"format {args.format}, lead {args.lead_chunks or 'default'}, {workers} worker(s): capacity {best} "
                f"listeners for {args.duration:g} s; RSS idle {idle_rss:.1f} MB, 10 listeners {rss10:.1f} MB")
        if half is not None:
            line += (f"; /api/metrics p99 at half capacity {half[0]:.2f} ms (socket), {half[1]:.2f} ms (curl) "
                     f"(target <= 5 ms) {'PASS' if max(half) <= 5.0 else 'FAIL'}")
        print(line)
    if len(summary) > 1 and summary[0][1]:
        base_w, base = summary[0][0], summary[0][1]
        for workers, best, *_ in summary[1:]:
            print(f"capacity with {workers} workers / with {base_w}: {best} / {base} = {best / base:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
