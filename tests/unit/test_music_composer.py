"""The Composer's API: streaming in chunks, determinism, live parameter changes, release."""

from __future__ import annotations

import math

import pytest

from auralis.music.composer import Composer, compose
from auralis.music.events import MELODY_CHANNEL, PAD_CHANNEL, Event
from auralis.music.params import MusicParams
from auralis.music.theory import QUALITIES, pc_from_name, scale_pcs

ORDER = {"note_off": 0, "control": 1, "marker": 1, "tempo": 1, "note_on": 2}


def chunked(c: Composer, end: float, step: float) -> list[Event]:
    out: list[Event] = []
    k = 1
    while k * step < end:
        out += c.events_until(k * step)
        k += 1
    return out + c.events_until(end)


def test_defaults_and_properties() -> None:
    c = Composer()
    assert c.seed == 0 and c.params == MusicParams() and c.horizon == 0.0
    first = c.events_until(0.001)
    assert c.horizon == pytest.approx(1.0)  # one beat at 60 BPM
    assert [(e.kind, e.text, e.bpm) for e in first[:5]] == [
        ("tempo", "", 60.0),
        ("marker", "context C aeolian", 0.0),
        ("marker", "palette classic", 0.0),
        ("marker", "section 1", 0.0),
        ("marker", first[4].text, 0.0),
    ]
    assert first[4].text.startswith("chord C ")
    assert all(e.time == 0.0 for e in first)


def test_events_are_sorted_never_repeated_and_chunking_does_not_matter() -> None:
    whole = Composer(seed=9).events_until(300.0)
    small = chunked(Composer(seed=9), 300.0, 0.1)
    odd = chunked(Composer(seed=9), 300.0, 7.3)
    assert whole == small == odd
    keys = [(e.time, ORDER[e.kind]) for e in whole]
    assert keys == sorted(keys)
    c = Composer(seed=9)
    c.events_until(50.0)
    assert c.events_until(50.0) == [] and c.events_until(20.0) == []
    assert all(e.time >= 50.0 for e in c.events_until(60.0))


def test_determinism_with_changes_at_the_same_musical_times() -> None:
    changes = [
        (15.0, MusicParams(key=62, mode="dorian", bpm=72, intensity=0.7)),
        (25.0, MusicParams(key=67, mode="lydian", bpm=45, intensity=0.2)),
        (100.0, MusicParams(key=67, mode="lydian", bpm=45, intensity=0.9)),
    ]

    def run(step: float | None) -> tuple[list[Event], list[float]]:
        c = Composer(seed=4)
        out: list[Event] = []
        effective = []
        for at, p in changes:
            out += chunked(c, at, step) if step else c.events_until(at)
            effective.append(c.set_params(p))
        out += chunked(c, 400.0, step) if step else c.events_until(400.0)
        return out, effective

    a, ta = run(None)
    b, tb = run(0.1)
    c, tc = run(2.9)
    assert a == b == c and ta == tb == tc
    assert Composer(seed=5).events_until(400.0)[:300] != a[:300]


def test_different_seeds_give_different_music() -> None:
    def melody(seed: int) -> list[int]:
        return [e.pitch for e in Composer(seed=seed).events_until(120.0) if e.kind == "note_on" and e.channel == 0]

    tunes = {tuple(melody(s)) for s in range(8)}
    assert len(tunes) == 8
    assert melody(-1) != melody(1)  # negative seeds are distinct too


def test_live_change_takes_effect_at_the_next_beat() -> None:
    base = Composer(seed=5).events_until(200.0)
    c = Composer(seed=5)
    before = c.events_until(30.3)
    new = MusicParams(key=62, mode="dorian", bpm=72.0, intensity=0.7)
    te = c.set_params(new)
    assert te == c.horizon and 30.3 <= te < 30.3 + 1.0  # the next beat boundary at 60 BPM
    assert te == pytest.approx(31.0)
    assert c.params == MusicParams()  # not yet in effect
    after = c.events_until(200.0)
    assert c.params == new
    # Nothing before the change differs from the run without it.
    assert before + [e for e in after if e.time < te] == [e for e in base if e.time < te]
    at = [e for e in after if e.time == te]
    assert ("tempo", 72.0) in [(e.kind, e.bpm) for e in at]
    texts = [e.text for e in at if e.kind == "marker"]
    assert texts[0] == "context D dorian" and texts[-1].startswith("chord ")
    # From te on: chords of D dorian, on the new beat grid, and the pad plays them.
    scale = set(scale_pcs(62, "dorian"))
    spb = 60.0 / 72.0
    pad: set[int] = set()
    chord_pcs: set[int] = set()
    events = before + after
    for i, e in enumerate(events):
        if e.channel == PAD_CHANNEL and e.kind == "note_on":
            pad.add(e.pitch)
        elif e.channel == PAD_CHANNEL and e.kind == "note_off":
            pad.discard(e.pitch)
        elif e.kind == "marker" and e.text.startswith("chord "):
            _, root, quality = e.text.split()
            chord_pcs = {(pc_from_name(root) + k) % 12 for k in QUALITIES[quality]}
            if e.time >= te:
                assert chord_pcs <= scale
                beats = (e.time - te) / spb
                assert abs(beats - round(beats)) < 1e-6
        last_at_time = i + 1 == len(events) or events[i + 1].time > e.time
        if last_at_time and e.time >= te:
            assert {p % 12 for p in pad} <= chord_pcs, e.time
    melody_after = [e for e in after if e.kind == "note_on" and e.channel == MELODY_CHANNEL and e.time > te + 2]
    in_scale = sum(1 for e in melody_after if e.pitch % 12 in scale)
    assert in_scale / len(melody_after) > 0.9


