"""MIDI export read back with mido, and the `auralis compose` command end to end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import mido
import pytest

from auralis.music.composer import Composer, compose
from auralis.music.events import Event
from auralis.music.export import compose_midi, write_midi
from auralis.music.params import MusicParams

REPO = Path(__file__).resolve().parents[2]


def piece_with_changes() -> list[Event]:
    # (a seed whose 3 minutes hold every voice: the added voices enter at section boundaries)
    c = Composer(MusicParams(key=62, mode="dorian", bpm=60), seed=10)
    events = c.events_until(40.0)
    c.set_params(MusicParams(key=67, mode="lydian", bpm=84, intensity=0.8))
    events += c.events_until(100.0)
    c.set_params(MusicParams(key=67, mode="lydian", bpm=45, intensity=0.3))
    events += c.events_until(180.0)
    return events + c.release_all(180.0)


def absolute(mid: mido.MidiFile) -> list[tuple[float, int, mido.Message]]:
    """(seconds, track index, message) for every message, through the file's tempo map."""
    tempo_changes: list[tuple[int, int]] = []  # (tick, tempo)
    tick = 0
    for msg in mid.tracks[0]:
        tick += msg.time
        if msg.type == "set_tempo":
            tempo_changes.append((tick, msg.tempo))

    def seconds(at: int) -> float:
        total, last_tick, tempo = 0.0, 0, 500000
        for t, tp in tempo_changes:
            if t > at:
                break
            total += mido.tick2second(t - last_tick, mid.ticks_per_beat, tempo)
            last_tick, tempo = t, tp
        return total + mido.tick2second(at - last_tick, mid.ticks_per_beat, tempo)

    out = []
    for i, track in enumerate(mid.tracks):
        tick = 0
        for msg in track:
            tick += msg.time
            out.append((seconds(tick), i, msg))
    return out


def test_layout_markers_tempo_and_key_signatures(tmp_path: Path) -> None:
    events = piece_with_changes()
    path = write_midi(events, tmp_path / "piece.mid")
    mid = mido.MidiFile(path)
    assert mid.type == 1 and len(mid.tracks) == 6
    assert [t.name for t in mid.tracks] == ["auralis", "melody", "pad", "bass", "texture", "bell"]
    programs = {m.channel: m.program for t in mid.tracks for m in t if m.type == "program_change"}
    assert programs == {0: 0, 1: 89, 2: 43, 3: 46, 4: 8}  # the classic palette's
    for i, track in enumerate(mid.tracks[1:]):
        channels = {m.channel for m in track if m.type in ("note_on", "note_off")}
        assert channels == {i}
    assert not [m for m in mid.tracks[0] if not m.is_meta]

    timed = absolute(mid)
    meta = [(t, m) for t, i, m in timed if i == 0]
    markers = [(t, m.text) for t, m in meta if m.type == "marker"]
    expected = [(e.time, e.text) for e in events if e.kind == "marker"]
    assert [x for _, x in markers] == [x for _, x in expected]  # exact texts, same order
    assert all(abs(a - b) < 0.002 for (a, _), (b, _) in zip(markers, expected))
    tempos = [(round(t, 3), round(mido.tempo2bpm(m.tempo), 3)) for t, m in meta if m.type == "set_tempo"]
    assert tempos[0] == (0.0, 60.0) and [b for _, b in tempos] == [60.0, 84.0, 45.0]
    assert tempos[1][0] == pytest.approx(next(e.time for e in events if e.kind == "tempo" and e.bpm == 84), abs=0.002)
    keys = [m.key for _, m in meta if m.type == "key_signature"]
    assert keys == ["Am", "D", "D"]  # D dorian (no accidentals), G lydian (two sharps), again at the tempo change
    assert [x for _, x in markers if x.startswith("context")] == [
        "context D dorian", "context G lydian", "context G lydian"
    ]
    # Notes land at their times across the tempo changes.
    notes = [(t, m.channel, m.note, m.type, m.velocity) for t, i, m in timed if m.type in ("note_on", "note_off")]
    want = [(e.time, e.channel, e.pitch, e.kind, e.velocity) for e in events if e.kind in ("note_on", "note_off")]
    assert len(notes) == len(want)
    notes.sort(key=lambda n: (round(n[0], 3), n[1], n[2], n[3]))
    want.sort(key=lambda n: (round(n[0], 3), n[1], n[2], n[3]))
    for got, exp in zip(notes, want):
        assert abs(got[0] - exp[0]) < 0.002 and got[1:4] == exp[1:4]
        if got[3] == "note_on":
            assert got[4] == exp[4]
    assert mid.length == pytest.approx(180.0, abs=0.01)


