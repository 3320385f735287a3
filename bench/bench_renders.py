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

Part 2 (a real server): 8 pcm listeners; the p50/p99/max chunk inter-arrival and the server
underruns (/api/metrics) over 20 s phases, alternately without a render and while 10-minute WAV
renders run (POST /api/renders), three rounds on one server; medians of each kind. The machine is
shared: the alternation is what makes the two comparable.

    .venv/bin/python bench/bench_renders.py            # full (about 4 minutes)
    .venv/bin/python bench/bench_renders.py --quick    # smaller (about 1.5 minutes)
"""

from __future__ import annotations

import argparse
import asyncio
import os
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


async def phase(srv, listeners: int, measure: float, render_s: float | None, seed0: int) -> dict:
    """`listeners` pcm listeners for `measure` s after a 3 s warm-up; with `render_s`, a WAV
    render of that length is posted when the measurement starts."""
    import psutil

    warm = 3.0
    t0 = time.monotonic()
    arrivals: list[list[float]] = [[] for _ in range(listeners)]
    tasks = [asyncio.create_task(listen(srv.ws_url, seed0 + i, t0 + warm, t0 + warm + measure, arrivals[i]))
             for i in range(listeners)]
    m0 = await asyncio.to_thread(srv.metrics)
    out: dict = {}
    await asyncio.sleep(max(0.0, t0 + warm - time.monotonic()))
    if render_s is not None:
        timeline = {"format": "auralis-timeline", "version": 1, "seed": seed0, "params": {"mode": "dorian"}, "changes": []}
        async with httpx.AsyncClient(base_url=srv.url, timeout=10) as client:
            r = await client.post("/api/renders", json={"timeline": timeline, "from": 0, "to": render_s, "format": "wav"})
            r.raise_for_status()
            job = r.json()
            posted = time.monotonic()
            policy = None
            while time.monotonic() < t0 + warm + measure:
                await asyncio.sleep(0.5)
                job = (await client.get(job["url"])).json()
                for child in psutil.Process(srv.process.pid).children():
                    if "spawn_main" in " ".join(child.cmdline()):  # the render process, once it runs
                        policy = (child.nice(), os.sched_getscheduler(child.pid) == os.SCHED_IDLE)
            out["progress"] = job["progress"]
            out["elapsed"] = time.monotonic() - posted
            out["policy"] = policy
    await asyncio.gather(*tasks)
    m1 = await asyncio.to_thread(srv.metrics)
    st = [stats(a) for a in arrivals]
    out.update(p50=float(np.median([x[0] for x in st])), p99=max(x[1] for x in st), max=max(x[2] for x in st),
               underruns=m1["buffer_underruns"] - m0["buffer_underruns"])
    return out


async def part2(listeners: int, measure: float, render_s: float, rounds: int) -> None:
    print(f"\n## Other listeners during a render: {listeners} pcm listeners, {measure:g} s per phase, one server, "
          f"{rounds} rounds of (no render, render)\n")
    rows = []
    with running_server() as srv:
        for k in range(rounds):
            rows.append(("no render", await phase(srv, listeners, measure, None, 500 + 100 * k)))
            rows.append((f"during a {render_s / 60:g}-minute WAV render", await phase(srv, listeners, measure, render_s, 550 + 100 * k)))
    print("| round | phase | inter-arrival p50 (ms, median over listeners) | p99 (ms, worst listener) | max (ms) "
          "| server underruns | render progress at the phase's end |")
    print("|---|---|---|---|---|---|---|")
    for i, (name, r) in enumerate(rows):
        prog = f"{r['progress'] * 100:.0f}% after {r['elapsed']:.0f} s (nice, SCHED_IDLE: {r['policy']})" if "progress" in r else "-"
        print(f"| {i // 2 + 1} | {name} | {r['p50']:.1f} | {r['p99']:.1f} | {r['max']:.1f} | {r['underruns']} | {prog} |")
    without = [r for name, r in rows if "progress" not in r]
    during = [r for name, r in rows if "progress" in r]
    med = lambda rs, key: float(np.median([r[key] for r in rs]))  # noqa: E731
    print(f"\nmedians: p99 {med(without, 'p99'):.1f} ms without, {med(during, 'p99'):.1f} ms during "
          f"(ratio {med(during, 'p99') / med(without, 'p99'):.2f}); underruns per phase {med(without, 'underruns'):g} "
          f"without, {med(during, 'underruns'):g} during")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--skip-server", action="store_true")
    ap.add_argument("--only-server", action="store_true")
    args = ap.parse_args()
    if args.only_server:
        asyncio.run(part2(8, 15.0 if args.quick else 20.0, 600.0, 2 if args.quick else 3))
        return
    if args.quick:
        part1(96.0, 48.0, [1])
        if not args.skip_server:
            asyncio.run(part2(8, 15.0, 600.0, 2))
    else:
        part1(176.0, 96.0, [1, 2, 3])
        if not args.skip_server:
            asyncio.run(part2(8, 20.0, 600.0, 3))


if __name__ == "__main__":
    main()
