"""The bell voice: occasional chord tones with a long decay.

When on (per section, see auralis.music.orchestration) it strikes once at the section's first
chord, then rarely: on average every 12-24 s (sparser when calm), always a chord tone from
:func:`auralis.music.doubling.fitting_pitches` in its register, held 6 s so the instrument's
own decay and the reverb ring out (earlier when the chord changes under it and it no longer fits).
"""

from __future__ import annotations

import math
import random

from auralis.music.doubling import fitting_pitches
from auralis.music.events import BELL_CHANNEL, Event

RING_S = 6.0
MEAN_GAP_S = (12.0, 24.0)  # busy .. calm


class Bells:
    def __init__(self, rng: random.Random, register: tuple[int, int]) -> None:
        self._rng = rng
        self.register = register
        self.on = False
        self._strike_due = False
        self.sounding: dict[int, int] = {}  # pitch -> beat at which it stops

    def enter(self) -> None:
        self.on = True
        self._strike_due = True

    def leave(self) -> None:
        # a bell that has been struck rings on: its note ends as planned
        self.on = False

    def chord_change(self, evs: list[Event], t: float, held: list[int], sounding: list[int]) -> None:
        for p in sorted(self.sounding):
            others = [q for q in sounding if q != p]
            if p not in fitting_pitches(p, p, held, others):
                evs.append(Event(t, "note_off", BELL_CHANNEL, p))
                del self.sounding[p]

    def stop_all(self, evs: list[Event], t: float) -> None:
        for p in sorted(self.sounding):
            evs.append(Event(t, "note_off", BELL_CHANNEL, p))
        self.sounding.clear()

    def beat(self, evs: list[Event], b: int, t0: float, spb: float, held: list[int],
             sounding: list[int], intensity: float) -> None:
        for p, end in sorted(self.sounding.items()):
            if end <= b:
                evs.append(Event(t0, "note_off", BELL_CHANNEL, p))
                del self.sounding[p]
        if not self.on:
            return
        gap = MEAN_GAP_S[1] - (MEAN_GAP_S[1] - MEAN_GAP_S[0]) * intensity
        if not self._strike_due and self._rng.random() >= spb / gap:
            return
        cands = [p for p in fitting_pitches(*self.register, held, sounding + list(self.sounding))
                 if p not in self.sounding]
        if not cands:
            return  # (a due strike waits for a beat where one fits)
        self._strike_due = False
        p = self._rng.choice(cands)
        vel = int(round(38 + 20 * intensity + self._rng.uniform(-4, 4)))
        evs.append(Event(t0, "note_on", BELL_CHANNEL, p, vel))
        self.sounding[p] = b + max(1, math.ceil(RING_S / spb))