def test_compose_midi_writes_minutes_of_music(tmp_path: Path) -> None:
    path = compose_midi(tmp_path / "three.mid", minutes=3, seed=2, params=MusicParams().with_preset("sleep"))
    mid = mido.MidiFile(path)
    assert mid.length == pytest.approx(180.0, abs=0.01)
    texts = [m.text for m in mid.tracks[0] if m.type == "marker"]
    assert texts[0] == "context C phrygian" and "section 2" in texts
    # C phrygian has the four flats of A-flat major: written as its relative minor.
    assert [m.key for m in mid.tracks[0] if m.type == "key_signature"] == ["Fm"]


def auralis_command() -> list[str]:
    script = Path(sys.executable).parent / "auralis"
    return [str(script)] if script.exists() else [sys.executable, "-m", "auralis.cli"]


def test_cli_compose_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "x.mid"
    done = subprocess.run(
        [*auralis_command(), "compose", "--minutes", "1", "--seed", "8", "--midi", str(out)],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    mid = mido.MidiFile(out)
    assert mid.length == pytest.approx(60.0, abs=0.01)
    notes = [m for t in mid.tracks for m in t if m.type == "note_on"]
    # Every voice plays: melody phrases (with rests, issue 14), the pad and the bass, and the
    # palette's added voices (texture 3, bell 4) that the orchestra brings into these sections
    # (in this seed's first minute: some seeds' first section has neither).
    sounding = {e.channel for e in compose(1, seed=8) if e.kind == "note_on"}
    assert {0, 1, 2} < sounding <= {0, 1, 2, 3, 4}
    assert {m.channel for m in notes} == sounding
    assert sum(1 for m in notes if m.channel == 0) >= 5
    # Same seed, same file; the preset and flags are applied.
    again = tmp_path / "y.mid"
    subprocess.run(
        [*auralis_command(), "compose", "--minutes", "1", "--seed", "8", "--midi", str(again)],
        check=True, capture_output=True, timeout=60, cwd=REPO,
    )
    assert out.read_bytes() == again.read_bytes()
    focus = tmp_path / "focus.mid"
    subprocess.run(
        [*auralis_command(), "compose", "--minutes", "0.5", "--seed", "3", "--preset", "focus",
         "--key", "64", "--bpm", "70", "--midi", str(focus)],
        check=True, capture_output=True, timeout=60, cwd=REPO,
    )
    meta = mido.MidiFile(focus).tracks[0]
    assert [m.text for m in meta if m.type == "marker"][0] == "context E dorian"
    assert [round(mido.tempo2bpm(m.tempo)) for m in meta if m.type == "set_tempo"] == [70]


@pytest.mark.parametrize(
    ("flags", "word"),
    [(["--bpm", "200"], "bpm"), (["--key", "59"], "key"), (["--intensity", "1.5"], "intensity"),
     (["--minutes", "0"], "minutes")],
)
def test_cli_compose_refuses_bad_values(tmp_path: Path, flags: list[str], word: str) -> None:
    out = tmp_path / "bad.mid"
    args = ["compose", "--minutes", "1", "--midi", str(out), *flags]
    done = subprocess.run([*auralis_command(), *args], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode == 2 and word in done.stderr and not out.exists()
