"""Audio engine benchmarks (issue 3). Prints a markdown report; reproduce with

    .venv/bin/python bench/bench_audio.py            # full run (about 3-4 minutes)
    .venv/bin/python bench/bench_audio.py --quick    # shorter pieces, for a smoke check

(a) a 10-minute piece: our renderer vs `fluidsynth -ni -F` on the same MIDI file, same settings;
(b) per-chunk render time p50/p99 (compose + synthesise + mix + limit + encode, as a stream does);
(c) real-time factor per core, and concurrent real-time streams with no underrun;
(d) RSS for 1, 10 and 50 streams (fresh processes);
(e) integrated loudness (pyloudnorm) of 10-minute renders of the four presets vs the target.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

import mido
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from auralis.audio.mixer import LOUDNESS_TARGET_LUFS  # noqa: E402
from auralis.audio.offline import render_offline  # noqa: E402
from auralis.audio.dither import TpdfDither  # noqa: E402
from auralis.audio.renderer import RenderConfig, Renderer, to_pcm16  # noqa: E402
from auralis.audio.soundfont import find_soundfont  # noqa: E402
from auralis.music.composer import Composer  # noqa: E402
from auralis.music.events import Event  # noqa: E402
from auralis.music.export import write_midi  # noqa: E402
from auralis.music.params import PRESETS, MusicParams  # noqa: E402
from auralis.streaming.chunk import CHUNK_FRAMES, CHUNK_SECONDS  # noqa: E402
from auralis.streaming.engine import StreamEngine  # noqa: E402

SF = find_soundfont()


def midi_events(path: Path) -> list[Event]:
    """The note events of a MIDI file, at their times in seconds (mido applies the tempo map)."""
    out, t = [], 0.0
    for msg in mido.MidiFile(str(path)):
        t += msg.time
        if msg.type == "note_on" and msg.velocity > 0:
            out.append(Event(t, "note_on", msg.channel, msg.note, msg.velocity))
        elif msg.type in ("note_on", "note_off"):
            out.append(Event(t, "note_off", msg.channel, msg.note))
    return out


def our_render(events: list[Event], seconds: float, wav: Path) -> tuple[float, float]:
    """Render the events to a 16-bit WAV the way the project does; (wall s, CPU s)."""
    t0, c0 = time.perf_counter(), time.process_time()
    total = int(round(seconds * 44100))
    dither = TpdfDither(1)
    with Renderer(SF) as r, wave.open(str(wav), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(44100)
        i, done = 0, 0
        while done < total:
            n = min(CHUNK_FRAMES, total - done)
            end = (done + n) / 44100
            j = i
            while j < len(events) and events[j].time < end:
                j += 1
            w.writeframesraw(to_pcm16(r.render(events[i:j], n), dither))
            i, done = j, done + n
    return time.perf_counter() - t0, time.process_time() - c0


def cli_render(mid: Path, wav: Path) -> tuple[float, float]:
    """Run the fluidsynth fast renderer; (wall s, CPU s of the child)."""
    opts = []
    for k, v in RenderConfig().synth_settings().items():
        # (the CLI's file renderer writes the first audio group only: it gets the plain mix)
        if k not in ("synth.sample-rate", "synth.audio-channels", "synth.audio-groups"):
            opts += ["-o", f"{k}={v}"]
    cmd = ["fluidsynth", "-ni", "-q", "-F", str(wav), "-r", "44100", *opts, str(SF), str(mid)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def bench_vs_cli(minutes: float, tmp: Path, repeats: int) -> dict:
    params = MusicParams().with_preset("focus")
    c = Composer(params=params, seed=1)
    end = minutes * 60
    events = c.events_until(end - 4) + c.release_all(end - 4)
    mid = tmp / "piece.mid"
    write_midi(events, mid)
    evs = midi_events(mid)
    ours, theirs = [], []
    for _ in range(repeats):  # alternate to share the machine's noise
        ours.append(our_render(evs, end, tmp / "ours.wav"))
        theirs.append(cli_render(mid, tmp / "cli.wav"))
    full = render_offline(tmp / "full.wav", minutes=minutes, seed=1, params=params, progress=False)
    o = statistics.median(w for w, _ in ours)
    t = statistics.median(w for w, _ in theirs)
    oc = statistics.median(c for _, c in ours)
    tc = statistics.median(c for _, c in theirs)
    return {
        "minutes": minutes,
        "ours_s": o,
        "cli_s": t,
        "ratio": o / t,
        "ours_cpu_s": oc,
        "cli_cpu_s": tc,
        "cpu_ratio": oc / tc,
        "render_offline_s": full.wall_s,
        "speed_x": full.speed,
        "notes": sum(e.kind == "note_on" for e in evs),
    }


def bench_chunks(seconds: float) -> dict:
    """Per-chunk cost of exactly what a stream's worker does for one chunk (compose, synthesise,
    mix, limit, encode), in one thread: wall time and the thread's own CPU time (the latter does
    not count time lost to other processes on a shared machine)."""
    c = Composer(params=MusicParams().with_preset("bright"), seed=2)
    wall, cpu = [], []
    dither = TpdfDither(2)
    with Renderer(SF) as r:
        for k in range(int(seconds / CHUNK_SECONDS)):
            w0, c0 = time.perf_counter(), time.thread_time()
            to_pcm16(r.render(c.events_until((k + 1) * CHUNK_SECONDS), CHUNK_FRAMES), dither)
            cpu.append((time.thread_time() - c0) * 1000)
            wall.append((time.perf_counter() - w0) * 1000)
    a, u = np.array(wall), np.array(cpu)
    return {
        "chunks": len(a),
        "p50_ms": float(np.percentile(a, 50)),
        "p99_ms": float(np.percentile(a, 99)),
        "max_ms": float(a.max()),
        "cpu_p50_ms": float(np.percentile(u, 50)),
        "cpu_p99_ms": float(np.percentile(u, 99)),
        "cpu_mean_ms": float(u.mean()),
        "rtf_per_core": CHUNK_SECONDS * 1000 / float(u.mean()),
    }


def realtime_trial(n_streams: int, seconds: float, lead: int = 3) -> dict:
    """n streams consumed at the real-time rate (after a start burst of `lead` chunks each);
    an underrun is a chunk due with none buffered."""
    with StreamEngine(SF) as eng:
        streams = [eng.open_stream(MusicParams().with_preset(p), seed=i, lead_chunks=lead)
                   for i, p in zip(range(n_streams), list(PRESETS) * n_streams)]
        # wait for every stream's start burst (synth creation is part of joining, not playing)
        deadline = time.monotonic() + 60
        while any(s.depth < lead for s in streams) and time.monotonic() < deadline:
            time.sleep(0.01)
        taken = [0] * n_streams
        underruns = 0
        t0 = time.monotonic()
        while (now := time.monotonic()) - t0 < seconds:
            due = lead + int((now - t0) / CHUNK_SECONDS)
            for i, s in enumerate(streams):
                while taken[i] < due:
                    if s.pop() is None:
                        underruns += 1
                        taken[i] = due  # count each missed deadline once, then carry on
                        break
                    taken[i] += 1
            time.sleep(0.005)
        errors = sum(s.error is not None for s in streams)
    return {"streams": n_streams, "underruns": underruns, "errors": errors}


def bench_concurrency(seconds: float, counts: list[int]) -> list[dict]:
    results = []
    for n in counts:
        load = os.getloadavg()[0]
        r = realtime_trial(n, seconds)
        r["load_before"] = load
        results.append(r)
        print(f"  {n} streams: {r['underruns']} underruns (load {load:.1f})", file=sys.stderr,
              flush=True)
        if r["underruns"] > 10 * n:  # far past capacity: stop
            break
    return results


_RSS_CHILD = """
import json, sys, time, psutil
sys.path.insert(0, {root!r})
from auralis.music.params import MusicParams
from auralis.streaming.engine import StreamEngine
n = int(sys.argv[1])
p = psutil.Process()
with StreamEngine({sf!r}) as eng:
    base = p.memory_info().rss
    streams = [eng.open_stream(MusicParams(), seed=i, lead_chunks=20) for i in range(n)]
    while any(s.next_seq < 20 for s in streams):
        time.sleep(0.01)
    for s in streams:  # 2 s of music each, so voices and reverb are live
        while s.pop() is not None: pass
    while any(s.next_seq < 40 for s in streams):
        time.sleep(0.01)
    print(json.dumps({{"engine_mb": base / 1e6, "rss_mb": p.memory_info().rss / 1e6}}))
