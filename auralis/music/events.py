"""The timed events the composer produces and every later layer consumes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

EventKind = Literal["note_on", "note_off", "control", "marker", "tempo"]

#: MIDI channels of the voices.
MELODY_CHANNEL = 0  # piano
PAD_CHANNEL = 1  # warm pad
BASS_CHANNEL = 2  # drone / bass (further voices use 2 and up)

#: General MIDI programs (0-based) of the voices, as written into MIDI files.
GM_PROGRAMS: dict[int, int] = {
    MELODY_CHANNEL: 0,  # Acoustic Grand Piano
    PAD_CHANNEL: 89,  # Pad 2 (warm)
    BASS_CHANNEL: 43,  # Contrabass: a bowed, sustained drone
}


@dataclass(frozen=True, slots=True)
class Event:
    """One event at an absolute time in seconds from the start of the composition.

    - ``note_on`` / ``note_off``: ``channel``, ``pitch`` (0-127), ``velocity`` (1-127 for on).
    - ``control``: ``channel``, ``control`` (a MIDI controller number) and ``value`` (0-127);
      the composer uses expression (CC 11) for the slow swells of held voices.
    - ``marker``: ``text`` such as ``"chord D min7"``, ``"context D dorian"``, ``"section 3"``.
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


def marker_section(ev: Event) -> int | None:
    """The section number a ``"section N"`` marker names, else None."""
    if ev.kind == "marker" and ev.text.startswith("section "):
        try:
            return int(ev.text.split()[1])
        except (IndexError, ValueError):
            return None
    return None
