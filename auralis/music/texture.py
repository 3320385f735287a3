"""The texture voice: slow arpeggiated chord tones, or sustained high notes.

Per section it is on or off (see auralis.music.orchestration) and plays in one half of its
register (low or high), in one of two manners:

- ``arp``: a chord tone every 2-3 beats (slower when calm), walking up and down the fitting
  pitches of its register half, each ringing 1.5 times the step, so the notes overlap;
- ``sustain``: one or two high notes held for the chord, restruck at each chord change.

Pitches come from :func:`auralis.music.doubling.fitting_pitches`, so the texture never clashes
with what sounds and never makes the melody sour. Velocities are soft (28-50); the level swells
slowly through expression (CC 11), from auralis.music.orchestration.
"""

from __future__ import annotations

import math
import random

from auralis.music.doubling import fitting_pitches
from auralis.music.events import TEXTURE_CHANNEL, Event

MANNERS = ("arp", "sustain")


class Texture:
    def __init__(self, rng: random.Random, register: tuple[int, int]) -> None:
        self._rng = rng
        self.register = register
        self.on = False
        self.high = False  # which half of the register
        self.manner = "arp"
        self._next_beat = 0
        self._direction = 1
        self._last: int | None = None
        self._restrike = False
        #: sounding notes: pitch -> beat at which it stops
        self.sounding: dict[int, int] = {}

    def window(self) -> tuple[int, int]:
        lo, hi = self.register
        mid = (lo + hi) // 2
        # halves that overlap a little, each at least an octave
        return (max(lo, mid - 3), hi) if self.high else (lo, min(hi, mid + 3))

    def enter(self, manner: str, high: bool, beat: int) -> None:
        self.on, self.manner, self.high = True, manner, high
        self._next_beat = beat
        self._restrike = True
        self._last = None

    def leave(self, evs: list[Event], t: float) -> None:
        self.on = False
        self.stop_all(evs, t)

    def stop_all(self, evs: list[Event], t: float) -> None:
        for p in sorted(self.sounding):
            evs.append(Event(t, "note_off", TEXTURE_CHANNEL, p))
        self.sounding.clear()

    def chord_change(self, evs: list[Event], t: float, held: list[int], sounding: list[int]) -> None:
        """At a chord change: notes that no longer fit stop; a sustain is restruck."""
        for p in sorted(self.sounding):
            others = [q for q in sounding if q != p]
            if p not in fitting_pitches(p, p, held, others):
                evs.append(Event(t, "note_off", TEXTURE_CHANNEL, p))
                del self.sounding[p]
        self._restrike = True

    def beat(self, evs: list[Event], b: int, t0: float, spb: float, held: list[int],
             sounding: list[int], intensity: float) -> None:
        for p, end in sorted(self.sounding.items()):
            if end <= b:
                evs.append(Event(t0, "note_off", TEXTURE_CHANNEL, p))
                del self.sounding[p]
        if not self.on:
            return
        lo, hi = self.window()
        others = sounding + list(self.sounding)
        if self.manner == "sustain":
            if not self._restrike:
                return
            cands = fitting_pitches(lo, hi, held, others)
            if not cands:
                return
            self._restrike = False
            top = cands[-3:]
            picks = sorted(set(self._rng.sample(top, min(len(top), self._rng.choice((1, 2))))))
            for p in sorted(self.sounding):
                if p not in picks:
                    evs.append(Event(t0, "note_off", TEXTURE_CHANNEL, p))
                    del self.sounding[p]
            for p in picks:
                if p in self.sounding:
                    continue
                evs.append(Event(t0, "note_on", TEXTURE_CHANNEL, p, self._velocity(intensity)))
                self.sounding[p] = b + 10_000  # until the chord changes
            return
        if b < self._next_beat:
            return
        cands = [p for p in fitting_pitches(lo, hi, held, others) if p not in self.sounding]
        step = self._rng.choice((2, 3)) if intensity >= 0.35 else self._rng.choice((3, 4))
        self._next_beat = b + step
        if not cands:
            return
        if self._last is None:
            p = cands[len(cands) // 3]
        else:
            ahead = [q for q in cands if (q - self._last) * self._direction > 0]
            if not ahead:
                self._direction = -self._direction
                ahead = [q for q in cands if (q - self._last) * self._direction > 0] or cands
            p = min(ahead, key=lambda q: abs(q - self._last))  # type: ignore[operator]
        self._last = p
        evs.append(Event(t0, "note_on", TEXTURE_CHANNEL, p, self._velocity(intensity)))
        self.sounding[p] = b + max(2, math.ceil(step * 1.5))

    def _velocity(self, intensity: float) -> int:
        return int(round(30 + 16 * intensity + self._rng.uniform(-2, 2)))