"""


def bench_rss(counts: list[int]) -> list[dict]:
    code = _RSS_CHILD.format(root=str(ROOT), sf=str(SF))
    out = []
    for n in counts:
        proc = subprocess.run([sys.executable, "-c", code, str(n)], capture_output=True, text=True, check=True)
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        r["streams"] = n
        r["per_stream_mb"] = (r["rss_mb"] - r["engine_mb"]) / n
        out.append(r)
    return out


def bench_loudness(minutes: float, tmp: Path) -> list[dict]:
    import pyloudnorm

    meter = pyloudnorm.Meter(44100)
    out = []
    for name in PRESETS:
        wav = tmp / f"{name}.wav"
        res = render_offline(wav, minutes=minutes, seed=1, params=MusicParams().with_preset(name), progress=False)
        with wave.open(str(wav), "rb") as w:
            x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2) / 32768.0
        lufs = meter.integrated_loudness(x)
        out.append({"preset": name, "lufs": lufs, "delta_lu": lufs - LOUDNESS_TARGET_LUFS,
                    "sample_peak_dbfs": float(20 * np.log10(np.abs(x).max())), "speed_x": res.speed})
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="short pieces and trials (smoke check)")
    ap.add_argument("--json", type=Path, help="also write the raw figures here")
    args = ap.parse_args()
    if not shutil.which("fluidsynth"):
        print("the fluidsynth command is needed for (a): sudo apt-get install fluidsynth", file=sys.stderr)
        return 1
    minutes = 1.0 if args.quick else 10.0
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        print("(a) vs fluidsynth CLI ...", file=sys.stderr, flush=True)
        a = bench_vs_cli(minutes, tmp, repeats=1 if args.quick else 5)
        print("(b) per-chunk ...", file=sys.stderr, flush=True)
        b = bench_chunks(60.0 if args.quick else 600.0)
        print("(c) concurrency ...", file=sys.stderr, flush=True)
        counts = [20, 60] if args.quick else [25, 50, 100, 150, 200, 250]
        c = bench_concurrency(5.0 if args.quick else 15.0, counts)
        print("(d) RSS ...", file=sys.stderr, flush=True)
        rss = bench_rss([1, 10] if args.quick else [1, 10, 50])
        print("(e) loudness ...", file=sys.stderr, flush=True)
        e = bench_loudness(minutes, tmp)
    load = os.getloadavg()
    ok_streams = max((r["streams"] for r in c if r["underruns"] == 0 and r["errors"] == 0), default=0)
    cpus = os.cpu_count()
    print(f"Machine: {cpus} CPUs, shared (1/5/15-min load average at the end: "
          f"{load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f}); FluidR3_GM; focus preset unless noted.\n")
    print("| measure | result | target |\n|---|---|---|")
    print(f"| (a) {a['minutes']:g}-min piece, same MIDI file: ours / `fluidsynth -ni -F` (median of runs) "
          f"| {a['ours_s']:.2f} s / {a['cli_s']:.2f} s = **{a['ratio']:.2f}x** | <= 1.15x |")
    print(f"| (a) same, CPU time | {a['ours_cpu_s']:.2f} s / {a['cli_cpu_s']:.2f} s = "
          f"**{a['cpu_ratio']:.2f}x** | <= 1.15x |")
    print(f"| (a) full `render_offline` (compose + render + WAV) | {a['render_offline_s']:.2f} s "
          f"({a['speed_x']:.0f}x real time) | faster than real time |")
    print(f"| (b) per-chunk render (100 ms), {b['chunks']} chunks | p50 {b['p50_ms']:.2f} ms, "
          f"p99 **{b['p99_ms']:.2f} ms**, max {b['max_ms']:.2f} ms | p99 <= 5 ms |")
    print(f"| (b) per-chunk CPU time (same chunks) | p50 {b['cpu_p50_ms']:.2f} ms, "
          f"p99 {b['cpu_p99_ms']:.2f} ms, mean {b['cpu_mean_ms']:.2f} ms | |")
    print(f"| (c) real-time factor per core (100 ms / mean CPU ms per chunk) | "
          f"{b['rtf_per_core']:.0f}x, so {cpus} cores at most ~{cpus * b['rtf_per_core']:.0f} "
          f"streams | |")
    trials = ", ".join(f"{r['streams']}: {r['underruns']} (load {r['load_before']:.1f})" for r in c)
    print(f"| (c) concurrent real-time streams with no underrun | **{ok_streams}** "
          f"(streams: underruns = {trials}) | ~100 |")
    for r in rss:
        print(f"| (d) RSS, {r['streams']} stream(s) | {r['rss_mb']:.0f} MB "
              f"(engine alone {r['engine_mb']:.0f} MB; {r['per_stream_mb']:.1f} MB per stream) | <= 15 MB per extra stream |")
    for r in e:
        print(f"| (e) loudness, {r['preset']}, {minutes:g} min | {r['lufs']:.2f} LUFS "
              f"({r['delta_lu']:+.2f} LU; sample peak {r['sample_peak_dbfs']:.1f} dBFS) | "
              f"{LOUDNESS_TARGET_LUFS:g} +- 2 LU |")
    if args.json:
        args.json.write_text(json.dumps({"a": a, "b": b, "c": c, "d": rss, "e": e}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
