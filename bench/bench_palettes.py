"""Palettes, voices and space (issue 12) and the mix balance (issue 14): every target, measured.

- **Variety**: the GM programs sounding in each preset's render (composed events under its
  palette), whether two presets share a program set, and each preset's and palette's long-term
  spectrum (centroid, 150-400 Hz share) from a real render.
- **Long-term spectra of the presets** (part ``spectra``): a preset's long-term average
  spectrum is over its seeds as well as its minutes (a seed sets the melody's home register, so
  one seed's render is not the preset's spectrum): the power spectra of ``--seeds`` 10-minute
  renders (each normalised to its total power), averaged; its centroid, each seed's own, and for
  every pair of presets the centroid ratio and the RMS difference of their third-octave band
  levels (50 Hz-10 kHz).
- **Evolution**: over 60 composed minutes per preset and palette (seeds 0-2): boundaries that
  change the orchestration (a voice enters, leaves, or moves 5+ semitones) and consecutive
  sections with the same set of sounding voices.
- **Loudness**: integrated loudness (pyloudnorm, BS.1770) and true peak (4x oversampled) of the
  finished stream audio (ride and limiter), every preset and palette; checked with FFmpeg's
  ``ebur128=peak=true`` on the same audio as a 16-bit WAV (integrated, true peak, LRA).
- **Balance**: melody notes at or above the accompaniment (2-minute stems: each voice rendered
  alone with the same synth settings; accompaniment = pad + bass, and all other voices).
- **Cost**: per-chunk render CPU (4,410 frames, composer included, process time) of every
  palette against today's default (the code of ``--base``, default bce4d6d, extracted with
  ``git archive`` and run in the same venv, interleaved in one run); RSS per extra stream.
- **Rules**: the composer's own voices are the same notes under every palette (the added voices
  draw from their own generator), so 70/25/5, no V-I, no repeated 16-note sequence, sections
  30-90 s hold as tests/unit/test_music_rules.py checks them; here: sections 30-90 s and
  velocities 20-100 of every voice, with every palette, over 60 minutes.

Run: .venv/bin/python bench/bench_palettes.py [render minutes, default 10] [--base COMMIT] [--seeds 5]
     [--skip audio,spectra,balance,cost]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from auralis.audio.renderer import RenderConfig, Renderer  # noqa: E402
from auralis.audio.soundfont import find_soundfont  # noqa: E402
from auralis.music import analysis as A  # noqa: E402
from auralis.music.composer import Composer, compose  # noqa: E402
from auralis.music.events import marker_section  # noqa: E402
from auralis.music.orchestration_measures import (  # noqa: E402
    added_voice_clashes,
    orchestration_changes,
    programs_played,
    section_voice_sets,
)
from auralis.music.palettes import PALETTES, ROLE_CHANNELS  # noqa: E402
from auralis.music.params import PRESETS, MusicParams  # noqa: E402

SR = 44100
CHUNK = 4410


def params_for(name: str) -> MusicParams:
    """A preset (with its palette), or the default parameters with a palette that is no preset's."""
    return MusicParams().with_preset(name) if name in PRESETS else MusicParams(palette=name)


def configs() -> list[str]:
    return list(PRESETS) + [p for p in PALETTES if p not in PRESETS]


def render(params: MusicParams, minutes: float, *, ride: bool = True, seed: int = 0,
           channels: tuple[int, ...] | None = None) -> np.ndarray:
    """The finished audio (ride and limiter, as streamed) or, ``ride=False``, the synth's mix;
    ``channels``: only those voices' notes (stems)."""
    c = Composer(params, seed=seed)
    n = int(minutes * 60 * SR)
    out = np.empty((n, 2), dtype=np.float32)
    with Renderer(find_soundfont(None), RenderConfig(loudness_ride=ride), palette=params.palette) as r:
        done = 0
        while done < n:
            k = min(CHUNK, n - done)
            evs = c.events_until((done + k) / SR)
            if channels is not None:
                evs = [e for e in evs if e.kind in ("marker", "tempo") or e.channel in channels]
            out[done : done + k] = r.render(evs, k) if ride else r.render_raw(evs, k)
            done += k
    return out


FFT_N = 8192


