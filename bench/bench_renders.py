"""Downloads of what a listener heard (docs/renders.md): exactness, settle time, speed, and what a
render costs the other listeners.

Part 1 (one process): a real stream (StreamEngine, FluidSynth, FluidR3) plays `--seconds` with two
parameter changes handed over while its workers render; its timeline is then rendered back:

- from the stream's start: byte-identical PCM? identical span MIDI events?
- the last seconds (from a point of the 16 s grid) with no pre-roll (the held notes struck again at
  the span's start): the Pearson correlation with the stream in 1 s windows, and the **settle
  time**: from when on every window stays >= 0.99 (the notes held at the start have ended and
  their release and the reverb died away);
- the same span with the automatic pre-roll (`synthesis_start`): its length, the lowest window;
- render speed (audio seconds per wall second) and MIDI identity.

Part 2 (a real server): `--listeners` pcm listeners; the p50/p99/max chunk inter-arrival over
`measure` seconds without a render, then while a 10-minute WAV render runs (POST /api/renders);
server underruns from /api/metrics. Same server, same listeners, back to back.

    .venv/bin/python bench/bench_renders.py            # full (about 4 minutes)
    .venv/bin/python bench/bench_renders.py --quick    # smaller (about 1.5 minutes)
"""

from __future__ import annotations

import argparse
import asyncio
import struct
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from auralis.audio.offline import render_span  # noqa: E402
from auralis.audio.soundfont import find_soundfont  # noqa: E402
from auralis.music.params import MusicParams  # noqa: E402
from auralis.music.timeline import span_events  # noqa: E402
from auralis.streaming.engine import StreamEngine  # noqa: E402
from tests.support.server import running_server  # noqa: E402

SR = 44100
BIN_SEQ = struct.Struct("<Q")


def live_stream(seconds: float, seed: int) -> tuple[np.ndarray, list, object]:
    p0 = MusicParams(key=62).with_preset("focus")
    changes = {int(seconds * 10 * 0.3): p0.with_changes(mode="lydian", bpm=72.0, intensity=0.7),
               int(seconds * 10 * 0.6): p0.with_changes(key=65, mode="aeolian", bpm=52.0, intensity=0.4)}
    with StreamEngine(find_soundfont(None), workers=2) as engine:
        produced: list = []
        with engine._cond:  # no worker picks the stream before the spy is in place
            stream = engine.open_stream(p0, seed)
            real = stream._composer.events_until

            def spy(t: float) -> list:
                out = real(t)
                produced.extend(out)
                return out

            stream._composer.events_until = spy  # what the stream's composer gave, as it gave it
        pcm = bytearray()
        n = 0
        while n < int(seconds * 10):
            c = stream.pop()
            if c is None:
                if stream.error is not None:
                    raise stream.error
                time.sleep(0.0005)
                continue
            pcm += c.pcm
            n += 1
            if n in changes:
                stream.update_params(changes[n])
        timeline = stream.timeline
        stream.close()
    return np.frombuffer(bytes(pcm), dtype="<i2").reshape(-1, 2), produced, timeline


def windows(a: np.ndarray, b: np.ndarray, w: int = SR) -> list[float]:
    out = []
    for i in range(0, len(a) - w + 1, w):
        x, y = a[i : i + w].astype(float).ravel(), b[i : i + w].astype(float).ravel()
        out.append(float(np.corrcoef(x, y)[0, 1]) if x.std() > 0 and y.std() > 0 else 1.0)
    return out


def part1(seconds: float, span: float, seeds: list[int]) -> None:
    print(f"## Exactness: a {seconds:g} s stream with two live changes, its last {span:g} s rendered back\n")
    print("| seed | from 0: bytes equal | span MIDI equal | cold start at the span: first window / settle time "
          "(every later 1 s window >= 0.99) | automatic pre-roll: length / lowest window | render speed (x real time) |")
    print("|---|---|---|---|---|---|")
    for seed in seeds:
        pcm, produced, timeline = live_stream(seconds, seed)
        start, end = seconds - span, seconds
        prefix = min(30.0, seconds)
        parts: list[bytes] = []
        render_span(timeline, 0.0, prefix, on_pcm=parts.append)
        exact = b"".join(parts) == pcm[: int(prefix * SR)].tobytes()
        want = pcm[int(start * SR) :]
        parts = []
        cold = render_span(timeline, start, end, on_pcm=parts.append, preroll_s=0)
        assert cold.rendered_from == start, "the span must start on the 16 s grid"
        got = np.frombuffer(b"".join(parts), dtype="<i2").reshape(-1, 2)
        wc = windows(got, want)
        below = [i for i, c in enumerate(wc) if c < 0.99]
        settle = f"{below[-1] + 1} s" if not below or below[-1] + 1 < len(wc) else f"> {len(wc)} s"
        parts = []
        t0 = time.perf_counter()
        warm = render_span(timeline, start, end, on_pcm=parts.append)
        wall = time.perf_counter() - t0
        got = np.frombuffer(b"".join(parts), dtype="<i2").reshape(-1, 2)
        ww = windows(got, want)
        midi = warm.events == span_events(produced, start, end) == cold.events
        speed = (end - warm.rendered_from) / wall
        print(f"| {seed} | {exact} | {midi} | {wc[0]:.3f} / {settle} | {start - warm.rendered_from:g} s / {min(ww):.4f} "
              f"| {speed:.1f} |", flush=True)


