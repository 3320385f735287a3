"""Measures of the orchestration (issue 12): which voices sound in each section, what changes at
each boundary, which programs play, and sour clashes the added voices make. Used by the tests and
``bench/bench_palettes.py``; pure functions of composed events."""

from __future__ import annotations

from collections.abc import Iterable

from auralis.music.events import Event, marker_palette, marker_section
from auralis.music.palettes import PALETTES, ROLE_CHANNELS

ROLE_OF = {ch: role for role, ch in ROLE_CHANNELS.items()}


def section_voice_sets(events: Iterable[Event]) -> list[frozenset[str]]:
    """For each section, the roles that start at least one note in it."""
    sets: list[set[str]] = []
    for e in events:
        if marker_section(e) is not None:
            sets.append(set())
        elif e.kind == "note_on" and sets and e.channel in ROLE_OF:
            sets[-1].add(ROLE_OF[e.channel])
    return [frozenset(s) for s in sets]


def section_registers(events: Iterable[Event], role: str) -> list[float | None]:
    """For each section, the mean pitch of ``role``'s notes (None when it is silent)."""
    ch = ROLE_CHANNELS[role]
    out: list[list[int]] = []
    for e in events:
        if marker_section(e) is not None:
            out.append([])
        elif e.kind == "note_on" and e.channel == ch and out:
            out[-1].append(e.pitch)
    return [sum(ps) / len(ps) if ps else None for ps in out]


def orchestration_changes(events: list[Event], register_move: float = 5.0) -> list[bool]:
    """For each boundary (after the first section): does a voice enter, leave, or change register
    (its mean pitch moves by ``register_move`` semitones or more)? The last, unfinished section is
    left out."""
    sets = section_voice_sets(events)[:-1]
    regs = {role: section_registers(events, role)[:-1] for role in ROLE_CHANNELS}
    out = []
    for i in range(1, len(sets)):
        changed = sets[i] != sets[i - 1]
        for r in regs.values():
            a, b = r[i - 1], r[i]
            if a is not None and b is not None and abs(a - b) >= register_move:
                changed = True
        out.append(changed)
    return out


def programs_played(events: Iterable[Event]) -> set[int]:
    """The GM programs that sound: each note's program under the palette in force."""
    palette = None
    used: set[int] = set()
    for e in events:
        name = marker_palette(e)
        if name is not None:
            palette = PALETTES[name]
        elif e.kind == "note_on" and palette is not None and e.channel in ROLE_OF:
            used.add(palette.voice(ROLE_OF[e.channel]).program)
    return used


def added_voice_clashes(events: Iterable[Event]) -> int:
    """Texture and bell onsets a minor second/ninth above or below any note sounding then."""
    sounding: dict[tuple[int, int], int] = {}
    added = (ROLE_CHANNELS["texture"], ROLE_CHANNELS["bell"])
    n = 0
    for e in events:
        if e.kind == "note_off":
            sounding.pop((e.channel, e.pitch), None)
        elif e.kind == "note_on":
            if e.channel in added:
                for (_, q) in sounding:
                    if q != e.pitch and abs(e.pitch - q) % 12 == 1 and abs(e.pitch - q) in (1, 13, 25, 37):
                        n += 1
                        break
            sounding[(e.channel, e.pitch)] = e.velocity
    return n