def test_notes_sounding_at_a_change_end_with_a_normal_note_off() -> None:
    c = Composer(seed=6)
    before = c.events_until(40.0)
    sounding = set()
    for e in before:
        if e.kind == "note_on":
            sounding.add((e.channel, e.pitch))
        elif e.kind == "note_off":
            sounding.discard((e.channel, e.pitch))
    assert sounding
    te = c.set_params(MusicParams(key=64, mode="phrygian"))
    after = c.events_until(150.0)  # a common pad tone may hold through several chords
    for ch, p in sounding:
        off = next(e for e in after if e.kind == "note_off" and (e.channel, e.pitch) == (ch, p))
        assert off.time >= te
    # The pad is revoiced smoothly: its tones common to the new chord keep sounding.
    at = [e for e in after if e.time == te]
    chord = next(e.text for e in at if e.text.startswith("chord "))
    _, root, quality = chord.split()
    new_pcs = {(pc_from_name(root) + k) % 12 for k in QUALITIES[quality]}
    released = {e.pitch for e in at if e.kind == "note_off" and e.channel == PAD_CHANNEL}
    common = {p for ch, p in sounding if ch == PAD_CHANNEL and p % 12 in new_pcs}
    assert not common & released


def test_latest_pending_change_wins_and_no_change_is_silent() -> None:
    c = Composer(seed=7)
    c.events_until(10.0)
    t1 = c.set_params(MusicParams(key=64))
    t2 = c.set_params(MusicParams(key=69, mode="lydian"))
    assert t1 == t2 == c.horizon
    evs = c.events_until(30.0)
    contexts = [e.text for e in evs if e.kind == "marker" and e.text.startswith("context")]
    assert contexts == ["context A lydian"]
    c.set_params(MusicParams(key=69, mode="lydian"))  # the same parameters: nothing to mark
    evs = c.events_until(60.0)
    assert not [e for e in evs if e.kind in ("tempo",) or e.text.startswith("context")]


def test_intensity_change_marks_context_but_keeps_harmony_and_tempo() -> None:
    c = Composer(seed=8)
    c.events_until(20.5)
    te = c.set_params(MusicParams(intensity=0.9))
    at = [e for e in c.events_until(te + 0.01) if e.time == te]
    assert [e.text for e in at if e.kind == "marker"][0] == "context C aeolian"
    assert not [e for e in at if e.kind == "tempo"]
    # No chord change forced off the bar line (te = 21 s is beat 1 of a bar).
    assert not [e for e in at if e.text.startswith("chord")]


def test_release_all_ends_every_note_and_the_piece() -> None:
    c = Composer(seed=2)
    evs = c.events_until(95.5)
    offs = c.release_all(95.5)
    assert offs and all(e.kind == "note_off" and e.time == 95.5 for e in offs)
    open_notes: set[tuple[int, int]] = set()
    for e in evs + offs:
        if e.kind == "note_on":
            assert (e.channel, e.pitch) not in open_notes
            open_notes.add((e.channel, e.pitch))
        elif e.kind == "note_off":
            assert (e.channel, e.pitch) in open_notes
            open_notes.discard((e.channel, e.pitch))
    assert not open_notes
    assert c.events_until(200.0) == [] and c.release_all(200.0) == []


def test_compose_is_a_finite_released_piece() -> None:
    evs = compose(2.0, seed=1, params=MusicParams(bpm=80))
    assert evs[-1].time == pytest.approx(120.0) and max(e.time for e in evs) <= 120.0
    ons = sum(1 for e in evs if e.kind == "note_on")
    # Phrases with rests (issue 14): about 50 melody notes a minute plus the pad and bass.
    assert ons == sum(1 for e in evs if e.kind == "note_off") and ons > 60


@pytest.mark.parametrize("minutes", [0, -1, math.nan, math.inf, "3", True, 24 * 60 + 1])
def test_compose_rejects_bad_minutes(minutes: object) -> None:
    with pytest.raises(ValueError, match="minutes"):
        compose(minutes)  # type: ignore[arg-type]


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(TypeError, match="params"):
        Composer(params={"bpm": 60})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="seed"):
        Composer(seed="1")  # type: ignore[arg-type]
    c = Composer()
    for t in (math.nan, math.inf, "1"):
        with pytest.raises(ValueError, match="t must be"):
            c.events_until(t)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="params"):
        c.set_params({"bpm": 70})  # type: ignore[arg-type]
    assert c.horizon == 0.0 and c.params == MusicParams()
