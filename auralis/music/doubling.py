"""Which pitches a further voice (texture, bell) may add without a sour clash.

A texture or bell note doubles, higher up, a pitch class the pad or bass already holds, and is
never a minor second or minor ninth above or below anything sounding (the held accompaniment,
the melody, the other added voices: the rule of auralis.music.consonance, both ways). Because it
doubles a held pitch class above that held note, a later melody note that would clash with it
would clash with the held note below as well, which the melody already avoids: adding these
voices never makes a melody note sour.
"""

from __future__ import annotations

from collections.abc import Iterable

from auralis.music.consonance import clashes


def fitting_pitches(low: int, high: int, held: Iterable[int], sounding: Iterable[int]) -> list[int]:
    """Pitches in ``low..high`` that double a held pitch class above its lowest held note and
    form no minor second/ninth with any held or sounding note (either way up), ascending."""
    held = list(held)
    others = held + list(sounding)
    lowest: dict[int, int] = {}
    for q in held:
        pc = q % 12
        if pc not in lowest or q < lowest[pc]:
            lowest[pc] = q
    out = []
    for p in range(low, high + 1):
        base = lowest.get(p % 12)
        if base is None or p <= base:
            continue
        if clashes(p, others) or any(clashes(q, (p,)) for q in others):
            continue
        out.append(p)
    return out
