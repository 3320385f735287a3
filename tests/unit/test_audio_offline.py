"""Offline rendering (API and `auralis render`), and `auralis doctor`."""

from __future__ import annotations

import io
import subprocess
import sys
import wave
from pathlib import Path

import mido
import numpy as np
import pytest
from scipy.signal import resample_poly

from auralis.audio.doctor import run_doctor
from auralis.audio.offline import render_offline
from auralis.audio.soundfont import SoundFontError
from auralis.music.params import MusicParams

ROOT = Path(__file__).resolve().parents[2]
_SCRIPT = Path(sys.executable).with_name("auralis")  # the installed `auralis` command
AURALIS = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "auralis.cli"]


def read_wav(path: Path) -> tuple[wave._wave_params, np.ndarray]:
    with wave.open(str(path), "rb") as w:
        params = w.getparams()
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    return params, data


def test_render_offline_deterministic_and_well_formed(tmp_path: Path, soundfont_path: Path) -> None:
    p = MusicParams(key=62).with_preset("focus")
    a, b, c = tmp_path / "a.wav", tmp_path / "b.wav", tmp_path / "c.wav"
    seen: list[tuple[int, int]] = []
    res = render_offline(
        a, minutes=0.25, seed=4, params=p, soundfont=soundfont_path,
        progress=lambda done, total: seen.append((done, total)),
    )
    render_offline(b, minutes=0.25, seed=4, params=p, soundfont=soundfont_path, progress=False)
    render_offline(c, minutes=0.25, seed=5, params=p, soundfont=soundfont_path, progress=False)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()
    params, x = read_wav(a)
    assert (params.nchannels, params.sampwidth, params.framerate) == (2, 2, 44100)
    assert params.nframes == 15 * 44100 == res.frames
    assert seen[-1] == (res.frames, res.frames) and len(seen) == 150
    assert res.speed > 1.0  # faster than real time
    f = x.astype(float) / 32767
    tp = 20 * np.log10(np.abs(resample_poly(f, 4, 1, axis=0)).max())
    assert tp <= -1.0
    rms = np.sqrt((f[44100:12 * 44100].reshape(-1, 44100, 2) ** 2).mean(axis=(1, 2)))
    assert (20 * np.log10(rms)).min() > -50
    assert np.abs(f[-100:]).max() < 1e-3  # faded out at the end
    assert not list(tmp_path.glob(".*tmp"))


def test_progress_bar_on_request(
    tmp_path: Path, soundfont_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    render_offline(
        tmp_path / "p.wav", minutes=0.05, seed=1, params=MusicParams(), soundfont=soundfont_path,
        progress=True,
    )
    err = capsys.readouterr().err
    assert "rendering [" in err and "100.0%" in err and "x real time" in err


def test_bad_arguments_write_nothing(tmp_path: Path, soundfont_path: Path) -> None:
    out = tmp_path / "x.wav"
    with pytest.raises(ValueError, match="minutes"):
        render_offline(out, minutes=0, seed=1, params=MusicParams(), soundfont=soundfont_path)
    with pytest.raises(SoundFontError, match="missing.sf2"):
        render_offline(
            out, minutes=0.1, seed=1, params=MusicParams(), soundfont=tmp_path / "missing.sf2"
        )
    with pytest.raises(ValueError, match="directory"):
        render_offline(
            tmp_path / "no" / "x.wav", minutes=0.1, seed=1, params=MusicParams(),
            soundfont=soundfont_path,
        )
    assert not out.exists()


def test_cli_render_wav_and_midi(tmp_path: Path, soundfont_path: Path) -> None:
    wav, mid = tmp_path / "x.wav", tmp_path / "x.mid"
    args = ["render", "--minutes", "0.2", "--seed", "1", "--preset", "bright", "--wav", str(wav),
            "--midi", str(mid), "--soundfont", str(soundfont_path)]
    proc = subprocess.run(AURALIS + args, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "rendering [" not in proc.stderr  # not a terminal: no progress bar
    first = wav.read_bytes()
    params, x = read_wav(wav)
    assert params.framerate == 44100 and params.nframes == 12 * 44100
    assert np.abs(x).max() > 1000
    midi = mido.MidiFile(str(mid))
    markers = [m.text for t in midi.tracks for m in t if m.type == "marker"]
    assert any(m.startswith("chord ") for m in markers) and "context C lydian" in markers
    notes = [m for t in midi.tracks for m in t if m.type == "note_on" and m.velocity > 0]
    assert {m.channel for m in notes} >= {0, 1}
    proc = subprocess.run(AURALIS + args, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and wav.read_bytes() == first


def test_cli_render_bad_soundfont_is_one_clear_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.sf2"
    bad.write_text("not a soundfont")
    proc = subprocess.run(
        AURALIS
        + ["render", "--minutes", "0.1", "--wav", str(tmp_path / "o.wav"), "--soundfont", str(bad)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2
    assert "bad.sf2" in proc.stderr and "not a RIFF file" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_doctor_reports_library_font_and_instruments(soundfont_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "AURALIS_SOUNDFONT": str(soundfont_path)}
    proc = subprocess.run(
        AURALIS + ["doctor"], cwd=ROOT, capture_output=True, text=True, timeout=60, env=env
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "libfluidsynth" in out and "version 2." in out
    assert str(soundfont_path) in out
    for name in ("Acoustic Grand Piano", "Pad 2 (warm)", "Contrabass"):
        assert name in out


def test_doctor_names_what_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import auralis.audio.doctor as doctor
    import auralis.audio.soundfont as sf

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AURALIS_SOUNDFONT", raising=False)
    monkeypatch.setattr(sf, "SYSTEM_SOUNDFONTS", ())
    monkeypatch.setattr(doctor, "install_command", lambda what="fluidsynth": f"INSTALL-{what}")
    buf = io.StringIO()
    assert run_doctor(buf) == 1
    text = buf.getvalue()
    assert "NOT FOUND" in text and "INSTALL-soundfont" in text


def test_missing_library_message_has_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    from auralis.audio import fluid

    monkeypatch.setitem(sys.modules, "fluidsynth", None)  # as if libfluidsynth could not load
    with pytest.raises(fluid.FluidSynthMissingError) as err:
        fluid._Lib()
    assert fluid.install_command() in str(err.value)
    assert "apt-get" in fluid.install_command() or "brew" in fluid.install_command()
