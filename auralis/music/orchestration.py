"""Orchestration: which voices sound in each section, and their slow swells (issue 12).

The composer's own voices change at a section boundary by its form (auralis.music.form: the
melody rests in a breath, the bass enters or leaves). On top of that the orchestra changes the
added voices at every boundary: the texture or the bell (or both) enters or leaves, and the
texture moves to the other half of its register, so every boundary changes the orchestration
and no two consecutive sections have the same set of sounding voices. A breath stays nearly
empty: no texture, and a bell only when the section before had neither added voice.

Pitches: see auralis.music.doubling (never a sour clash). Dynamics: each added voice has its
own slow swell (auralis.music.dynamics), followed through expression (CC 11), never pumping.
The orchestra draws from its own generator, so the composer's own voices are the same notes
with or without it.
"""

from __future__ import annotations

import random

from auralis.music.bells import Bells
from auralis.music.dynamics import EXPRESSION_CC, Swell, expression
from auralis.music.events import BELL_CHANNEL, MELODY_CHANNEL, TEXTURE_CHANNEL, Event
from auralis.music.palettes import PALETTES
from auralis.music.texture import MANNERS, Texture

TEXTURE_SWELL_DB, BELL_SWELL_DB = -10.0, -6.0
#: At a boundary: the texture changes, the bell changes, or both.
FLIPS = (("texture",), ("bell",), ("texture", "bell"))
FLIP_WEIGHTS = (0.45, 0.4, 0.15)


class Orchestra:
    """The texture and bell voices of one composition (see the module docstring)."""

    def __init__(self, seed: int, palette: str) -> None:
        self._rng = random.Random(f"auralis.music.orchestra:{seed}")
        p = PALETTES[palette]
        self.texture = Texture(self._rng, p.voice("texture").register)
        self.bells = Bells(self._rng, p.voice("bell").register)
        self._swells = {
            TEXTURE_CHANNEL: Swell(random.Random(f"auralis.music.swell.texture:{seed}"), TEXTURE_SWELL_DB),
            BELL_CHANNEL: Swell(random.Random(f"auralis.music.swell.bell:{seed}"), BELL_SWELL_DB),
        }
        self._expression: dict[int, int] = {}
        self._sections = 0

    def set_palette(self, palette: str) -> None:
        """The new palette's registers apply to the notes from now on."""
        p = PALETTES[palette]
        self.texture.register = p.voice("texture").register
        self.bells.register = p.voice("bell").register

    def section(self, evs: list[Event], b: int, t: float, melody_on: bool) -> None:
        """A new section starts at beat ``b`` (time ``t``)."""
        rng = self._rng
        self._sections += 1
        tex, bell = self.texture.on, self.bells.on
        if self._sections == 1:
            new_tex, new_bell = rng.random() < 0.6, rng.random() < 0.5
        elif not melody_on:  # a breath
            new_tex, new_bell = False, not (tex or bell)
        else:
            flip = rng.choices(FLIPS, FLIP_WEIGHTS)[0]
            new_tex = (not tex) if "texture" in flip else tex
            new_bell = (not bell) if "bell" in flip else bell
        high = not self.texture.high
        if new_tex:
            self.texture.stop_all(evs, t)  # a new manner or register starts afresh
            self.texture.enter(rng.choice(MANNERS), high, b)
        else:
            self.texture.high = high
            if tex:
                self.texture.leave(evs, t)
        if new_bell:
            self.bells.enter()  # (staying on, it strikes at the new section's first chord too)
        elif bell:
            self.bells.leave()

    def chord(self, evs: list[Event], t: float, held: list[int], sounding: list[int]) -> None:
        """The chord changed (pad and bass already revoiced): stop added notes that no longer fit."""
        self.texture.chord_change(evs, t, held, sounding + list(self.bells.sounding))
        self.bells.chord_change(evs, t, held, sounding + list(self.texture.sounding))

    def beat(self, evs: list[Event], b: int, t0: float, spb: float, held: list[int],
             melody: int | None, intensity: float) -> None:
        """Beat ``b``: the added voices' notes and swells. ``evs`` holds this beat's events so
        far (the melody's onsets in it are avoided too); ``melody``: the sounding melody note."""
        # the melody's notes in this beat: those starting, and those still ringing into it
        mel = {e.pitch for e in evs if e.channel == MELODY_CHANNEL and e.kind in ("note_on", "note_off")}
        if melody is not None:
            mel.add(melody)
        sounding = sorted(mel)
        self.texture.beat(evs, b, t0, spb, held, sounding + list(self.bells.sounding), intensity)
        self.bells.beat(evs, b, t0, spb, held, sounding + list(self.texture.sounding), intensity)
        for ch, swell in self._swells.items():
            v = expression(swell.db(t0))
            if self._expression.get(ch) != v:
                self._expression[ch] = v
                evs.append(Event(t0, "control", ch, control=EXPRESSION_CC, value=v))
