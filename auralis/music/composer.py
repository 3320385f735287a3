"""The composer: an endless, deterministic stream of timed note events for one listener.

Music is generated one beat at a time into a queue, from musical state only (beats, bars, the
seeded generator), never from the times a caller asks for: the same seed and the same parameter
changes at the same beats give the same events however ``events_until`` is chunked. Each beat
costs the same, so an hour is as cheap per bar at its end as at its start.

Layout in time: 4/4 bars. A chord lasts 1-4 bars (drawn independently of tempo, so chord changes
per minute are proportional to BPM). A section lasts 30-90 seconds: it plays a new progression
cycle (see `harmony`), with a new pad register and voice count, melody register and bass part.
"""

from __future__ import annotations

import math
import random
from collections import deque

from auralis.music.events import BASS_CHANNEL, MELODY_CHANNEL, PAD_CHANNEL, Event
from auralis.music.harmony import color, new_cycle
from auralis.music.melody import MelodyLine, slot_length_weights, sounding_probability
from auralis.music.params import MusicParams
from auralis.music.theory import Chord, pc_name, scale_pcs
from auralis.music.voicing import lead

BEATS_PER_BAR = 4

#: Probability that a chord of the cycle changes colour each time round after the first.
RECOLOUR = 0.3

#: Chord length in bars and its weights (independent of tempo).
CHORD_BARS = (1, 2, 3, 4)
CHORD_BAR_WEIGHTS = (0.15, 0.4, 0.2, 0.25)

#: Section length in seconds. Chord lengths are never cut to fit a section (that would tie the
#: harmonic rhythm to the tempo): a section ends at the first chord change after a planned time.
SECTION_SECONDS = (30.0, 90.0)

#: Pad register centres, voice counts; melody register centres; bass parts.
PAD_CENTRES = (55, 57, 59, 60, 62, 64)
PAD_VOICES = (3, 4, 4, 5)
PAD_SPAN_BELOW, PAD_SPAN_ABOVE = 8, 9
MELODY_CENTRE_RANGE = (69, 81)
MELODY_CENTRE_SHIFTS = (-4, -3, -2, 2, 3, 4)
BASS_PARTS = ("root", "root", "pedal", "off")
BASS_LOW = 36  # bass notes lie in 36-47

#: Hold a melody note for at most this many slots (and at most a bar) unless the next note comes.
MAX_HOLD_SLOTS = 2

_RANK = {"note_off": 0, "marker": 1, "tempo": 1, "note_on": 2}


def _order(ev: Event) -> tuple[float, int]:
    return (ev.time, _RANK[ev.kind])


