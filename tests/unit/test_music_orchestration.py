"""The added voices and the orchestration (issue 12): changes at every section, consonance,
slow swells, determinism, and the composer's own voices untouched."""

from __future__ import annotations

import pytest

from auralis.music.composer import Composer, compose
from auralis.music.consonance import clashes
from auralis.music.events import BELL_CHANNEL, TEXTURE_CHANNEL, marker_palette
from auralis.music.orchestration_measures import (
    added_voice_clashes,
    orchestration_changes,
    programs_played,
    section_voice_sets,
)
from auralis.music.palettes import PALETTES
from auralis.music.params import PRESETS, MusicParams


def _params(name: str) -> MusicParams:
    return MusicParams().with_preset(name) if name in PRESETS else MusicParams(palette=name)


@pytest.mark.parametrize("name", list(PALETTES))
def test_every_boundary_changes_the_orchestration_for_an_hour(name: str) -> None:
    ev = compose(60, seed=3, params=_params(name))
    changes = orchestration_changes(ev)
    assert len(changes) >= 40 and all(changes)
    sets = section_voice_sets(ev)[:-1]
    assert all(a != b for a, b in zip(sets, sets[1:]))
    assert added_voice_clashes(ev) == 0
    assert {"texture", "bell"} <= set().union(*sets)
    assert len(programs_played(ev)) >= 4
    assert all(20 <= e.velocity <= 100 for e in ev if e.kind == "note_on")


def test_added_voices_never_make_the_melody_sour() -> None:
    """A melody onset a minor 2nd/9th above a texture or bell note always clashes with the
    held pad or bass as well (the added voices double held pitch classes higher up)."""
    for seed in range(3):
        ev = compose(30, seed=seed, params=MusicParams().with_preset("bright"))
        sounding: set[tuple[int, int]] = set()
        for e in ev:
            if e.kind == "note_off":
                sounding.discard((e.channel, e.pitch))
            elif e.kind == "note_on":
                if e.channel == 0:
                    acc = [q for c, q in sounding if c in (1, 2)]
                    added = [q for c, q in sounding if c in (TEXTURE_CHANNEL, BELL_CHANNEL)]
                    assert not clashes(e.pitch, added) or clashes(e.pitch, acc), e
                sounding.add((e.channel, e.pitch))


def test_composer_voices_are_the_same_notes_under_every_palette() -> None:
    def own(p: MusicParams) -> list:
        return [e for e in compose(20, seed=5, params=p) if e.channel in (0, 1, 2) and e.kind != "marker"]

    base = own(MusicParams())
    for name in PALETTES:
        assert own(MusicParams(palette=name)) == base


def test_added_voices_swell_slowly() -> None:
    ev = compose(20, seed=2, params=MusicParams())
    for ch in (TEXTURE_CHANNEL, BELL_CHANNEL):
        cc = [e for e in ev if e.kind == "control" and e.channel == ch and e.control == 11]
        assert len(cc) > 50
        # turns (a rise becoming a fall or back) are 10 s or more apart: swells, never a pump
        turns, direction = [], 0
        for a, b in zip(cc, cc[1:]):
            d = (b.value > a.value) - (b.value < a.value)
            if d and d != direction:
                if direction:
                    turns.append(a.time)
                direction = d
        assert all(y - x >= 9.0 for x, y in zip(turns, turns[1:])), turns
        values = [e.value for e in cc]
        assert max(values) - min(values) >= 20  # it does swell


def test_palette_marker_at_start_and_at_each_change() -> None:
    c = Composer(MusicParams(palette="glass"), seed=1)
    first = c.events_until(10)
    assert [marker_palette(e) for e in first if marker_palette(e)] == ["glass"]
    assert next(e for e in first if marker_palette(e)).time == 0.0
    t = c.set_params(MusicParams(palette="choir"))
    later = c.events_until(30)
    marks = [e for e in later if marker_palette(e)]
    assert [(marker_palette(e), e.time) for e in marks] == [("choir", t)]
    c.set_params(MusicParams(palette="choir", bpm=70))  # no palette change: no marker
    assert not [e for e in c.events_until(50) if marker_palette(e)]


def test_deterministic_with_palettes() -> None:
    p = MusicParams(palette="strings")
    assert compose(10, seed=9, params=p) == compose(10, seed=9, params=p)
    c = Composer(p, seed=9)
    chunked = []
    for i in range(1, 6001):
        chunked += c.events_until(i / 10)
    assert chunked + c.release_all(600) == compose(10, seed=9, params=p)
