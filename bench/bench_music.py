"""Musicality (issue 14): every measure of docs/music.md's targets table, per preset.

Composition measures: 4 presets x SEEDS seeds x 30 minutes of composed events (auralis.music.
analysis). Loudness range and spectrum: a real FluidSynth render (FluidR3) of RENDER_MIN minutes
per preset, seed 0, before the loudness ride (the ride is what a listener hears; the LRA target
is about the music). Run: .venv/bin/python bench/bench_music.py [render minutes, default 10]
"""

from __future__ import annotations

import math
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from auralis.audio.mixer import k_weighting_sos  # noqa: E402
from auralis.audio.renderer import RenderConfig, Renderer  # noqa: E402
from auralis.audio.soundfont import find_soundfont  # noqa: E402
from auralis.music import analysis as A  # noqa: E402
from auralis.music.composer import Composer  # noqa: E402
from auralis.music.params import PRESETS, MusicParams  # noqa: E402

SEEDS = range(5)
T = 1800.0
SR = 44100


def render(params: MusicParams, minutes: float) -> np.ndarray:
    c = Composer(params, seed=0)
    n = int(minutes * 60 * SR)
    out = np.empty((n, 2), dtype=np.float32)
    with Renderer(find_soundfont(None), RenderConfig(loudness_ride=False)) as r:
        done = 0
        while done < n:
            k = min(4410, n - done)
            out[done : done + k] = r.render_raw(c.events_until((done + k) / SR), k)
            done += k
    return out


def stems(params: MusicParams, minutes: float) -> tuple[list, dict[int, np.ndarray]]:
    """The events and each voice's mono stem, every voice rendered alone with the same synth
    settings (the other voices' note events left out)."""
    events = Composer(params, seed=0).events_until(minutes * 60)
    n = int(minutes * 60 * SR)
    out = {}
    for ch in (0, 1, 2):
        mine = [e for e in events if e.channel == ch or e.kind in ("marker", "tempo")]
        x = np.empty((n, 2), dtype=np.float32)
        with Renderer(find_soundfont(None), RenderConfig(loudness_ride=False)) as r:
            done = i = 0
            while done < n:
                k = min(4410, n - done)
                block = []
                while i < len(mine) and mine[i].time < (done + k) / SR:
                    block.append(mine[i])
                    i += 1
                x[done : done + k] = r.render_raw(block, k)
                done += k
        out[ch] = x.mean(axis=1).astype(np.float64)
    return events, out


def piano_on_top(events: list, st: dict[int, np.ndarray]) -> tuple[float, float]:
    """(share of melody notes whose first 0.5 s is at least as loud as pad + bass then,
    median piano-minus-accompaniment level in dB)."""
    acc = st[1] + st[2]
    diffs = []
    for n in A.notes(events):
        a = int(n.start * SR)
        b = min(len(acc), a + int(min(0.5, n.end - n.start) * SR))
        if b > a:
            diffs.append(10 * math.log10(np.mean(st[0][a:b] ** 2) + 1e-20)
                         - 10 * math.log10(np.mean(acc[a:b] ** 2) + 1e-20))
    d = np.array(diffs)
    return float((d >= 0).mean()), float(np.median(d))


def lra(x: np.ndarray) -> float:
    """EBU R128 loudness range: short-term (3 s, 0.1 s hop) K-weighted loudness, gated at
    -70 LUFS and 20 LU below the gated mean, 95th minus 10th percentile."""
    from scipy.signal import sosfilt

    kw = sosfilt(k_weighting_sos(SR), x.astype(np.float64), axis=0)
    p = np.sum(kw * kw, axis=1)
    c = np.concatenate([[0.0], np.cumsum(p)])
    w, hop = 3 * SR, SR // 10
    st = np.array([(c[i + w] - c[i]) / w for i in range(0, len(p) - w, hop)])
    st = st[st > 0]
    lufs = -0.691 + 10 * np.log10(st)
    lufs = lufs[lufs > -70]
    rel = -0.691 + 10 * math.log10(np.mean(10 ** ((lufs + 0.691) / 10))) - 20
    lufs = lufs[lufs > rel]
    return float(np.percentile(lufs, 95) - np.percentile(lufs, 10))