class Composer:
    """Endless ambient music for one listener. See the module docstring for the layout."""

    def __init__(self, params: MusicParams = MusicParams(), seed: int = 0) -> None:
        if not isinstance(params, MusicParams):
            raise TypeError(f"params must be a MusicParams, got {type(params).__name__}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed must be an integer, got {seed!r}")
        self._seed = seed
        # String seeding hashes with SHA-512: stable across runs, distinct for every integer.
        self._rng = random.Random(f"auralis.music:{seed}")
        self._params = params
        self._pending: MusicParams | None = None
        self._spb = 60.0 / params.bpm
        self._beat = 0
        self._time = 0.0
        self._queue: deque[Event] = deque()
        self._sounding: set[tuple[int, int]] = set()  # (channel, pitch) returned on, not yet off
        self._last_returned = 0.0
        self._finished = False
        # Harmony.
        self._scale = frozenset(scale_pcs(params.key, params.mode))
        self._chord: Chord | None = None
        self._chord_tonic: int | None = None
        self._cycle: list[Chord] = []
        self._cycle_pos = 0
        self._cycle_round = 0
        self._chord_end = 0  # beat at which the next chord starts
        self._section = 0
        self._section_end = 0.0
        # Voices.
        self._pad: tuple[int, ...] = ()
        self._pad_centre = self._rng.choice(PAD_CENTRES)
        self._pad_voices = 4
        self._bass: int | None = None
        self._bass_part = "root"
        self._melody = MelodyLine(self._rng, center=75)
        self._mel_pitch: int | None = None
        self._mel_off = 0.0  # beat position at which the sounding melody note ends
        self._slot_len = 1.0

    # ------------------------------------------------------------------ public API

    @property
    def seed(self) -> int:
        return self._seed

    @property
    def params(self) -> MusicParams:
        """The parameters in effect for the material generated so far."""
        return self._params

    @property
    def horizon(self) -> float:
        """Seconds up to which material has been generated (always a beat boundary)."""
        return self._time

    def events_until(self, t: float) -> list[Event]:
        """Every event not yet returned with time < `t`, in order. Generates as needed."""
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t):
            raise ValueError(f"t must be a finite number of seconds, got {t!r}")
        if self._finished:
            return []
        while self._time < t:
            self._generate_beat()
        out: list[Event] = []
        q = self._queue
        while q and q[0].time < t:
            ev = q.popleft()
            if ev.kind == "note_on":
                self._sounding.add((ev.channel, ev.pitch))
            elif ev.kind == "note_off":
                self._sounding.discard((ev.channel, ev.pitch))
            out.append(ev)
        if out:
            self._last_returned = out[-1].time
        return out

    def set_params(self, params: MusicParams) -> float:
        """Schedule new parameters from the next beat boundary >= horizon; return its time.

        Nothing already generated changes. Several calls before it takes effect: the latest wins.
        """
        if not isinstance(params, MusicParams):
            raise TypeError(f"params must be a MusicParams, got {type(params).__name__}")
        self._pending = params
        return self._time

    def release_all(self, t: float) -> list[Event]:
        """Note-offs at `t` (or the last returned event's time, if later) for every sounding note.

        Ends the piece: events generated but not returned are dropped, and later calls of
        ``events_until`` return nothing.
        """
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t):
            raise ValueError(f"t must be a finite number of seconds, got {t!r}")
        t = max(float(t), self._last_returned)
        offs = [Event(t, "note_off", ch, p) for ch, p in sorted(self._sounding)]
        self._sounding.clear()
        self._queue.clear()
        self._finished = True
        return offs

    # ------------------------------------------------------------------ generation

    def _generate_beat(self) -> None:
        b, t0 = self._beat, self._time
        evs: list[Event] = []
        context_changed = False
        if b == 0:  # a change before the start simply replaces the initial parameters
            if self._pending is not None:
                self._apply_initial(self._pending)
            evs.append(Event(t0, "tempo", bpm=self._params.bpm))
            evs.append(Event(t0, "marker", text=self._context_text()))
        elif self._pending is not None:
            new, old = self._pending, self._params
            self._pending = None
            if new != old:
                self._params = new
                if new.bpm != old.bpm:
                    self._spb = 60.0 / new.bpm
                    evs.append(Event(t0, "tempo", bpm=new.bpm))
                evs.append(Event(t0, "marker", text=self._context_text()))
                if (new.key, new.mode) != (old.key, old.mode):
                    self._scale = frozenset(scale_pcs(new.key, new.mode))
                    self._melody.set_context(self._scale)
                    context_changed = True
        spb = self._spb
        if b >= self._chord_end or context_changed:
            self._next_chord(evs, b, t0, context_changed)
        if b % BEATS_PER_BAR == 0:
            self._choose_slot_length()
        self._melody_beat(evs, b, t0, spb)
        evs.sort(key=_order)
        self._queue.extend(evs)
        self._beat = b + 1
        self._time = t0 + spb

    def _apply_initial(self, params: MusicParams) -> None:
        self._params, self._pending = params, None
        self._spb = 60.0 / params.bpm
        self._scale = frozenset(scale_pcs(params.key, params.mode))

    def _context_text(self) -> str:
        return f"context {pc_name(self._params.key)} {self._params.mode}"

    def _next_chord(self, evs: list[Event], b: int, t: float, context_changed: bool) -> None:
        rng, p = self._rng, self._params
        bar_sec = BEATS_PER_BAR * self._spb
        prev = self._chord
        prev_root = prev.root if prev is not None else None
        if self._section == 0 or t >= self._section_end:
            self._section += 1
            evs.append(Event(t, "marker", text=f"section {self._section}"))
            self._new_section_traits()
            # The section ends at the first chord change after this time; a chord lasts at most
            # 4 bars, so the section lasts 30-90 seconds whatever the tempo.
            latest = SECTION_SECONDS[1] - max(CHORD_BARS) * bar_sec
            self._section_end = t + rng.uniform(SECTION_SECONDS[0], latest)
            self._cycle = new_cycle(rng, p.key, p.mode, prev_root, self._chord_tonic)
            self._cycle_pos = self._cycle_round = 0
        elif context_changed:
            self._cycle = new_cycle(rng, p.key, p.mode, prev_root, self._chord_tonic)
            self._cycle_pos = self._cycle_round = 0
        else:
            self._cycle_pos = (self._cycle_pos + 1) % len(self._cycle)
            if self._cycle_pos == 0:
                self._cycle_round += 1
            if self._cycle_round and rng.random() < RECOLOUR:
                # Going round again: some chords change colour (same root, another quality).
                c = self._cycle[self._cycle_pos]
                self._cycle[self._cycle_pos] = color(rng, p.key, p.mode, c.degree)
        chord = self._cycle[self._cycle_pos]
        self._chord, self._chord_tonic = chord, p.key % 12
        evs.append(Event(t, "marker", text=f"chord {chord.label}"))

        bars = rng.choices(CHORD_BARS, CHORD_BAR_WEIGHTS)[0]
        if b % BEATS_PER_BAR == 0:
            self._chord_end = b + BEATS_PER_BAR * bars
        else:  # a change mid-bar: the rest of this bar counts towards the chord
            end = b + (BEATS_PER_BAR - b % BEATS_PER_BAR) + BEATS_PER_BAR * (bars - 1)
            self._chord_end = end if end - b >= BEATS_PER_BAR else end + BEATS_PER_BAR

        self._voice_pad(evs, t, chord)
        self._voice_bass(evs, t, chord)

    def _new_section_traits(self) -> None:
        rng = self._rng
        self._pad_centre = rng.choice([c for c in PAD_CENTRES if c != self._pad_centre])
        self._pad_voices = rng.choice(PAD_VOICES)
        lo, hi = MELODY_CENTRE_RANGE
        m = self._melody
        m.center = min(hi, max(lo, m.center + rng.choice(MELODY_CENTRE_SHIFTS)))
        self._bass_part = rng.choice(BASS_PARTS)

    def _voice_pad(self, evs: list[Event], t: float, chord: Chord) -> None:
        lo = self._pad_centre - PAD_SPAN_BELOW
        hi = self._pad_centre + PAD_SPAN_ABOVE
        new = lead(self._pad, chord.pcs, self._pad_voices, lo, hi)
        old = self._pad
        vel = int(round(36 + 22 * self._params.intensity + self._rng.uniform(-3, 3)))
        for pitch in old:
            if pitch not in new:
                evs.append(Event(t, "note_off", PAD_CHANNEL, pitch))
        for pitch in new:
            if pitch not in old:
                evs.append(Event(t, "note_on", PAD_CHANNEL, pitch, vel))
        self._pad = new

    def _voice_bass(self, evs: list[Event], t: float, chord: Chord) -> None:
        part = self._bass_part
        if part == "off":
            target = None
        else:
            pc = chord.root if part == "root" else self._params.key % 12
            target = BASS_LOW + (pc - BASS_LOW) % 12
        if target == self._bass:
            return
        if self._bass is not None:
            evs.append(Event(t, "note_off", BASS_CHANNEL, self._bass))
        if target is not None:
            vel = int(round(34 + 16 * self._params.intensity + self._rng.uniform(-3, 3)))
            evs.append(Event(t, "note_on", BASS_CHANNEL, target, vel))
        self._bass = target

    def _choose_slot_length(self) -> None:
        lengths, weights = zip(*slot_length_weights(self._params.intensity))
        self._slot_len = self._rng.choices(lengths, weights)[0]

    def _melody_beat(self, evs: list[Event], b: int, t0: float, spb: float) -> None:
        slot = self._slot_len
        in_bar = b % BEATS_PER_BAR
        if slot >= 1.0:
            offsets: tuple[float, ...] = (0.0,) if in_bar % int(slot) == 0 else ()
        else:
            offsets = (0.0, 0.5)
        m, rng = self._melody, self._rng
        chord_pcs = self._chord.pcs if self._chord is not None else ()
        prob = sounding_probability(self._params.intensity)
        for off in offsets:
            pos = b + off
            if self._mel_pitch is not None and self._mel_off < pos:
                evs.append(Event(t0 + (self._mel_off - b) * spb, "note_off", MELODY_CHANNEL, self._mel_pitch))
                self._mel_pitch = None
            if m.forced is None and rng.random() >= prob:
                continue
            legato = self._mel_pitch is not None
            pitch = m.next_pitch(chord_pcs, self._scale, legato)
            t = t0 + off * spb
            if self._mel_pitch is not None:
                evs.append(Event(t, "note_off", MELODY_CHANNEL, self._mel_pitch))
            evs.append(Event(t, "note_on", MELODY_CHANNEL, pitch, m.velocity(self._params.intensity, in_bar + off)))
            self._mel_pitch = pitch
            self._mel_off = pos + min(MAX_HOLD_SLOTS * slot, float(BEATS_PER_BAR))
        if self._mel_pitch is not None and self._mel_off < b + 1:
            evs.append(Event(t0 + (self._mel_off - b) * spb, "note_off", MELODY_CHANNEL, self._mel_pitch))
            self._mel_pitch = None


def compose(minutes: float, *, seed: int = 0, params: MusicParams = MusicParams()) -> list[Event]:
    """A finite piece: `minutes` of music, every note released at the end."""
    if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or not (
        math.isfinite(minutes) and 0 < minutes <= 24 * 60
    ):
        raise ValueError(f"minutes must be a number above 0 and at most 1440, got {minutes!r}")
    end = minutes * 60.0
    composer = Composer(params, seed)
    return composer.events_until(end) + composer.release_all(end)
