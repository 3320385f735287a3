"""Reading the composer's chord and section markers (auralis.music.events)."""

from __future__ import annotations

from auralis.music.events import Event, marker_chord, marker_section


def test_chord_and_section_markers_are_read() -> None:
    assert marker_chord(Event(1.0, "marker", text="chord D min7")) == "D min7"
    assert marker_section(Event(1.0, "marker", text="section 3")) == 3


def test_other_events_and_malformed_markers_name_nothing() -> None:
    assert marker_chord(Event(1.0, "marker", text="section 3")) is None
    assert marker_section(Event(1.0, "marker", text="chord D min7")) is None
    assert marker_section(Event(1.0, "marker", text="section x")) is None
    assert marker_section(Event(1.0, "marker", text="section")) is None
    assert marker_chord(Event(1.0, "note_on", channel=0, pitch=60, velocity=64, text="chord X")) is None
    assert marker_chord(Event(1.0, "marker", text="context D dorian")) is None
