"""Stereo image and noise floor per preset (issue 13): our render vs `fluidsynth -F`.

    .venv/bin/python bench/bench_stereo.py            # 4-minute pieces (a few minutes)
    .venv/bin/python bench/bench_stereo.py --quick    # 1-minute pieces
    .venv/bin/python bench/bench_stereo.py --sweep    # the reverb width/level sweep behind
                                                      # RenderConfig's defaults (1-minute pieces)

For each preset the piece (seed 1, or --seed) is rendered with `render_offline` (the default mix) and its
MIDI file with the fluidsynth CLI at its own defaults
(`fluidsynth -ni -q -F out.wav -r 44100 FluidR3_GM.sf2 piece.mid`). Figures, per file:

- corr: L/R correlation over the whole file, sum(L*R) / sqrt(sum(L^2) sum(R^2));
- mono: loudness of the mono downmix (L+R)/2 played on both channels minus the stereo
  loudness, in LU (pyloudnorm, BS.1770): 0 for identical channels, about -3 for unrelated
  ones, very negative for anti-phase ones;
- LUFS: integrated loudness; LRA: loudness range (EBU Tech 3342: 3 s short-term loudness every
  0.1 s, -70 LUFS absolute and -20 LU relative gates, 95th minus 10th percentile);
- floor: RMS level (dBFS, both channels) of the quietest whole second of the file;
- DC: the larger channel mean, in full scale.

`make bench` (bench/run_all.py) runs this script with the other bench_*.py files.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from auralis.audio.mixer import k_weighting_sos  # noqa: E402
from auralis.audio.offline import render_offline  # noqa: E402
from auralis.audio.renderer import RenderConfig  # noqa: E402
from auralis.audio.soundfont import find_soundfont  # noqa: E402
from auralis.audio.stereo import correlation  # noqa: E402
from auralis.music.params import PRESETS, MusicParams  # noqa: E402

SR = 44100


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 2, path
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2) / 32768.0


def loudness_range(x: np.ndarray, sr: int = SR) -> float:
    """EBU Tech 3342 loudness range (LU) of a stereo signal."""
    from scipy.signal import sosfilt

    kw = sosfilt(k_weighting_sos(sr), x, axis=0)
    p = np.concatenate([[0.0], np.cumsum((kw * kw).sum(axis=1))])
    win, hop = 3 * sr, sr // 10
    starts = np.arange(0, len(x) - win + 1, hop)
    if starts.size == 0:
        return float("nan")
    ms = (p[starts + win] - p[starts]) / win
    st = -0.691 + 10 * np.log10(np.maximum(ms, 1e-20))
    st = st[st > -70.0]
    if st.size == 0:
        return float("nan")
    rel = -0.691 + 10 * np.log10(np.mean(10 ** ((st + 0.691) / 10))) - 20.0
    st = st[st > rel]
    return float(np.percentile(st, 95) - np.percentile(st, 10))


def figures(x: np.ndarray) -> dict:
    import pyloudnorm

    meter = pyloudnorm.Meter(SR)
    lufs = meter.integrated_loudness(x)
    m = x.mean(axis=1)
    mono = meter.integrated_loudness(np.stack([m, m], axis=1))
    secs = x[: len(x) // SR * SR].reshape(-1, SR, 2)
    floor = 10 * np.log10(np.maximum((secs**2).mean(axis=(1, 2)), 1e-20)).min()
    return {
        "corr": correlation(x),
        "mono_lu": mono - lufs,
        "lufs": lufs,
        "lra": loudness_range(x),
        "floor_dbfs": float(floor),
        "dc": float(np.abs(x.mean(axis=0)).max()),
    }


def ours(
    preset: str, minutes: float, tmp: Path, config: RenderConfig = RenderConfig(), seed: int = 1
) -> tuple[dict, Path]:
    wav, mid = tmp / f"{preset}.wav", tmp / f"{preset}.mid"
    render_offline(wav, minutes=minutes, seed=seed, params=MusicParams().with_preset(preset),
                   midi_path=mid, progress=False, config=config)
    return figures(read_wav(wav)), mid


def cli(mid: Path, tmp: Path) -> dict:
    wav = tmp / "cli.wav"
    sf = find_soundfont()
    subprocess.run(["fluidsynth", "-ni", "-q", "-F", str(wav), "-r", str(SR), str(sf), str(mid)],
                   check=True, capture_output=True)
    return figures(read_wav(wav))


def row(name: str, f: dict) -> str:
    return (f"| {name} | {f['corr']:+.2f} | {f['mono_lu']:+.1f} | {f['lufs']:.1f} | "
            f"{f['lra']:.1f} | {f['floor_dbfs']:.1f} | {f['dc']:.1e} |")


def sweep(presets: list[str], tmp: Path, minutes: float) -> None:
    import auralis.audio.renderer as renderer

    # the sweep measures the refused settings too (width 90 was the default before issue 13)
    renderer.check_stereo_image = lambda *a, **k: 0.0  # type: ignore[assignment]
    print("| width | level | preset | corr | mono (LU) | LUFS | LRA | floor (dBFS) |")
    print("|---|---|---|---|---|---|---|---|")
    for width in (90.0, 1.0, 0.8, 0.5):
        for level in (1.0, 0.85, 0.7):
            if width == 90.0 and level != 0.7:
                continue
            cfg = dataclasses.replace(RenderConfig(), reverb_width=width, reverb_level=level)
            for p in presets:
                f, _ = ours(p, minutes, tmp, cfg)
                print(f"| {width:g} | {level:g} | {p} | {f['corr']:+.2f} | {f['mono_lu']:+.1f} | "
                      f"{f['lufs']:.1f} | {f['lra']:.1f} | {f['floor_dbfs']:.1f} |", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="1-minute pieces")
    ap.add_argument("--sweep", action="store_true", help="reverb width/level sweep")
    ap.add_argument("--minutes", type=float, help="piece length (default 4, quick/sweep 1)")
    ap.add_argument("--seed", type=int, default=1, help="the pieces' seed (default 1)")
    args = ap.parse_args()
    if not shutil.which("fluidsynth"):
        print("the fluidsynth command is needed: sudo apt-get install fluidsynth", file=sys.stderr)
        return 1
    minutes = args.minutes or (1.0 if args.quick or args.sweep else 4.0)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if args.sweep:
            sweep(list(PRESETS), tmp, minutes)
            return 0
        print(f"### Stereo image, {minutes:g}-minute pieces, seed {args.seed}\n")
        print("| render | corr | mono (LU) | LUFS | LRA (LU) | floor (dBFS) | DC (FS) |")
        print("|---|---|---|---|---|---|---|")
        for p in PRESETS:
            f, mid = ours(p, minutes, tmp, seed=args.seed)
            print(row(f"{p}: auralis", f), flush=True)
            print(row(f"{p}: fluidsynth -F", cli(mid, tmp)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