def spectrum(x: np.ndarray) -> tuple[float, float]:
    """(spectral centroid in Hz, share of power in 150-400 Hz) of the mono mix, over 20 Hz-20 kHz
    (what is audible: the synth's output carries a DC offset, which would swamp a centroid)."""
    m = x.mean(axis=1).astype(np.float64)
    n = 8192
    frames = len(m) // n
    ps = np.zeros(n // 2 + 1)
    win = np.hanning(n)
    for i in range(frames):
        ps += np.abs(np.fft.rfft(m[i * n : (i + 1) * n] * win)) ** 2
    f = np.fft.rfftfreq(n, 1 / SR)
    keep = (f >= 20) & (f <= 20000)
    f, ps = f[keep], ps[keep]
    return float((f * ps).sum() / ps.sum()), float(ps[(f >= 150) & (f < 400)].sum() / ps.sum())


def fmt(xs: list[float], pct: bool = False) -> str:
    lo, hi = min(xs), max(xs)
    return f"{lo:.0%}-{hi:.0%}" if pct else f"{lo:.2f}-{hi:.2f}"


def main() -> None:
    minutes = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    print(f"Musicality: {len(SEEDS)} seeds x 30 min composed per preset; renders {minutes:g} min, seed 0")
    print()
    print("| measure | target | " + " | ".join(PRESETS) + " |")
    print("|---|---|" + "---|" * len(PRESETS))
    rows: dict[str, list[str]] = {}

    def put(name: str, target: str, value: str) -> None:
        rows.setdefault(f"{name} | {target}", []).append(value)

    for name in PRESETS:
        p = MusicParams().with_preset(name)
        spb = 60.0 / p.bpm
        m: dict[str, list[float]] = {}
        feats = []
        for seed in SEEDS:
            c = Composer(p, seed=seed)
            ev = c.events_until(T) + c.release_all(T)
            mel = A.notes(ev)
            total, bad = A.clashes(ev, spb)
            distinct, long_share = A.inter_onsets(mel, spb)
            bc = A.boundary_changes(ev)
            deg = A.scale_degrees(ev, mel)
            parts = A.recurrence_parts(mel, spb, deg)
            for k, v in (
                ("silent", A.silent_share(mel, T)),
                ("in37", A.share_in_short_phrases(mel, spb)),
                ("rest5", A.long_rests_per_minute(mel, T)),
                ("split", A.split_deviation(ev, mel)),
                ("recur", A.recurrence(mel, spb, deg)),
                ("rhythm", parts.rhythm),
                ("intervals", parts.intervals),
                ("inside", parts.inside),
                ("inside_recur", parts.inside_recur),
                ("clash", total / (T / 60)),
                ("bad", bad / (T / 60)),
                ("distinct", distinct),
                ("long", long_share),
                ("vac", A.velocity_autocorrelation(mel)),
                ("bound", sum(1 for n in bc if n >= 2) / len(bc)),
            ):
                m.setdefault(k, []).append(v)
            feats.append(A.window_features(ev, spb))
        put("70/25/5: worst window (10 min or 100 notes), points off", "<= 3", fmt(m["split"]))
        put("melody silent share", ">= 40%", fmt(m["silent"], True))
        put("notes in 3-7-note phrases", ">= 60%", fmt(m["in37"], True))
        put("rests >= 5 s per minute", ">= 1.5", fmt(m["rest5"]))
        put("4-gram recurrence within 32 notes", ">= 20%", fmt(m["recur"], True))
        put("(recurrence of the rhythm alone; of the intervals alone)", "", f"{fmt(m['rhythm'], True)}; {fmt(m['intervals'], True)}")
        put("(4-grams inside one phrase; their recurrence)", "", f"{fmt(m['inside'], True)}; {fmt(m['inside_recur'], True)}")
        put("minor 2nd/9th above held notes per minute (not short+weak)", "<= 0.5 (0)", f"{fmt(m['clash'])} ({fmt(m['bad'])})")
        put("distinct IOIs (1/4-beat grid); share of IOIs >= 3 beats", ">= 6; >= 30%", f"{min(m['distinct']):.0f}-{max(m['distinct']):.0f}; {fmt(m['long'], True)}")
        put("velocity lag-1 autocorrelation", ">= 0.5", fmt(m["vac"]))
        put("section boundaries changing >= 2 features", ">= 90%", fmt(m["bound"], True))
        put("between/within seed variance (median of 10)", ">= 4", f"{A.between_within(feats):.2f}")
        ratios = A.between_within_features(feats)
        put("(features at >= 4: between/within)", "", ", ".join(
            f"{name} {r:.1f}" for name, r in sorted(zip(A.FEATURES, ratios), key=lambda x: -x[1]) if r >= 4) or "none")
        if minutes > 0:
            x = render(p, minutes)
            cen, low = spectrum(x)
            put(f"LRA ({minutes:g}-min render, before the ride)", ">= 6 LU", f"{lra(x):.1f} LU")
            put("mix spectral centroid; 150-400 Hz share", ">= 600 Hz; <= 40%", f"{cen:.0f} Hz; {low:.0%}")
            ev, st = stems(p, min(minutes, 2.0))
            share, med = piano_on_top(ev, st)
            put("piano notes at/above pad+bass (2-min stems); median dB", ">= 50%", f"{share:.0%}; {med:+.1f} dB")
    for k, vals in rows.items():
        print(f"| {k} | " + " | ".join(vals) + " |")


if __name__ == "__main__":
    main()
