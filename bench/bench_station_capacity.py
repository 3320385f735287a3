"""Station capacity over real sockets: N listeners of one station, half WebSocket ``opus`` and half
HTTP ``.ogg``, served by a real server (``auralis serve``, ``--workers W``) on loopback.

The load clients are cheap on purpose (they share the machine with the server): several
processes, each an asyncio loop of raw sockets. A WebSocket client does the handshake by hand,
reads frames, answers pings and takes ``seq`` from each AUR2 header; an HTTP client de-chunks the
HTTP/1.1 body and walks the Ogg pages (page sequence numbers, granule positions).

Per level it reports: server CPU per 100 listeners (% of one core), server RSS per listener,
seq gaps (WebSocket seq, Ogg page sequence), the fraction of real time each listener received
over the measured window (worst listener), WebSocket p99 inter-arrival, ``/api/metrics`` p99
(polled 5 times a second during the window), and the clients' own CPU apart.

With ``--workers 1,2`` it measures every level with one worker process, then with two (each
worker renders its own copy of the station; the kernel spreads the connections over them),
in the same run. Server CPU and RSS are the sums over every process of the server. Each client
notes which worker served it (``X-Auralis-Worker``), so the split is printed too.

After each level it prints every target of issue 10 with PASS or FAIL: 0 seq gaps, at least
0.98 of real time for every listener, WebSocket p99 inter-arrival under 250 ms, ``/api/metrics``
p99 at most 10 ms, RSS growth at most 50 KB per listener. Before the first level, 20 listeners per
worker start the station in every worker (not reported), so RSS growth is the listeners' cost.

Run: .venv/bin/python bench/bench_station_capacity.py [--levels 100,500,1000] [--seconds 30]
     [--procs 4] [--warmup 5] [--workers 1,2]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing as mp
import os
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
TARGETS = (
    ("seq gaps", "seq_gaps", lambda v: v == 0, "== 0"),
    ("worst listener's fraction of real time", "min_fraction_real_time", lambda v: v >= 0.98, ">= 0.98"),
    ("WebSocket p99 inter-arrival (ms)", "ws_p99_inter_arrival_ms", lambda v: v is not None and v < 250, "< 250"),
    ("/api/metrics p99 (ms)", "metrics_p99_ms", lambda v: v is not None and v <= 10, "<= 10"),
    ("RSS growth per listener (KB)", "rss_per_listener_kb", lambda v: v <= 50, "<= 50"),
    ("listeners refused or cut", "lost", lambda v: v == 0, "== 0"),
)


def _worker_of(head: bytes) -> str:
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"x-auralis-worker:"):
            return line.split(b":", 1)[1].strip().decode()
    return "-"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- load clients (child processes) ------------------------------------------------------------


async def ws_client(port: int, station: str, t_start: float, t_end: float, out: dict) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET /ws/stream?station={station}&format=opus HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    if b" 101 " not in head.split(b"\r\n", 1)[0]:
        out["refused"] += 1
        writer.close()
        return
    worker = _worker_of(head)
    out["workers"][worker] = out["workers"].get(worker, 0) + 1
    last_seq = -1
    last_t = None
    audio_s = 0.0
    try:
        while time.time() < t_end:
            b0, b1 = await reader.readexactly(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", await reader.readexactly(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", await reader.readexactly(8))[0]
            payload = await reader.readexactly(n)
            op = b0 & 0x0F
            now = time.time()
            if op == 2:
                seq = struct.unpack_from("<Q", payload, 16)[0]
                frames = struct.unpack_from("<I", payload, 12)[0]
                if last_seq >= 0 and seq != last_seq + 1:
                    out["gaps"] += 1
                last_seq = seq
                if now >= t_start:
                    audio_s += frames / 48000.0
                    if last_t is not None and last_t >= t_start:
                        out["inter"].append(now - last_t)
                last_t = now
            elif op == 9:  # ping: answer with a masked pong
                mask = os.urandom(4)
                masked = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
                writer.write(bytes([0x8A, 0x80 | len(payload)]) + mask + masked)
            elif op == 8:
                out["closed"] += 1
                break
    except (asyncio.IncompleteReadError, ConnectionError):
        out["closed"] += 1
    out["fractions"].append(audio_s / (t_end - t_start))
    writer.close()


async def ogg_client(port: int, station: str, t_start: float, t_end: float, out: dict) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET /stream/{station}.ogg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    if b" 200 " not in head.split(b"\r\n", 1)[0]:
        out["refused"] += 1
        writer.close()
        return
    worker = _worker_of(head)
    out["workers"][worker] = out["workers"].get(worker, 0) + 1
    last_page = -1
    first_granule = None
    last_granule = 0
    buf = bytearray()
    try:
        while time.time() < t_end:
            size = int((await reader.readuntil(b"\r\n"))[:-2], 16)  # HTTP/1.1 chunked body
            buf += await reader.readexactly(size + 2)
            del buf[-2:]
            while len(buf) >= 27:
                if buf[:4] != b"OggS":
                    raise ValueError("lost Ogg sync")
                nseg = buf[26]
                if len(buf) < 27 + nseg:
                    break
                end = 27 + nseg + sum(buf[27 : 27 + nseg])
                if len(buf) < end:
                    break
                granule, _serial, pageno = struct.unpack_from("<qII", buf, 6)
                del buf[:end]
                if granule > 0:
                    if last_page >= 0 and pageno != last_page + 1:
                        out["gaps"] += 1
                    last_page = pageno
                    if time.time() >= t_start and first_granule is None:
                        first_granule = last_granule
                    last_granule = granule
    except (asyncio.IncompleteReadError, ConnectionError, ValueError):
        out["closed"] += 1
    got = (last_granule - first_granule) / 48000.0 if first_granule is not None else 0.0
    out["fractions"].append(got / (t_end - t_start))
    writer.close()


def client_process(port: int, station: str, n_ws: int, n_ogg: int, t_start: float, t_end: float, q: mp.Queue) -> None:
    out: dict = {"gaps": 0, "closed": 0, "refused": 0, "inter": [], "fractions": [], "workers": {}}

    async def main() -> None:
        tasks = []
        for i in range(max(n_ws, n_ogg)):
            if i < n_ws:
                tasks.append(asyncio.create_task(ws_client(port, station, t_start, t_end, out)))
            if i < n_ogg:
                tasks.append(asyncio.create_task(ogg_client(port, station, t_start, t_end, out)))
            if i % 20 == 19:
                await asyncio.sleep(0.05)  # connect in waves
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(main())
    out["cpu_s"] = sum(os.times()[:2])
    inter = sorted(out.pop("inter"))
    out["inter_p99"] = inter[int(0.99 * (len(inter) - 1))] if inter else None
    out["inter_n"] = len(inter)
    q.put(out)


# --- the run -------------------------------------------------------------------------------------


def server_processes(server: psutil.Process) -> list[psutil.Process]:
    """The server and its workers (not multiprocessing's resource tracker)."""
    out = [server]
    for child in server.children(recursive=True):
        try:
            if "resource_tracker" not in " ".join(child.cmdline()):
                out.append(child)
        except psutil.Error:
            pass
    return out


def _sum(procs: list[psutil.Process], what: str) -> float:
    total = 0.0
    for p in procs:
        try:
            total += sum(p.cpu_times()[:2]) if what == "cpu" else p.memory_info().rss
        except psutil.Error:
            pass
    return total


def run_level(port: int, server: psutil.Process, n: int, procs: int, seconds: float, warmup: float) -> dict:
    members = server_processes(server)
    rss0 = _sum(members, "rss")
    t_connect = time.time()
    t_start = t_connect + warmup + n / 200.0  # connecting takes a while at high counts
    t_end = t_start + seconds
    q: mp.Queue = mp.Queue()
    n_ws, n_ogg = n // 2, n - n // 2
    children = []
    for p in range(procs):
        w = n_ws // procs + (1 if p < n_ws % procs else 0)
        o = n_ogg // procs + (1 if p < n_ogg % procs else 0)
        c = mp.Process(target=client_process, args=(port, "focus", w, o, t_start, t_end, q))
        c.start()
        children.append(c)
    metrics_ms: list[float] = []
    peak_listeners = 0

    def poll() -> None:
        nonlocal peak_listeners
        with httpx.Client(timeout=30) as c:
            while time.time() < t_end:
                t0 = time.perf_counter()
                try:
                    c.get(f"http://127.0.0.1:{port}/api/metrics")
                    took = (time.perf_counter() - t0) * 1000
                    st = c.get(f"http://127.0.0.1:{port}/api/status").json()
                    peak_listeners = max(peak_listeners, st["active_connections"])
                except httpx.HTTPError:
                    took = float("inf")
                if time.time() >= t_start:
                    metrics_ms.append(took)
                time.sleep(0.2)

    poller = threading.Thread(target=poll)
    poller.start()
    while time.time() < t_start:
        time.sleep(0.05)
    cpu0 = _sum(members, "cpu")
    time.sleep(max(0.0, t_end - time.time()))
    cpu1 = _sum(members, "cpu")
    rss1 = _sum(members, "rss")
    poller.join()
    results = [q.get(timeout=60) for _ in children]
    for c in children:
        c.join(30)
    fractions = [f for r in results for f in r["fractions"]]
    inter = [r["inter_p99"] for r in results if r["inter_p99"] is not None]
    metrics_ms.sort()
    server_cpu = (cpu1 - cpu0) / seconds * 100.0
    split: dict[str, int] = {}
    for r in results:
        for w, k in r["workers"].items():
            split[w] = split.get(w, 0) + k
    refused, closed = sum(r["refused"] for r in results), sum(r["closed"] for r in results)
    return {
        "listeners": n,
        "server_processes": len(members),
        "listeners_by_worker": ",".join(f"{w}:{k}" for w, k in sorted(split.items())),
        "lost": refused + closed,
        "peak_active_connections": peak_listeners,
        "refused": refused,
        "closed_early": closed,
        "server_cpu_pct": server_cpu,
        "server_cpu_pct_per_100": server_cpu / n * 100.0,
        "rss_per_listener_kb": (rss1 - rss0) / n / 1024.0,
        "seq_gaps": sum(r["gaps"] for r in results),
        "min_fraction_real_time": min(fractions) if fractions else 0.0,
        "median_fraction_real_time": statistics.median(fractions) if fractions else 0.0,
        "ws_p99_inter_arrival_ms": max(inter) * 1000 if inter else None,
        "metrics_p99_ms": metrics_ms[int(0.99 * (len(metrics_ms) - 1))] if metrics_ms else None,
        "clients_cpu_pct": sum(r["cpu_s"] for r in results) / (seconds + warmup) * 100.0,
        "window": (t_start, t_end),
    }


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[int(q * (len(values) - 1))] if values else float("nan")


def probe_summary(path: Path, window: tuple[float, float]) -> dict:
    """What `serve_probed.py` recorded inside the server during one level's window (wall-clock
    times; "CPU" is the thread's own CPU time over the same span: the rest is waiting for a core
    or for the GIL)."""
    data: dict = {"gc": [], "lag": [], "requests": [], "heaps": []}
    for line in path.read_text().splitlines():
        name, row = json.loads(line)
        if name == "state":
            data.update(row)
        else:
            data[name].append(row)
    t0, t1 = window
    gcs = [e[1:] for e in data["gc"] if t0 <= e[0] <= t1]
    lags = [e[1:] for e in data["lag"] if t0 <= e[0] <= t1]
    reqs = [(ms, turns) for t, ms, turns in data["requests"] if t0 <= t <= t1]
    out: dict = {"objects frozen at start-up": data.get("frozen"), "gc thresholds": data.get("thresholds")}
    for gen in (0, 1, 2):
        # rows of older probe files have no walked/collected counts
        pauses = [(e[1], e[2], *(e[3:5] if len(e) >= 5 else (0, 0))) for e in gcs if e[0] == gen]
        out[f"gc{gen}"] = (f"{len(pauses)} x, max {max((p[0] for p in pauses), default=0):.1f} ms "
                           f"(CPU {max((p[1] for p in pauses), default=0):.1f}), "
                           f"{sum(p[0] for p in pauses):.0f} ms in all (CPU {sum(p[1] for p in pauses):.0f}); "
                           f"objects walked median {_pct([p[2] for p in pauses], 0.5):.0f}, max "
                           f"{max((p[2] for p in pauses), default=0)}; cyclic garbage freed {sum(p[3] for p in pauses)}")
    out["gc CPU in all (ms)"] = f"{sum(e[2] for e in gcs):.0f}"
    out["loop turn p50 / p99 / max (ms)"] = " / ".join(f"{_pct([e[1] for e in lags], q):.2f}" for q in (0.5, 0.99, 1.0))
    out["loop turn CPU p50 / p99 / max (ms)"] = " / ".join(f"{_pct([e[2] for e in lags], q):.2f}" for q in (0.5, 0.99, 1.0))
    out["timer lateness p99 / max (ms)"] = " / ".join(f"{_pct([e[0] for e in lags], q):.2f}" for q in (0.99, 1.0))
    out["metrics in the server p50 / p99 / max (ms)"] = " / ".join(f"{_pct([m for m, _ in reqs], q):.2f}" for q in (0.5, 0.99, 1.0))
    out["metrics: turns of the loop after the first, max"] = f"{max((n for _, n in reqs), default=0)}"
    return out


def idle_metrics(port: int, n: int = 200) -> tuple[float, float]:
    """(p50, p99) ms of `n` sequential ``/api/metrics`` requests: the handler's own cost on an
    idle server (no listeners)."""
    took = []
    with httpx.Client(timeout=30) as c:
        for _ in range(n):
            t0 = time.perf_counter()
            c.get(f"http://127.0.0.1:{port}/api/metrics").raise_for_status()
            took.append((time.perf_counter() - t0) * 1000)
    return _pct(took, 0.5), _pct(took, 0.99)


def print_targets(r: dict) -> bool:
    ok_all = True
    for label, key, ok, target in TARGETS:
        value = r[key]
        ok_value = ok(value)
        ok_all &= ok_value
        shown = f"{value:.3g}" if isinstance(value, float) else str(value)
        print(f"    {label}: {shown} (target {target}) {'PASS' if ok_value else 'FAIL'}")
    print(f"    server CPU per 100 listeners: {r['server_cpu_pct_per_100']:.2f} % of a core "
          f"({r['server_cpu_pct']:.1f} % in all, {r['server_processes']} server processes)")
    return ok_all


def run_server(workers: int, levels: list[int], args: argparse.Namespace) -> list[dict]:
    port = free_port()
    env = {
        **os.environ,
        "AURALIS_LOG_LEVEL": "warning",
        "AURALIS_MAX_CONNECTIONS": "10000",
        "AURALIS_STATIONS_ALWAYS_ON": "false",
        "PYTHONPATH": str(ROOT),
    }
    log = tempfile.NamedTemporaryFile(prefix="bench-stations-", suffix=".log", delete=False)
    cmd = [sys.executable, "-m", "auralis.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    probe = None
    if args.probe and workers == 1:  # the probes follow one process
        probe = Path(tempfile.mkdtemp(prefix="bench-stations-probe-")) / "probe.json"
        env["AURALIS_PROBE_FILE"] = str(probe)
        cmd[1:3] = [str(ROOT / "bench" / "serve_probed.py")]
    if workers > 1:
        cmd += ["--workers", str(workers)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    rows = []
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/status").json()["soundfont_loaded"]:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        time.sleep(2.0)  # the stations start after the SoundFont
        server = psutil.Process(proc.pid)
        print(f"--- {workers} worker(s): server pid {proc.pid}, {os.cpu_count()} cores, "
              f"load {os.getloadavg()[0]:.1f} (1-minute average; the machine may be shared)", flush=True)
        # start the station (and its Ogg and Opus encoders) in every worker first, so that the
        # RSS growth of a level is what its listeners cost, not the station's start
        run_level(port, server, 20 * workers, 1, 2.0, 1.0)
        time.sleep(1.0)
        p50, p99 = idle_metrics(port)
        print(f"    /api/metrics with no listener (200 requests, the handler's own cost): "
              f"p50 {p50:.2f} ms, p99 {p99:.2f} ms", flush=True)
        for n in levels:
            r = run_level(port, server, n, args.procs, args.seconds, args.warmup)
            r["workers"] = workers
            print(" | ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in r.items() if k != "window"),
                  flush=True)
            r["pass"] = print_targets(r)
            if probe is not None:
                time.sleep(2.5)  # the probe writes its file every 2 s
                for k, v in probe_summary(probe, r["window"]).items():
                    print(f"    probe: {k}: {v}")
            rows.append(r)
            time.sleep(3)
        print(f"load after: {os.getloadavg()[0]:.1f}")
    finally:
        proc.terminate()
        proc.wait(15)
        print(f"server log: {log.name}")
    return rows


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--levels", default="100,500,1000")
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--warmup", type=float, default=5.0)
    ap.add_argument("--procs", type=int, default=4)
    ap.add_argument("--workers", default="1", help="worker counts to compare in this run, e.g. 1,2")
    ap.add_argument("--probe", action="store_true",
                    help="with one worker: GC pauses, loop turns and /api/metrics inside the server "
                         "(bench/serve_probed.py)")
    args = ap.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    rows = []
    for workers in (int(w) for w in args.workers.split(",")):
        rows += run_server(workers, levels, args)
    print()
    print("| workers | listeners | split by worker | server CPU (% of a core) | per 100 listeners | RSS growth per listener "
          "| seq gaps | real time (worst / median) | WS p99 inter-arrival | /api/metrics p99 | clients' CPU | all targets |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        ws = r["ws_p99_inter_arrival_ms"]
        mp99 = r["metrics_p99_ms"]
        print(
            f"| {r['workers']} | {r['listeners']} | {r['listeners_by_worker']} | {r['server_cpu_pct']:.1f} "
            f"| {r['server_cpu_pct_per_100']:.2f} | {r['rss_per_listener_kb']:.0f} KB | {r['seq_gaps']} "
            f"| {r['min_fraction_real_time']:.3f} / {r['median_fraction_real_time']:.3f} "
            f"| {'-' if ws is None else f'{ws:.0f} ms'} | {'-' if mp99 is None else f'{mp99:.1f} ms'} "
            f"| {r['clients_cpu_pct']:.0f} % | {'PASS' if r['pass'] else 'FAIL'} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
