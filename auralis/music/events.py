"""The timed events the composer produces and every later layer consumes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

EventKind = Literal["note_on", "note_off", "control", "marker", "tempo"]

#: MIDI channels of the voices (their instruments: the palette's, see auralis.music.palettes).
MELODY_CHANNEL = 0
PAD_CHANNEL = 1
BASS_CHANNEL = 2  # bass or drone
TEXTURE_CHANNEL = 3  # slow arpeggios or sustained high notes (auralis.music.texture)
BELL_CHANNEL = 4  # sparse bell-like chord tones (auralis.music.bells)


@dataclass(frozen=True, slots=True)
class Event:
    """One event at an absolute time in seconds from the start of the composition.

    - ``note_on`` / ``note_off``: ``channel``, ``pitch`` (0-127), ``velocity`` (1-127 for on).
    - ``control``: ``channel``, ``control`` (a MIDI controller number) and ``value`` (0-127);
      the composer uses expression (CC 11) for the slow swells of held voices.
    - ``marker``: ``text`` such as ``"chord D min7"``, ``"context D dorian"``, ``"section 3"``,
      ``"palette sleep"`` (the instruments from here on: programs, levels, pans, reverb).
    - ``tempo``: ``bpm`` in effect from ``time`` on.
    """

    time: float
    kind: EventKind
    channel: int = 0
    pitch: int = 0
    velocity: int = 0
    text: str = ""
    bpm: float = 0.0
    control: int = 0
    value: int = 0


def marker_chord(ev: Event) -> str | None:
    """The chord label a ``"chord ..."`` marker names, else None."""
    if ev.kind == "marker" and ev.text.startswith("chord "):
        return ev.text[6:].strip()
    return None


def marker_palette(ev: Event) -> str | None:
    """The palette name a ``"palette NAME"`` marker names, else None."""
    if ev.kind == "marker" and ev.text.startswith("palette "):
        return ev.text[8:].strip()
    return None


def marker_section(ev: Event) -> int | None:
    """The section number a ``"section N"`` marker names, else None."""
    if ev.kind == "marker" and ev.text.startswith("section "):
        try:
            return int(ev.text.split()[1])
        except (IndexError, ValueError):
            return None
    return None
