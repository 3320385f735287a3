"""HLS for stations (issue 11): a real server (`auralis serve`) publishing station ``focus`` as HLS,
a real nginx (started here) serving the directory, Debian's ffmpeg and simulated players.

1. **ffmpeg decodes 60 s** of ``http://127.0.0.1:PORT/hls/focus/index.m3u8`` through nginx: its
   warnings/errors, the audio it decoded against 60 s, and the wall time it took.
2. **Continuity**: every segment published meanwhile is fetched through nginx; their AAC frames'
   timestamps (ffprobe) must step by exactly 1,024 samples across all boundaries (max deviation
   in 90 kHz ticks; 1 = rounding), and the frames must add up to the playlists' EXTINF.
3. **Real time**: when each new segment is first listed (the playlist polled every second), as a
   line fitted against its number: wall seconds per segment (= the segment length when the
   playlist moves in real time), and how long after its last sample's station time it is listed.
4. **1,000 players through nginx**: the Auralis process's CPU in alternating windows without and
   with N simulated HLS players (4 processes of asyncio clients, one keep-alive HTTP/1.1
   connection each to nginx; each re-reads the playlist every half segment and fetches each new
   segment, as hls.js does), as a ratio; nginx's CPU and the players' request rate beside it.

5. **Takeover**: two instances and a real redis-server, default TTL and segments; SIGKILL the
   writer and time until the other has written its first segment (a few rounds).

Run: .venv/bin/python bench/bench_hls.py [--seconds 60] [--players 1000] [--window 15] [--rounds 3]
     [--takeovers 3]  (about 7 minutes)
"""

from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing as mp
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from auralis.streaming.station_score import STATION_EPOCH  # noqa: E402
from tests.support.hls import parse_playlist, running_nginx, running_redis, wait_until  # noqa: E402
from tests.support.server import running_server  # noqa: E402

SEGMENT_S = 4.0


def seg_number(name: str) -> int:
    return int(re.fullmatch(r"seg-(\d+)\.ts", name).group(1))  # type: ignore[union-attr]