async def listen(url: str, seed: int, t_from: float, t_to: float, arrivals: list[float]) -> None:
    async with websockets.connect(f"{url}/ws/stream?seed={seed}&format=pcm", compression=None, max_queue=64) as ws:
        while True:
            msg = await ws.recv()
            now = time.monotonic()
            if now >= t_to:
                return
            if isinstance(msg, bytes) and now >= t_from:
                arrivals.append(now)


def stats(arrivals: list[float]) -> tuple[float, float, float]:
    d = np.diff(np.array(arrivals)) * 1000
    return float(np.percentile(d, 50)), float(np.percentile(d, 99)), float(d.max())


async def part2(listeners: int, measure: float, render_s: float) -> None:
    print(f"\n## Other listeners during a render: {listeners} pcm listeners, {measure:g} s each phase\n")
    with running_server() as srv:
        warm = 3.0
        t0 = time.monotonic()
        a1: list[list[float]] = [[] for _ in range(listeners)]
        tasks = [asyncio.create_task(listen(srv.ws_url, 500 + i, t0 + warm, t0 + warm + measure, a1[i])) for i in range(listeners)]
        await asyncio.gather(*tasks)
        m0 = srv.metrics()
        a2: list[list[float]] = [[] for _ in range(listeners)]
        t0 = time.monotonic()
        tasks = [asyncio.create_task(listen(srv.ws_url, 500 + i, t0 + warm, t0 + warm + measure, a2[i])) for i in range(listeners)]
        await asyncio.sleep(warm)
        timeline = {"format": "auralis-timeline", "version": 1, "seed": 11, "params": {"mode": "dorian"}, "changes": []}
        async with httpx.AsyncClient(base_url=srv.url) as client:
            r = await client.post("/api/renders", json={"timeline": timeline, "from": 0, "to": render_s, "format": "wav"})
            r.raise_for_status()
            job = r.json()
            started = time.monotonic()
            progress_at_end = None
            while True:
                await asyncio.sleep(0.5)
                job = (await client.get(job["url"])).json()
                if time.monotonic() >= t0 + warm + measure and progress_at_end is None:
                    progress_at_end = job["progress"]
                if job["status"] in ("done", "failed"):
                    break
            render_wall = time.monotonic() - started
        await asyncio.gather(*tasks)
        m1 = srv.metrics()
    base = [stats(a) for a in a1]
    during = [stats(a) for a in a2]
    print("| phase | inter-arrival p50 (ms, median over listeners) | p99 (ms, worst listener) | max (ms) | server underruns |")
    print("|---|---|---|---|---|")
    print(f"| no render | {np.median([s[0] for s in base]):.1f} | {max(s[1] for s in base):.1f} | {max(s[2] for s in base):.1f} | "
          f"{m0['buffer_underruns']} |")
    print(f"| during a {render_s / 60:g}-minute WAV render | {np.median([s[0] for s in during]):.1f} | "
          f"{max(s[1] for s in during):.1f} | {max(s[2] for s in during):.1f} | {m1['buffer_underruns'] - m0['buffer_underruns']} |")
    print(f"\np99 ratio during/without: {max(s[1] for s in during) / max(s[1] for s in base):.2f}; the render ({job['status']}) "
          f"took {render_wall:.1f} s ({render_s / render_wall:.1f}x real time) and was at "
          f"{(progress_at_end or 1) * 100:.0f}% when the measurement ended.")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--skip-server", action="store_true")
    args = ap.parse_args()
    if args.quick:
        part1(96.0, 48.0, [1])
        if not args.skip_server:
            asyncio.run(part2(4, 15.0, 300.0))
    else:
        part1(176.0, 96.0, [1, 2, 3])
        if not args.skip_server:
            asyncio.run(part2(8, 30.0, 600.0))


if __name__ == "__main__":
    main()
