"""Consonance with the held accompaniment: the sour intervals a melody note must not form."""

from __future__ import annotations

from collections.abc import Iterable


def clashes(pitch: int, held: Iterable[int]) -> bool:
    """True when `pitch` lies a minor second (or a minor ninth, or more octaves) above a held note."""
    return any(pitch > q and (pitch - q) % 12 == 1 for q in held)


def weak_position(tick_in_bar: int, ticks_per_beat: int) -> bool:
    """Off the beat, or on beat 2 or 4 of a 4/4 bar."""
    return tick_in_bar % ticks_per_beat != 0 or (tick_in_bar // ticks_per_beat) % 2 == 1