class Collector(threading.Thread):
    """Polls the playlist through nginx every second: every new segment's bytes and listing time."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.segments: dict[int, tuple[bytes, float, float]] = {}  # number -> (data, extinf, listed at)
        self.stop = threading.Event()

    def run(self) -> None:
        base = self.url.rsplit("/", 1)[0]
        with httpx.Client(timeout=5) as c:
            while not self.stop.is_set():
                now = time.time()
                _, segs = parse_playlist(c.get(self.url).text)
                first_poll = not self.segments
                for name, dur in segs:
                    n = seg_number(name)
                    if n not in self.segments:  # listed at: unknown for those listed before the first poll
                        self.segments[n] = (c.get(f"{base}/{name}").content, dur, math.nan if first_poll else now)
                self.stop.wait(1.0)


async def http_get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str) -> bytes:
    """One keep-alive HTTP/1.1 GET on an open connection; the body (nginx sends Content-Length)."""
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    status = head.split(b" ", 2)[1]
    length = int(re.search(rb"(?i)\r\ncontent-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
    body = await reader.readexactly(length)
    if status != b"200":
        raise OSError(f"HTTP {status.decode()} for {path}")
    return body


async def player(port: int, t_end: float, counts: list[int], active: Any) -> None:
    """One simulated HLS player on its own keep-alive connection: the playlist every half segment
    (as hls.js reloads a live playlist), then each new segment once (starting at the live edge)."""
    seen: set[str] = set()
    await asyncio.sleep(np.random.uniform(0, SEGMENT_S / 2))
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.time() < t_end:
            if not active.is_set():  # paused: the "without" windows (the connection stays open)
                await asyncio.sleep(0.2)
                continue
            try:
                _, segs = parse_playlist((await http_get(reader, writer, "/hls/focus/index.m3u8")).decode())
                counts[0] += 1
                for name, _ in segs[-2:]:
                    if name not in seen:
                        seen.add(name)
                        counts[2] += len(await http_get(reader, writer, f"/hls/focus/{name}"))
                        counts[1] += 1
            except (OSError, asyncio.IncompleteReadError, AssertionError):
                counts[3] += 1
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            await asyncio.sleep(SEGMENT_S / 2)
    finally:
        writer.close()


def players_proc(port: int, n: int, t_end: float, q: mp.Queue, active: Any) -> None:
    async def main() -> list[int]:
        counts = [0, 0, 0, 0]  # playlists, segments, bytes, errors
        await asyncio.gather(*(player(port, t_end, counts, active) for _ in range(n)))
        return counts

    q.put(asyncio.run(main()))


def cpu_over(proc: psutil.Process, seconds: float) -> float:
    """CPU of `proc` (all its threads) over `seconds`, in % of one core."""
    t0, c0 = time.monotonic(), sum(proc.cpu_times()[:2])
    time.sleep(seconds)
    return 100 * (sum(proc.cpu_times()[:2]) - c0) / (time.monotonic() - t0)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--players", type=int, default=1000)
    ap.add_argument("--window", type=float, default=15.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--procs", type=int, default=4)
    ap.add_argument("--takeovers", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="auralis-hls-bench-") as d:
        hls_dir = Path(d)
        env = {"AURALIS_HLS_DIR": d, "AURALIS_HLS_STATIONS": "focus", "AURALIS_HLS_SEGMENT_S": str(SEGMENT_S),
               "AURALIS_LOG_LEVEL": "warning"}
        with running_server(env=env) as srv, running_nginx(hls_dir) as ngx:
            url = f"{ngx}/hls/focus/index.m3u8"

            def listed() -> bool:
                try:
                    return len(parse_playlist(httpx.get(url, timeout=5).text)[1]) >= 3
                except (httpx.HTTPError, AssertionError):
                    return False

            wait_until(listed, 60, "three segments listed", interval=0.5)
            print(f"load average at start: {os.getloadavg()[0]:.1f}")
            coll = Collector(url)
            coll.start()
            t0 = time.monotonic()
            out = subprocess.run(
                ["ffmpeg", "-v", "warning", "-i", url, "-t", str(args.seconds), "-f", "s16le", "-ac", "2",
                 "-ar", "44100", "-"], capture_output=True, timeout=args.seconds * 3 + 60,
            )
            wall = time.monotonic() - t0
            time.sleep(SEGMENT_S + 1)
            coll.stop.set()
            coll.join()
            pcm = np.frombuffer(out.stdout, dtype="<i2")
            msgs = [m for m in out.stderr.decode(errors="replace").splitlines() if m.strip()]
            print(f"\n1. ffmpeg -i {url} -t {args.seconds:g}: exit {out.returncode}, "
                  f"{len(msgs)} warning/error lines, decoded {len(pcm) / 2 / 44100:.3f} s in {wall:.1f} s wall")
            for m in msgs[:5]:
                print("   ffmpeg:", m)

            nums = sorted(coll.segments)
            missing = sorted(set(range(nums[0], nums[-1] + 1)) - set(nums))
            data = b"".join(coll.segments[n][0] for n in nums)
            probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
                                    "packet=pts,duration", "-of", "csv=p=0", "-f", "mpegts", "-"],
                                   input=data, capture_output=True, timeout=120, check=True)
            rows = [r.split(",") for r in probe.stdout.decode().split() if r.strip(", ")]
            pts = np.array([int(r[0]) for r in rows], dtype=np.int64)
            frame = 1024 * 90000 / 44100
            ticks = np.concatenate([[0], np.cumsum(np.diff(pts) % 2**33)])  # across the 33-bit wrap
            dev = np.abs(ticks - np.arange(len(pts)) * frame).max()
            extinf = sum(coll.segments[n][1] for n in nums)
            print(f"2. continuity: {len(nums)} segments ({nums[0]}..{nums[-1]}), {len(missing)} missing numbers, "
                  f"{len(pts)} AAC frames = {len(pts) * 1024 / 44100:.3f} s vs EXTINF sum {extinf:.3f} s, "
                  f"max timestamp deviation {dev:.2f} ticks of 90 kHz")

            seen = [(n, listed_at) for n, (_, _, listed_at) in sorted(coll.segments.items()) if not math.isnan(listed_at)]
            slope = np.polyfit([n for n, _ in seen], [t for _, t in seen], 1)[0]  # wall s per segment
            delays = [t - (STATION_EPOCH + (n + 1) * SEGMENT_S) for n, t in seen]
            print(f"3. real time: {len(seen)} segments listed one per {slope:.3f} s of wall time (fit; "
                  f"{SEGMENT_S / slope:.3f} s of audio per s); each listed {statistics.median(delays):+.2f} s "
                  f"(median; min {min(delays):+.2f}, max {max(delays):+.2f} s) after its last sample's station "
                  f"time (the playlist polled every 1 s: up to 1 s late)")

            server = psutil.Process(srv.process.pid)
            master = next(p for p in psutil.process_iter(["name", "cmdline"])
                          if p.info["name"] == "nginx" and any(str(hls_dir) in a or "auralis-nginx-" in a
                                                               for a in p.info["cmdline"] or []))
            ngx_procs = [master, *master.children()]
            # Alternate windows without and with the players, `--rounds` times: the Auralis process's
            # CPU varies with the music and with the other load on the machine, so one pair proves little.
            rounds = args.rounds
            t_end = time.time() + rounds * (2 * args.window + 6) + 20
            q: mp.Queue = mp.Queue()
            active = mp.Event()
            per = args.players // args.procs
            port = int(ngx.rsplit(":", 1)[1])
            procs = [mp.Process(target=players_proc, args=(port, per, t_end, q, active)) for _ in range(args.procs)]
            for p in procs:
                p.start()
            time.sleep(3)  # connected, paused
            idle, loaded, ngx_cpu = [], [], []
            active_s = 0.0
            for _ in range(rounds):
                active.clear()
                time.sleep(3)
                idle.append(cpu_over(server, args.window))
                active.set()
                time.sleep(3)
                ngx_c0 = sum(sum(p.cpu_times()[:2]) for p in ngx_procs)
                loaded.append(cpu_over(server, args.window))
                ngx_cpu.append(100 * (sum(sum(p.cpu_times()[:2]) for p in ngx_procs) - ngx_c0) / args.window)
                active_s += args.window + 3
            active.clear()
            totals = [0, 0, 0, 0]
            for _ in procs:
                for i, v in enumerate(q.get(timeout=t_end - time.time() + 120)):
                    totals[i] += v
            for p in procs:
                p.join(30)
            ratios = [b / a for a, b in zip(idle, loaded)]
            print(f"4. {per * args.procs} players through nginx, {rounds} rounds of {args.window:g} s without / "
                  f"{args.window:g} s with: Auralis CPU (% of a core) without {', '.join(f'{x:.1f}' for x in idle)}; "
                  f"with {', '.join(f'{x:.1f}' for x in loaded)}; median ratio {statistics.median(ratios):.2f} "
                  f"(per round {', '.join(f'{r:.2f}' for r in ratios)}); nginx {statistics.median(ngx_cpu):.1f} % "
                  f"while the players ran; players fetched {totals[0] / active_s:.0f} playlists/s and "
                  f"{totals[1] / active_s:.0f} segments/s ({totals[2] * 8 / active_s / 1e6:.1f} Mbit/s), "
                  f"{totals[3]} errors")
            print(f"load average at end: {os.getloadavg()[0]:.1f}")
            ok = out.returncode == 0 and not msgs and not missing and dev <= 1.0
    took = takeover(args.takeovers)
    return 0 if ok and max(took) < 10 else 1


def hls_state(url: str) -> dict:
    r = httpx.get(f"{url}/api/stations", timeout=10)
    return next(s for s in r.json()["stations"] if s["name"] == "focus")["hls"]


def takeover(rounds: int) -> list[float]:
    """5. Two instances with the default TTL and segment length and a real redis-server: SIGKILL
    the writer; seconds until the other one has written its first segment. Repeated `rounds`
    times (a new instance replaces the killed one each time)."""
    took: list[float] = []
    with tempfile.TemporaryDirectory(prefix="auralis-hls-bench-") as d, running_redis() as redis_url:
        env = {"AURALIS_HLS_DIR": d, "AURALIS_HLS_STATIONS": "focus", "AURALIS_REDIS_URL": redis_url,
               "AURALIS_LOG_LEVEL": "warning"}
        with ExitStack() as stack:
            servers = [stack.enter_context(running_server(env=env)) for _ in range(2)]
            for _ in range(rounds):
                writer = wait_until(lambda: next((s for s in servers if hls_state(s.url)["writing"]
                                                  and hls_state(s.url)["segments_written"] >= 1), None),
                                    60, "a writer", interval=0.2)
                other = next(s for s in servers if s is not writer)
                before = hls_state(other.url)["segments_written"]
                writer.process.kill()
                t0 = time.monotonic()
                wait_until(lambda: hls_state(other.url)["segments_written"] > before, 30, "takeover", interval=0.05)
                took.append(time.monotonic() - t0)
                writer.process.wait(10)
                servers = [other, stack.enter_context(running_server(env=env))]
    print(f"5. takeover after SIGKILL of the writer (TTL 4 s, 4 s segments, {rounds} rounds): first segment "
          f"by the new writer after {statistics.median(took):.2f} s median, {max(took):.2f} s max "
          f"({', '.join(f'{t:.2f}' for t in took)})")
    return took


if __name__ == "__main__":
    sys.exit(main())
