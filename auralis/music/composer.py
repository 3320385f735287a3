"""The composer: an endless, deterministic stream of timed note events for one listener.

Music is generated one beat at a time into a queue, from musical state only (beats, bars, the
seeded generator), never from the times a caller asks for: the same seed and the same parameter
changes at the same beats give the same events however ``events_until`` is chunked. Each beat
costs the same, so an hour is as cheap per bar at its end as at its start.

Layout in time: 4/4 bars. A chord lasts 1-4 bars (drawn independently of tempo, so chord changes
per minute are proportional to BPM). A section lasts 30-90 seconds: it plays a new progression
cycle (see `harmony`) and new traits (see `form`): melody density and register, the layers, the
pad's size and span, and up to four motifs.

The melody is planned a phrase at a time (see `phrases`) on a grid of sixths of a beat and
humanised (see `rhythm`); its pitches are planned with it, against the chord sounding and the
next three of the cycle (see `melody`), and each note is checked again when it sounds. Dynamics
(see `dynamics`): melody velocities follow the phrase shape and a slow swell; the pad and bass
swell through expression (CC 11).

Roles: the melody, pad and bass are the voices of this composer, each on its channel of
`events`, each with its own swell; the texture and bell voices are added by the orchestra (see
`orchestration`), which changes them at every section boundary. A ``palette`` marker names the
instruments (see `palettes`) from the start and at each change.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Iterator
from dataclasses import replace

from auralis.music.consonance import clashes, weak_position
from auralis.music.dynamics import EXPRESSION_CC, Swell, expression, shape_curve
from auralis.music.events import BASS_CHANNEL, MELODY_CHANNEL, PAD_CHANNEL, Event
from auralis.music.form import BREATH, SectionTraits, SeedProfile
from auralis.music.harmony import color, new_cycle
from auralis.music.melody import LEAP, UNKNOWN, VELOCITY_MAX, VELOCITY_MIN, MelodyLine, Sound
from auralis.music.motifs import MAX_MOTIFS, MAX_STEP, Motif, fitted_motif
from auralis.music.orchestration import Orchestra
from auralis.music.params import MusicParams
from auralis.music.phrases import SHAPE_START, Endings, Phrase, build_phrase, entry_ticks, plan_phrase, rest_floor, rest_seconds, truncated
from auralis.music.rhythm import TICKS_PER_BEAT, humanise, phrase_lag
from auralis.music.theory import Chord, pc_name, scale_pcs
from auralis.music.voicing import voice

BEATS_PER_BAR = 4

#: Probability that a chord of the cycle changes colour for its next time round.
RECOLOUR = 0.3

#: How many chords after the sounding one a phrase is planned over.
LOOKAHEAD = 3

#: Chord length in bars and its weights (independent of tempo).
CHORD_BARS = (1, 2, 3, 4)
CHORD_BAR_WEIGHTS = (0.15, 0.4, 0.2, 0.25)

#: Section length in seconds. Chord lengths are never cut to fit a section (that would tie the
#: harmonic rhythm to the tempo): a section ends at the first chord change after a planned time.
SECTION_SECONDS = (30.0, 90.0)

BASS_LOW = 36  # bass notes lie in 36-47

#: Swell depths (dB below full) of the held voices, and how far melody velocity follows its swell
#: and the phrase shape.
PAD_SWELL_DB, BASS_SWELL_DB = -10.0, -9.0
MELODY_SWELL_VEL, MELODY_SHAPE_VEL = 34.0, 8.0
#: Which motif of the section a phrase restates (the first most often).
MOTIF_WEIGHTS = (0.95, 0.03, 0.01, 0.01)
#: Chance that the section's main motif (the piece's theme) carries over to the next section,
#: and that each other motif does.
KEEP_THEME, KEEP_MOTIF = 1.0, 0.85
#: The fewest new motifs a section draws (when at least one was kept): the theme and the kept
#: motifs are the seed's, heard through the piece (the recurrence of issue 14).
NEW_MOTIFS = 0
#: The motifs are all drawn afresh at a section whose intensity differs by more than this from
#: the one they were shaped for (see motifs: their values follow the intensity).
RESHAPE = 0.15
#: How many times in a row a phrase that no option can plan waits (2 beats) before one is
#: played note by note.
UNPLANNED_WAITS = 2
#: Chance that a phrase comes after the same gap (from the last onset before the rest) as the
#: phrase before it: the rests keep their long-tailed distribution, and the gaps recur.
REST_REPEAT = 0.75
#: The tier of the drawn motif with its first or last step changed: after the main motif (1),
#: before the other motifs (2) and a step changed inside (3), since a change at an end breaks
#: only one of the cell's 4-grams.
VARY_END_TIER = 1.5
#: The tier of the motif's variant heard last (see VARY_END_TIER): where the budget refuses the
#: motif again, the same variant answers, so its 4-grams recur too.
VARIANT_TIER = 1.25
#: The tier of the other motif stated last, just before the others (2): the same one answers.
OTHER_AGAIN_TIER = 1.9
#: How much more the theme's chord fit weighs when it is drawn (see motifs.fitted_motif): it is
#: stated in most phrases, and a theme of 60% chord tones on a triad was refused by the 70/25/5
#: budget in most of them (recurrence 12-18% in those seeds).
THEME_FIT = 4.0

_RANK = {"note_off": 0, "control": 1, "marker": 1, "tempo": 1, "note_on": 2}


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
        self._chord_end = 0  # beat at which the next chord starts
        self._bars_ahead: list[int] = []  # the lengths (bars) of the next chords, drawn ahead
        self._section = 0
        self._section_end = 0.0
        self._section_start = 0.0
        # Form: the seed's profile and the section's traits.
        self._profile = SeedProfile.draw(seed)
        self._traits = SectionTraits.first(self._rng, self._profile)
        self._motifs: list[Motif] = []
        self._motif_intensity = params.intensity  # the intensity the motifs were shaped for
        # Voices.
        self._pad: tuple[int, ...] = ()
        self._bass: int | None = None
        self._bass_off: int | None = None  # the beat at which the bass lets go of its chord
        self._melody = MelodyLine(self._rng, center=self._traits.centre)
        self._phrase: Phrase | None = None
        self._endings = Endings(self._profile.busy)  # how its phrases end
        self._pitches: list[int] | None = None  # the planned pitches of the phrase
        self._ahead: tuple[int, Sound] | None = None  # (beat, the next chord as foreseen then)
        self._note_i = 0
        self._other: Motif | None = None  # the other motif stated last
        self._variants: dict[Motif, tuple[int, ...]] = {}  # each motif's variant heard last
        self._unplanned = 0  # phrases in a row for which no option kept the rules
        self._next_phrase = 2 * TICKS_PER_BEAT  # tick at which the next phrase may start
        self._gap: int | None = None  # ticks from the last phrase's last onset to the next's first
        # The sounding melody note: (pitch, end tick, timing offset in seconds).
        self._mel: tuple[int, int, float] | None = None
        self._timing = random.Random(f"auralis.music.timing:{seed}")
        self._lag = 0.0  # how late the phrase sits behind the grid (seconds)
        self._swells = {
            MELODY_CHANNEL: Swell(random.Random(f"auralis.music.swell.melody:{seed}"), -1.0),
            PAD_CHANNEL: Swell(random.Random(f"auralis.music.swell.pad:{seed}"), PAD_SWELL_DB),
            BASS_CHANNEL: Swell(random.Random(f"auralis.music.swell.bass:{seed}"), BASS_SWELL_DB),
        }
        self._expression: dict[int, int] = {}
        self._orch = Orchestra(seed, params.palette)  # the texture and bell voices

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

    @property
    def beat(self) -> int:
        """Beats generated so far: a change handed to `set_params` now takes effect at this beat
        (what a parameter timeline records, `auralis.music.timeline`)."""
        return self._beat

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
            evs.append(Event(t0, "marker", text=f"palette {self._params.palette}"))
        elif self._pending is not None:
            new, old = self._pending, self._params
            self._pending = None
            if new != old:
                self._params = new
                if new.bpm != old.bpm:
                    self._spb = 60.0 / new.bpm
                    evs.append(Event(t0, "tempo", bpm=new.bpm))
                evs.append(Event(t0, "marker", text=self._context_text()))
                if new.palette != old.palette:
                    evs.append(Event(t0, "marker", text=f"palette {new.palette}"))
                    self._orch.set_palette(new.palette)
                if (new.key, new.mode) != (old.key, old.mode):
                    self._scale = frozenset(scale_pcs(new.key, new.mode))
                    self._melody.set_context(self._scale)
                    context_changed = True
                    # The rest of a planned phrase belongs to the old key: drop it.
                    if self._phrase is not None and self._melody.forced is None:
                        self._phrase = self._pitches = None
                        self._next_phrase = max(
                            (b + 2) * TICKS_PER_BEAT,
                            (self._mel[1] + TICKS_PER_BEAT) if self._mel is not None else 0,
                        )
        spb = self._spb
        if b >= self._chord_end or context_changed:
            self._next_chord(evs, b, t0, context_changed)
        if self._bass_off is not None and b >= self._bass_off and self._bass is not None:
            evs.append(Event(t0, "note_off", BASS_CHANNEL, self._bass))
            self._bass = self._bass_off = None
        self._expression_beat(evs, t0)
        self._melody_beat(evs, b, t0, spb)
        mel = self._mel[0] if self._mel is not None else None
        self._orch.beat(evs, b, t0, spb, self._held(), mel, self._params.intensity)
        evs.sort(key=_order)
        self._queue.extend(evs)
        self._beat = b + 1
        self._time = t0 + spb

    def _apply_initial(self, params: MusicParams) -> None:
        self._params, self._pending = params, None
        self._spb = 60.0 / params.bpm
        self._scale = frozenset(scale_pcs(params.key, params.mode))
        self._orch.set_palette(params.palette)

    def _context_text(self) -> str:
        return f"context {pc_name(self._params.key)} {self._params.mode}"

    def _next_chord(self, evs: list[Event], b: int, t: float, context_changed: bool) -> None:
        rng, p = self._rng, self._params
        bar_sec = BEATS_PER_BAR * self._spb
        prev = self._chord
        prev_root = prev.root if prev is not None else None
        new_section = self._section == 0 or t >= self._section_end
        if new_section:
            self._section += 1
            evs.append(Event(t, "marker", text=f"section {self._section}"))
            self._new_section_traits(first=self._section == 1)
            self._orch.section(evs, b, t, melody_on=self._traits.density != BREATH)
            # The section ends at the first chord change after this time; a chord lasts at most
            # 4 bars, so the section lasts 30-90 seconds whatever the tempo.
            latest = SECTION_SECONDS[1] - max(CHORD_BARS) * bar_sec
            self._section_end = t + rng.uniform(SECTION_SECONDS[0], latest)
            self._section_start = t
            self._cycle = new_cycle(rng, p.key, p.mode, prev_root, self._chord_tonic)
            self._cycle_pos = 0
        elif context_changed:
            self._cycle = new_cycle(rng, p.key, p.mode, prev_root, self._chord_tonic)
            self._cycle_pos = 0
        else:
            # The chord left behind may change colour (same root, another quality) for its next
            # time round: decided now, so a phrase planned over the coming chords hears them as
            # they will sound.
            if rng.random() < RECOLOUR:
                c = self._cycle[self._cycle_pos]
                self._cycle[self._cycle_pos] = color(rng, p.key, p.mode, c.degree)
            self._cycle_pos = (self._cycle_pos + 1) % len(self._cycle)
        chord = self._cycle[self._cycle_pos]
        self._chord, self._chord_tonic = chord, p.key % 12
        evs.append(Event(t, "marker", text=f"chord {chord.label}"))

        # Chord lengths are drawn ahead, so a phrase can be planned over the next chords.
        while len(self._bars_ahead) < LOOKAHEAD:
            self._bars_ahead.append(rng.choices(CHORD_BARS, CHORD_BAR_WEIGHTS)[0])
        bars = self._bars_ahead.pop(0)
        if b % BEATS_PER_BAR == 0:
            self._chord_end = b + BEATS_PER_BAR * bars
        else:  # a change mid-bar: the rest of this bar counts towards the chord
            end = b + (BEATS_PER_BAR - b % BEATS_PER_BAR) + BEATS_PER_BAR * (bars - 1)
            self._chord_end = end if end - b >= BEATS_PER_BAR else end + BEATS_PER_BAR

        self._voice_pad(evs, t, chord, fresh=new_section)
        self._voice_bass(evs, b, t, chord)
        self._orch.chord(evs, t, self._held(), [self._mel[0]] if self._mel is not None else [])

    def _new_section_traits(self, first: bool) -> None:
        rng, prof = self._rng, self._profile
        if not first:
            self._traits = self._traits.next(rng, prof)
        self._melody.center = self._traits.centre
        # Up to four motifs: some carry over from the last section, the rest are new.
        sub = "triple" if rng.random() < prof.triple else "duple"
        intensity = self._params.intensity
        kept = [mo for i, mo in enumerate(self._motifs) if rng.random() < (KEEP_MOTIF if i else KEEP_THEME)]
        if abs(intensity - self._motif_intensity) > RESHAPE:  # values shaped for another intensity
            kept = []
        self._motif_intensity = intensity
        n_new = rng.randint(NEW_MOTIFS if kept else 1, MAX_MOTIFS - len(kept)) if len(kept) < MAX_MOTIFS else 0
        long_bias = prof.long_bias * (1.3 - 0.6 * intensity)
        fresh = [
            fitted_motif(
                rng, sub, prof.step_bias, long_bias, prof.legato, prof.motif_length, intensity,
                prof.leap, prof.pace, prof.busy, THEME_FIT if not kept and i == 0 else 1.0,
            )
            for i in range(n_new)
        ]
        self._motifs = kept + fresh

    def _held(self) -> list[int]:
        return list(self._pad) + ([self._bass] if self._bass is not None else [])

    def _voice_pad(self, evs: list[Event], t: float, chord: Chord, fresh: bool = False) -> None:
        tr = self._traits
        # A new section voices its first chord afresh (its own size and span, not led from the
        # last voicing), so the change of span is heard; within a section the voices are led.
        new = voice(() if fresh else self._pad, chord.pcs, tr.pad_voices, tr.pad_low, tr.pad_span)
        old = self._pad
        vel = int(round(36 + 22 * self._params.intensity + self._rng.uniform(-3, 3)))
        for pitch in old:
            if pitch not in new:
                evs.append(Event(t, "note_off", PAD_CHANNEL, pitch))
        for pitch in new:
            if pitch not in old:
                evs.append(Event(t, "note_on", PAD_CHANNEL, pitch, vel))
        self._pad = new

    def _bass_target(self, chord: Chord) -> int:
        part = self._traits.bass
        pc = chord.root if part == "root" else self._params.key % 12
        return BASS_LOW + (pc - BASS_LOW) % 12

    def _voice_bass(self, evs: list[Event], b: int, t: float, chord: Chord) -> None:
        target = self._bass_target(chord)
        # The bass holds the section's share of each chord (see form.SectionTraits.bass_hold);
        # one that lets go strikes again at the next chord.
        hold = self._traits.bass_hold
        if target != self._bass or hold < 1.0:
            if self._bass is not None:
                evs.append(Event(t, "note_off", BASS_CHANNEL, self._bass))
            vel = int(round(40 + 16 * self._params.intensity + self._rng.uniform(-3, 3)))
            evs.append(Event(t, "note_on", BASS_CHANNEL, target, vel))
            self._bass = target
        beats = math.ceil(hold * (self._chord_end - b))
        self._bass_off = b + max(1, beats) if beats < self._chord_end - b else None
        # A melody note that would now sound a minor second or ninth above the accompaniment
        # stops with the chord change.
        if self._mel is not None and self._melody.forced is None and clashes(self._mel[0], self._held()):
            evs.append(Event(t, "note_off", MELODY_CHANNEL, self._mel[0]))
            self._mel = None

    def _expression_beat(self, evs: list[Event], t0: float) -> None:
        for ch in (PAD_CHANNEL, BASS_CHANNEL):
            v = expression(self._swells[ch].db(t0))
            if self._expression.get(ch) != v:
                self._expression[ch] = v
                evs.append(Event(t0, "control", ch, control=EXPRESSION_CC, value=v))

    def _plan(self, tick0: int) -> None:
        rng, p, m = self._rng, self._params, self._melody
        start = max(self._next_phrase, tick0 + TICKS_PER_BEAT)
        k = rng.choices(range(len(self._motifs)), MOTIF_WEIGHTS[: len(self._motifs)])[0]
        motif = self._motifs[k]
        ph = plan_phrase(rng, motif, start, p.intensity, self._endings)
        new_section = self._section_change()
        # A phrase that would cross the next section's start lets the section run on past it
        # where the section stays within its 90 s (the form's boundary then falls in a breath).
        if new_section is not None and ph.end > new_section and self._postpone(ph.end):
            new_section = self._section_change()
        cut = None
        if new_section is not None and ph.end > new_section:
            # A phrase never runs into the next section (which starts afresh, in its own
            # register, with its own motifs): another option that ends before it is taken, or
            # the drawn one cut short (the last resort: it no longer restates its motif
            # whole), or it waits for the next section.
            cut = truncated(ph, new_section)
        # The phrase as drawn first; where no transposition of it keeps the rules and the
        # 70/25/5 budget, the main motif literally or (into a new register) either with a pickup
        # note (a leap into the phrase, stepping back into the cell), then the others, then the drawn motif with
        # one step changed by a scale step (each with the same ending and shape).
        options: list[tuple[float, Phrase]] = [(0, ph)]
        assert ph.cell is not None
        if m.starved:  # a pickup a scale step from the cell: room for a passing tone into it
            options += [(0.5, build_phrase(ph.cell, motif, ph.ending, start, ph.shape, ph.variation, d)) for d in (1, -1)]
        stated = [(ph.cell, motif, ph.variation)]
        if k or ph.variation not in ("literal", "displace"):
            main = self._motifs[0]
            options.append((1, build_phrase(main, main, ph.ending, start, ph.shape, "literal")))
            stated.append((main, main, "literal"))
        goal = m.target(None, SHAPE_START[ph.shape], self._scale)
        if m.last is not None and abs(goal - m.last) > 2 * LEAP:  # into a new register
            for cell, mo, variation in stated:
                options += [(1, build_phrase(cell, mo, ph.ending, start, ph.shape, variation, d)) for d in (1, -1)]
        options += [
            (OTHER_AGAIN_TIER if mo == self._other else 2, build_phrase(mo, mo, ph.ending, start, ph.shape, "literal"))
            for i, mo in enumerate(self._motifs) if i and i != k
        ]
        # (a step changed at either end of the cell breaks only one of its 4-grams)
        for i in range(len(motif.steps)):
            for d in (1, -1):
                steps = motif.steps[:i] + (motif.steps[i] + d,) + motif.steps[i + 1 :]
                if all(abs(x) <= MAX_STEP for x in steps):
                    tier = VARY_END_TIER if i in (0, len(motif.steps) - 1) else 3
                    if self._variants.get(motif) == steps:  # the variant heard last: it returns too
                        tier = VARIANT_TIER
                    options.append((tier, build_phrase(replace(motif, steps=steps), motif, ph.ending, start, ph.shape, "vary")))
        if new_section is not None:
            options = [(t, o) for t, o in options if o.end <= new_section]
            if cut is not None:
                options.append((4, cut))
            if not options:
                self._next_phrase = new_section + TICKS_PER_BEAT
                return
        plan = m.plan(options, self._sound_at, self._scale, goal, rng, BEATS_PER_BAR * TICKS_PER_BEAT)
        if plan is not None:
            ph, self._pitches = plan
            if ph.cell is not None and ph.cell in self._motifs[1:]:
                self._other = ph.cell
            if ph.variation == "vary" and ph.cell is not None:
                self._variants[motif] = ph.cell.steps
            self._unplanned = 0
        elif self._unplanned < UNPLANNED_WAITS:
            # No option keeps the rules from where the line is (mostly a new register out of
            # reach): breathe a little longer and draw again.
            self._unplanned += 1
            self._next_phrase = start + 2 * TICKS_PER_BEAT
            return
        else:
            ph = options[0][1]
            self._pitches = None
            self._unplanned = 0
        self._phrase = ph
        self._lag = phrase_lag(self._timing)
        self._note_i = 0

    def _sound_at(self, tick: int) -> Sound:
        """What will sound at `tick` as far as is known now: the chord sounding, then the next
        LOOKAHEAD of the cycle (their colours are decided when the chord before them is left)
        with the pad voicing and bass they will get, unless a new section comes first (each note
        is checked again when it sounds)."""
        tpb = TICKS_PER_BEAT
        if self._ahead is None or self._ahead[0] != self._beat:
            self._ahead = (self._beat, self._foresee())
        for start, sound in reversed(self._ahead[1]):
            if tick >= start:
                return sound
        return self._ahead[1][0][1]

    def _postpone(self, tick: int) -> bool:
        """Let the section run on to the first foreseen chord change at or after `tick` (the end
        of a phrase that would otherwise be cut or dropped), if the section still lasts at most
        SECTION_SECONDS[1]: the form's boundaries then fall in the breaths between phrases."""
        for _, beat, t in self._chord_changes():
            if beat * TICKS_PER_BEAT >= tick:
                if t - self._section_start > SECTION_SECONDS[1]:
                    return False
                self._section_end = t - 0.5 * self._spb
                self._ahead = None
                return True
        return False

    def _chord_changes(self) -> Iterator[tuple[int, int, float]]:
        """(k, beat, time) of the next chord changes as far as their lengths are drawn: the k-th
        chord after the one sounding starts at `beat`, `time` seconds into the piece."""
        beat = self._chord_end
        for k, bars in enumerate(self._bars_ahead + [0], start=1):
            yield k, beat, self._time + (beat - self._beat) * self._spb
            beat += BEATS_PER_BAR * bars

    def _section_change(self) -> int | None:
        """The tick at which the next section starts, if it is foreseen (see _foresee)."""
        self._sound_at(0)
        assert self._ahead is not None
        return next((t for t, s in self._ahead[1] if s.segment == UNKNOWN), None)

    def _foresee(self) -> list[tuple[int, Sound]]:
        """(first tick, what sounds) for the chord sounding and the next LOOKAHEAD, as far as known."""
        assert self._chord is not None
        tpb, tr = TICKS_PER_BEAT, self._traits
        out = [(0, Sound(self._chord.pcs, self._held(), 0))]
        pad = self._pad
        for k, beat, t in self._chord_changes():
            if t >= self._section_end:
                out.append((beat * tpb, Sound(out[-1][1].pcs, None, UNKNOWN)))  # a new section
                break
            nxt = self._cycle[(self._cycle_pos + k) % len(self._cycle)]
            pad = voice(pad, nxt.pcs, tr.pad_voices, tr.pad_low, tr.pad_span)
            out.append((beat * tpb, Sound(nxt.pcs, list(pad) + [self._bass_target(nxt)], k)))
        return out

    def _melody_beat(self, evs: list[Event], b: int, t0: float, spb: float) -> None:
        tpb = TICKS_PER_BEAT
        tick0, tick1 = b * tpb, (b + 1) * tpb
        if (
            self._phrase is None
            and self._traits.density != BREATH
            and self._next_phrase < tick1 + tpb
        ):
            self._plan(tick0)

        def at(tick: int, offset: float) -> float:
            return max(t0, t0 + (tick - tick0) / tpb * spb + offset)

        ph = self._phrase
        m = self._melody
        while ph is not None and self._note_i < len(ph.notes) and ph.notes[self._note_i].on < tick1:
            note = ph.notes[self._note_i]
            nxt = ph.notes[self._note_i + 1] if self._note_i + 1 < len(ph.notes) else None
            jit = humanise(self._timing, note.on % tpb == 0, self._lag)
            t_on = at(note.on, jit)
            legato = False
            if self._mel is not None:
                pitch, end, off_jit = self._mel
                legato = end == note.on
                # (a note never outlasts the next onset, whatever a live change did to the plan)
                t_off = t_on if legato else min(t_on, at(end, off_jit))
                evs.append(Event(t_off, "note_off", MELODY_CHANNEL, pitch))
                self._mel = None
            # The bass as the plan hears it: held for its whole chord, even after it lets go
            # (the added voices may still double it).
            held = list(self._pad) + ([self._bass_target(self._chord)] if self._chord is not None else [])
            chord_pcs = self._chord.pcs if self._chord is not None else ()
            passing_ok = (
                nxt is not None and nxt.on == note.off and note.off - note.on <= 2 * tpb
            )
            # Only a short passing tone on a weak position may rub against a held note.
            short = note.off - note.on <= tpb // 2 and weak_position(note.on % (BEATS_PER_BAR * tpb), tpb)
            x = note.index / max(1, note.count - 1)
            pl = self._pitches
            planned = pl[self._note_i] if pl is not None else None
            after = pl[self._note_i + 1] if pl is not None and nxt is not None else None
            target = planned if planned is not None else m.target(note.step, SHAPE_START[ph.shape], self._scale)
            same_chord = nxt is not None and nxt.on < self._chord_end * tpb
            pitch = m.take(
                planned, after, target, chord_pcs, self._scale, held, legato, passing_ok, short,
                same_chord, t_on, note.off - note.on,
            )
            evs.append(Event(t_on, "note_on", MELODY_CHANNEL, pitch, self._velocity(t_on, ph.shape, x)))
            self._mel = (pitch, note.off, jit)
            self._note_i += 1
            if nxt is None:
                i, d = self._params.intensity, self._traits.density
                rest = rest_seconds(self._rng, i, d, spb)
                last, floor = note.off - note.on, rest_floor(i, d, spb) / spb * tpb
                gap = entry_ticks(last, rest / spb * tpb, floor, tpb)
                # The answer comes after the same gap as the phrase before it, now and then.
                if self._gap is not None and self._gap - last >= floor and self._rng.random() < REST_REPEAT:
                    gap = self._gap
                self._gap = gap
                self._next_phrase = note.on + gap
                self._phrase = self._pitches = None
        if self._mel is not None and self._mel[1] < tick1:
            pitch, end, off_jit = self._mel
            joined = ph is not None and self._note_i < len(ph.notes) and ph.notes[self._note_i].on == end
            if not joined:
                evs.append(Event(at(end, off_jit), "note_off", MELODY_CHANNEL, pitch))
                self._mel = None

    def _velocity(self, t: float, shape: str, x: float) -> int:
        base = 32.0 + 34.0 * self._params.intensity + self._profile.velocity
        v = (
            base
            + MELODY_SWELL_VEL * (self._swells[MELODY_CHANNEL].unit(t) - 0.5)
            + MELODY_SHAPE_VEL * (shape_curve(shape, x) - 0.6)
            + self._rng.gauss(0.0, 1.5)
        )
        return int(min(VELOCITY_MAX, max(VELOCITY_MIN, round(v))))


def compose(minutes: float, *, seed: int = 0, params: MusicParams = MusicParams()) -> list[Event]:
    """A finite piece: `minutes` of music, every note released at the end."""
    if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or not (
        math.isfinite(minutes) and 0 < minutes <= 24 * 60
    ):
        raise ValueError(f"minutes must be a number above 0 and at most 1440, got {minutes!r}")
    end = minutes * 60.0
    composer = Composer(params, seed)
    return composer.events_until(end) + composer.release_all(end)