def power_spectrum(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(frequencies, power) of the mono mix over 20 Hz-20 kHz: Hann-windowed 8192-point frames
    averaged, normalised to a total of 1."""
    m = x.mean(axis=1).astype(np.float64)
    ps = np.zeros(FFT_N // 2 + 1)
    win = np.hanning(FFT_N)
    for i in range(len(m) // FFT_N):
        ps += np.abs(np.fft.rfft(m[i * FFT_N : (i + 1) * FFT_N] * win)) ** 2
    f = np.fft.rfftfreq(FFT_N, 1 / SR)
    keep = (f >= 20) & (f <= 20000)
    return f[keep], ps[keep] / ps[keep].sum()


def centroid(f: np.ndarray, ps: np.ndarray) -> float:
    return float((f * ps).sum() / ps.sum())


def spectrum(x: np.ndarray) -> tuple[float, float]:
    """(centroid Hz, 150-400 Hz power share) of the mono mix over 20 Hz-20 kHz (as bench_music)."""
    f, ps = power_spectrum(x)
    return centroid(f, ps), float(ps[(f >= 150) & (f < 400)].sum())


#: Third-octave band centres, 50 Hz-10 kHz.
THIRD_OCTAVES = 1000.0 * 2.0 ** (np.arange(-13, 11) / 3)


def band_levels(f: np.ndarray, ps: np.ndarray) -> np.ndarray:
    """Each third-octave band's share of the power, dB."""
    edge = 2.0 ** (1 / 6)
    return np.array([10 * np.log10(ps[(f >= c / edge) & (f < c * edge)].sum() + 1e-30) for c in THIRD_OCTAVES])


def long_term_spectra(minutes: float, seeds: int) -> None:
    """Each preset's long-term average spectrum over seeds 0..seeds-1 (see the module docstring)."""
    pooled: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    rows = []
    for name in PRESETS:
        per = []
        acc = None
        for seed in range(seeds):
            f, ps = power_spectrum(render(params_for(name), minutes, seed=seed))
            per.append(centroid(f, ps))
            acc = ps if acc is None else acc + ps
        pooled[name] = (f, acc / seeds)
        rows.append([name, f"{centroid(*pooled[name]):.0f}", " / ".join(f"{c:.0f}" for c in per)])
        print(f"  ({name} done)", file=sys.stderr, flush=True)
    table(["preset", "centroid of the long-term spectrum (Hz)", f"each seed's centroid, seeds 0-{seeds - 1} (Hz)"], rows)
    rows = []
    for a, b in itertools.combinations(PRESETS, 2):
        ca, cb = centroid(*pooled[a]), centroid(*pooled[b])
        d = band_levels(*pooled[a]) - band_levels(*pooled[b])
        rows.append([f"{a} / {b}", f"{max(ca, cb) / min(ca, cb) - 1:.0%}", f"{np.sqrt(np.mean(d ** 2)):.1f}",
                     f"{np.abs(d).max():.1f}"])
    table(["presets", "centroids differ by", "third-octave levels differ, RMS (dB)", "largest band difference (dB)"], rows)


def loudness(x: np.ndarray) -> tuple[float, float]:
    import pyloudnorm
    from scipy.signal import resample_poly

    lufs = pyloudnorm.Meter(SR).integrated_loudness(x.astype(np.float64))
    tp = 20 * math.log10(float(np.abs(resample_poly(x.astype(np.float64), 4, 1, axis=0)).max()))
    return lufs, tp


def ffmpeg_loudness(x: np.ndarray) -> tuple[float, float, float]:
    """(integrated LUFS, true peak dBFS, LRA LU) as FFmpeg's ebur128 filter reads the audio written
    as a 16-bit WAV (a meter this project did not write)."""
    import re
    import wave

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.wav"
        pcm = np.clip(np.rint(x.astype(np.float64) * 32767), -32768, 32767).astype("<i2")
        with wave.open(str(path), "wb") as w:
            w.setnchannels(2)
            w.setsampwidth(2)
            w.setframerate(SR)
            w.writeframes(pcm.tobytes())
        out = subprocess.run(["ffmpeg", "-hide_banner", "-nostats", "-i", str(path), "-af", "ebur128=peak=true",
                              "-f", "null", "-"], capture_output=True, text=True, check=True).stderr
    summary = out[out.rindex("Summary:"):]

    def field(name: str) -> float:
        return float(re.search(rf"{name}:\s+(-?[\d.]+|-inf)", summary).group(1))

    return field("I"), field("Peak"), field("LRA")


def melody_on_top(params: MusicParams, minutes: float) -> tuple[float, float, float]:
    """(share of melody notes at/above pad + bass, share at/above all other voices, median dB
    against pad + bass): each note's first 0.5 s, mono stems."""
    events = Composer(params, seed=0).events_until(minutes * 60)
    st = {ch: render(params, minutes, ride=False, channels=(ch,)).mean(axis=1).astype(np.float64)
          for ch in ROLE_CHANNELS.values()}
    pad_bass = st[1] + st[2]
    others = pad_bass + st[3] + st[4]
    d1, d2 = [], []
    for n in A.notes(events):
        a = int(n.start * SR)
        b = min(len(pad_bass), a + int(min(0.5, n.end - n.start) * SR))
        if b <= a:
            continue
        mel = 10 * math.log10(np.mean(st[0][a:b] ** 2) + 1e-20)
        d1.append(mel - 10 * math.log10(np.mean(pad_bass[a:b] ** 2) + 1e-20))
        d2.append(mel - 10 * math.log10(np.mean(others[a:b] ** 2) + 1e-20))
    return float((np.array(d1) >= 0).mean()), float((np.array(d2) >= 0).mean()), float(np.median(d1))


_CPU_CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
from auralis.audio.renderer import RenderConfig, Renderer
from auralis.audio.soundfont import find_soundfont
from auralis.music.composer import Composer
from auralis.music.params import MusicParams
palette, seconds = sys.argv[2], float(sys.argv[3])
p = MusicParams() if palette == "-" else MusicParams(palette=palette)
c = Composer(p, seed=1)
kw = {} if palette == "-" else {"palette": palette}
times = []
with Renderer(find_soundfont(None), RenderConfig(), **kw) as r:
    for i in range(int(seconds * 10)):
        t0 = time.process_time()
        r.render(c.events_until((i + 1) * 0.1), 4410)
        times.append(time.process_time() - t0)
times.sort()
print(json.dumps({"median_ms": 1000 * times[len(times) // 2], "mean_ms": 1000 * sum(times) / len(times)}))
"""


def cpu(root: Path, palette: str, seconds: float) -> dict:
    proc = subprocess.run([sys.executable, "-c", _CPU_CHILD, str(root), palette, str(seconds)],
                          capture_output=True, text=True, check=True, cwd=root)
    return json.loads(proc.stdout.strip().splitlines()[-1])


_RSS_CHILD = r"""
import json, sys, time, psutil
sys.path.insert(0, sys.argv[1])
from auralis.audio.soundfont import find_soundfont
from auralis.music.params import MusicParams, PRESETS
from auralis.streaming.engine import StreamEngine
n, rotate = int(sys.argv[2]), sys.argv[3] == "1"
names = list(PRESETS)
p = psutil.Process()
with StreamEngine(find_soundfont(None)) as eng:
    base = p.memory_info().rss
    streams = [eng.open_stream(MusicParams().with_preset(names[i % 4]) if rotate else MusicParams(),
                               seed=i, lead_chunks=20) for i in range(n)]
    while any(s.next_seq < 20 for s in streams):
        time.sleep(0.01)
    for s in streams:
        while s.pop() is not None: pass
    while any(s.next_seq < 40 for s in streams):
        time.sleep(0.01)
    print(json.dumps({"engine_mb": base / 1e6, "rss_mb": p.memory_info().rss / 1e6}))
"""


def rss(root: Path, n: int, rotate: bool) -> dict:
    proc = subprocess.run([sys.executable, "-c", _RSS_CHILD, str(root), str(n), "1" if rotate else "0"],
                          capture_output=True, text=True, check=True, cwd=root)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def table(header: list[str], rows: list[list[str]]) -> None:
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("minutes", nargs="?", type=float, default=10.0)
    ap.add_argument("--base", default="bce4d6d", help="commit of 'today' for the cost comparison")
    ap.add_argument("--seeds", type=int, default=5, help="seeds of each preset's long-term spectrum")
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: audio,spectra,balance,cost")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))

    print(f"## Variety and evolution (composed, 60 min, seeds 0-2)\n")
    rows = []
    sets = {}
    for name in configs():
        p = params_for(name)
        changed = total = same = clashes = 0
        vel_ok = True
        sec_ok = True
        progs: set[int] = set()
        for seed in range(3):
            ev = compose(60, seed=seed, params=p)
            ch = orchestration_changes(ev)
            changed += sum(ch)
            total += len(ch)
            vs = section_voice_sets(ev)[:-1]
            same += sum(1 for a, b in zip(vs, vs[1:]) if a == b)
            clashes += added_voice_clashes(ev)
            progs |= programs_played(ev)
            vel_ok &= all(20 <= e.velocity <= 100 for e in ev if e.kind == "note_on")
            starts = [e.time for e in ev if marker_section(e) is not None]
            sec_ok &= all(30 <= b - a <= 90 for a, b in zip(starts, starts[1:]))
        if name in PRESETS:
            sets[name] = frozenset(progs)
        rows.append([name, str(len(progs)), " ".join(map(str, sorted(progs))), f"{changed}/{total}",
                     str(same), str(clashes), "yes" if sec_ok else "NO", "yes" if vel_ok else "NO"])
    table(["palette", "programs", "GM programs sounding", "boundaries changing orchestration",
           "consecutive sections with the same voices", "added-voice m2/m9 onsets",
           "sections 30-90 s", "velocities 20-100"], rows)
    distinct = len(set(sets.values())) == len(sets)
    print(f"presets with distinct program sets: {'yes' if distinct else 'NO'} ({len(set(sets.values()))} sets for {len(sets)} presets)\n")

    # the composer's own voices under every palette: identical notes
    base = [e for e in compose(60, seed=0, params=MusicParams()) if e.channel in (0, 1, 2) and e.kind != "marker"]
    same_notes = all(
        [e for e in compose(60, seed=0, params=MusicParams(palette=n)) if e.channel in (0, 1, 2) and e.kind != "marker"] == base
        for n in PALETTES
    )
    print(f"melody, pad and bass identical under every palette (60 min, seed 0): {'yes' if same_notes else 'NO'}\n")

    if "audio" not in skip:
        print(f"## Loudness and spectrum ({args.minutes:g}-minute renders, seed 0, finished audio)\n")
        rows = []
        cent = {}
        for name in configs():
            x = render(params_for(name), args.minutes)
            lufs, tp = loudness(x)
            f_i, f_tp, f_lra = ffmpeg_loudness(x)
            c, low = spectrum(x)
            cent[name] = c
            rows.append([name, f"{lufs:.2f}", f"{tp:.2f}", f"{f_i:.1f}", f"{f_tp:.1f}", f"{f_lra:.1f}",
                         f"{c:.0f}", f"{low:.0%}"])
            print(f"  ({name} done)", file=sys.stderr, flush=True)
        table(["palette", "LUFS", "true peak dBTP", "ffmpeg I (LUFS)", "ffmpeg true peak (dBFS)",
               "ffmpeg LRA (LU)", "centroid Hz", "150-400 Hz share"], rows)
        if "sleep" in cent and "bright" in cent:
            print(f"centroid bright/sleep: {cent['bright'] / cent['sleep']:.2f} "
                  f"(differ by {abs(cent['bright'] - cent['sleep']) / min(cent['bright'], cent['sleep']):.0%})\n")
    if "spectra" not in skip:
        print(f"## Long-term spectra of the presets ({args.minutes:g}-minute renders, seeds 0-{args.seeds - 1}, "
              "finished audio)\n")
        long_term_spectra(args.minutes, args.seeds)
    if "balance" not in skip:
        print("## Melody on top (2-minute stems, seed 0)\n")
        rows = []
        for name in configs():
            a, b, med = melody_on_top(params_for(name), 2.0)
            rows.append([name, f"{a:.0%}", f"{b:.0%}", f"{med:+.1f}"])
        table(["palette", "melody notes >= pad+bass", ">= all other voices", "median dB vs pad+bass"], rows)
    if "cost" not in skip:
        print(f"## Cost (per 100 ms chunk, process time, 120 s of music each; today = {args.base})\n")
        with tempfile.TemporaryDirectory() as tmp:
            old = Path(tmp) / "base"
            old.mkdir()
            arch = subprocess.run(["git", "archive", args.base], cwd=ROOT, capture_output=True, check=True)
            subprocess.run(["tar", "-x", "-C", str(old)], input=arch.stdout, check=True)
            res: dict[str, list[float]] = {}
            for _ in range(2):  # interleaved, twice
                res.setdefault("today", []).append(cpu(old, "-", 120)["median_ms"])
                for name in PALETTES:
                    res.setdefault(name, []).append(cpu(ROOT, name, 120)["median_ms"])
            today = statistics.median(res["today"])
            rows = [["today's default", f"{today:.2f}", "1.00"]]
            for name in PALETTES:
                m = statistics.median(res[name])
                rows.append([name, f"{m:.2f}", f"{m / today:.2f}"])
            table(["mix", "median ms per chunk", "ratio to today"], rows)
            worst = max(PALETTES, key=lambda n: statistics.median(res[n]))
            print(f"richest palette: {worst}, {statistics.median(res[worst]) / today:.2f}x today's; "
                  f"capacity (streams per core) ratio {today / statistics.median(res[worst]):.2f}\n")
            rows = []
            for label, root, rotate in (("today", old, False), ("palettes (4 presets)", ROOT, True)):
                a, b = rss(root, 4, rotate), rss(root, 24, rotate)
                per = (b["rss_mb"] - a["rss_mb"]) / 20
                rows.append([label, f"{a['engine_mb']:.0f}", f"{per:.2f}"])
            table(["code", "engine RSS MB (before streams)", "MB per extra stream (4 -> 24)"], rows)


if __name__ == "__main__":
    main()
