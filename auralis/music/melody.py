"""Constraint-based melody: the pitches of each phrase.

The rhythm and the motif's steps come from the phrase plan (see `phrases`, `motifs`). A phrase is
chosen as a whole, pitches and all, when it is planned (:meth:`MelodyLine.plan`): the composer
offers the phrase it drew and, in later tiers, the section's main motif literally, its other
motifs literally and the drawn motif with one step changed. Each is tried at every transposition
(its scale steps kept literally) that keeps every rule below against the harmony known then (the
chord sounding and the next three of the progression cycle, with the pad voicing and bass they
will get), with and without a chromatic passing tone slipped in when the budget owes one. The
first tier with a candidate that keeps each category of the 70/25/5 budget within its band
(:data:`BOUND` notes either side of its share shifted by :data:`BAND_SHIFT`) *at every note*
wins (so any 100 notes keep it within 3 points), its best candidate by the budget, the phrase
shape's start and the entry (the distance from the last phrase's end at which the same phrase
entered after the same one, or the last phrases entered, :data:`ENTRY_WEIGHT`) preferred. Since the harmony is known ahead, the plan sounds
as planned: the budget is exact and a restatement stays literal.

When a planned note sounds, it is checked again against what then sounds
(:meth:`MelodyLine.take`); a note the plan could not foresee (a live change, a chord beyond the
lookahead), one that would take a category more than :data:`DRIFT` notes from its band's middle
(unless it brings one back towards it), or one that would repeat a 16-note sequence of the last
hour, is chosen on its own instead, near the planned pitch (:meth:`MelodyLine.next_pitch`):

- **Target.** The motif's step (in scale steps) from the previous note gives a target pitch; the
  first note of a phrase targets the phrase shape's start in the section's register. Candidates
  are weighted by their distance to the target, then by the register pull.
- **Categories: 70% chord tones, 25% other scale tones, 5% chromatic**, held by error diffusion
  with a tolerance: the target's own category is taken unless another category is more than
  :data:`TOLERANCE` notes behind its band's middle (then the furthest-behind one that keeps the
  bands is), so the counts stay in their bands in any stretch of music.
- **Consonance.** No note forms a minor second or minor ninth above a held pad or bass note;
  only a chromatic passing tone (short, on a weak position) may.
- **Contour.** Intervals are at most a fifth (except into a new register); after a leap (more
  than 4 semitones) the next note steps back (1-2 semitones, opposite direction).
- **Chromatic notes** are only ever passing tones: a chromatic note continues a sounding diatonic
  note by a semitone, and the next note (joined to it) completes the whole step beyond it.
"""

from __future__ import annotations

import math
import random
from collections import OrderedDict, deque
from collections.abc import Callable, Collection, Sequence
from typing import NamedTuple

from auralis.music.consonance import clashes, weak_position
from auralis.music.phrases import Phrase, with_passing_tone
from auralis.music.rhythm import TICKS_PER_BEAT
from auralis.music.theory import scale_degree

CHORD_TONE, SCALE_TONE, CHROMATIC = 0, 1, 2
TARGET_SHARE = (0.70, 0.25, 0.05)
TOLERANCE = 0.0

LEAP = 4  # an interval larger than this many semitones is a leap
MAX_INTERVAL = 7  # no melodic interval larger than a fifth (except into a new register)
RANGE_BELOW, RANGE_ABOVE = 7, 8  # the range around the register centre
LOWEST, HIGHEST = 55, 91  # absolute bounds of the melody
VELOCITY_MIN, VELOCITY_MAX = 20, 100
#: No sequence of this many notes (pitch and length) sounds twice within this many seconds.
REPEAT_NOTES, REPEAT_WINDOW_S = 16, 3600.0
#: How strongly a phrase's transposition follows the 70/25/5 budget (against its shape's start).
BUDGET_WEIGHT = 4.0
START_WEIGHT = 0.15
#: A planned phrase may reach this many semitones beyond the register's range.
PLAN_SLACK = 2
#: A planned phrase keeps every category within this many notes of its share at every note
#: (so any 100 notes hold 70/25/5 within 3 points); a plan that cannot pays EXCESS_WEIGHT per
#: note beyond it.
BOUND = 1.45
#: Where each category's band of width 2 x BOUND lies (chord, scale, chromatic): shifted by
#: these many notes. A band of that width keeps any 100 notes within 2.9 points wherever it lies;
#: passing tones have few slots, so the chromatic count runs behind its share and the scale
#: tones ahead (median -0.4 and +0.5 notes), and centred bands refused most literal statements
#: for a scale tone at the top of its band.
BAND_SHIFT = (0.0, 0.5, -0.5)
EXCESS_WEIGHT = 50.0
#: A value this long (ticks: 3 beats) is one a passing tone should not split.
LONG_IOI = 3 * TICKS_PER_BEAT
#: Owed this much of a chromatic note, a passing tone may split a long value too.
STARVED = 1.0
#: A passing tone is tried when the budget owes this much of a chromatic note.
PASSING_OWED = 0.3
#: A planned note is chosen again when its category is this many notes ahead of its share.
DRIFT = 1.5
#: How strongly a phrase enters at the same distance (in scale steps) from where the last one
#: ended as the phrases before it did (call and answer: the gap across a rest recurs): a
#: transposition costs this much unless the last ENTRY_MEMORY statements of the same phrase
#: after the same one (see `signature`) entered there (then nothing: the boundary between the
#: two statements recurs whole, its 4-grams across the rest too) or, half of it, one of the
#: last ENTRY_MEMORY phrases did.
ENTRY_WEIGHT = 5.0
ENTRY_MEMORY = 3
#: How many pairs of statements (the phrase before, this phrase) keep their entries: the pair
#: heard least recently is forgotten first. A piece meets about 100-140 new pairs an hour (bright,
#: seed 3: 138 after 1 h, 1,008 after 10 h), so this bound first bites after about 10 hours; without
#: it a station playing for weeks would grow by about 150 KB an hour.
ANSWER_PAIRS = 1024


class Sound(NamedTuple):
    """What sounds at a tick, as far as it is known when a phrase is planned."""

    pcs: Collection[int]  # the chord's pitch classes
    held: Collection[int] | None  # the held accompaniment (None: not known yet)
    segment: int  # which chord: 0 the one sounding, 1 the next, 2 the one after..., or UNKNOWN


UNKNOWN = 99  # the segment of a tick whose chord is not known yet


def note_length(ticks: int) -> float:
    """A note's length in beats on the quarter-beat grid (what the no-repeat rule compares)."""
    return round(ticks / TICKS_PER_BEAT * 4) / 4


def category(pc: int, chord_pcs: Collection[int], scale: Collection[int]) -> int:
    if pc in chord_pcs:
        return CHORD_TONE
    if pc in scale:
        return SCALE_TONE
    return CHROMATIC


def off_band(count: float, n: int, cat: int) -> float:
    """How far (notes) `count` notes of category `cat` among `n` lie from the middle of its
    70/25/5 band (its share shifted by BAND_SHIFT): negative below."""
    return count - TARGET_SHARE[cat] * n - BAND_SHIFT[cat]


def rubs(pitch: int, held: Collection[int]) -> bool:
    """Whether a chromatic `pitch` lies a semitone above a held pitch class in any octave: the
    added voices (see `orchestration`) double the held pitch classes in other registers, so a
    planned passing tone avoids it unless the chromatic share is starved."""
    return any((pitch - q) % 12 == 1 for q in held)


def scale_step(pitch: int, steps: int, scale: Collection[int]) -> int:
    """The pitch `steps` scale degrees from `pitch` (a chromatic `pitch` counts as on the scale)."""
    p = pitch
    d = 1 if steps > 0 else -1
    for _ in range(abs(steps)):
        p += d
        while p % 12 not in scale:
            p += d
    return p


def signature(phrase: Phrase) -> tuple[tuple[int | None, int], ...]:
    """What makes two statements the same phrase: their steps and inter-onset intervals."""
    return tuple((n.step, n.on - p.on) for p, n in zip(phrase.notes, phrase.notes[1:]))


class MelodyLine:
    """The melody's memory: last pitch and interval, register, category counts."""

    def __init__(self, rng: random.Random, center: int = 72) -> None:
        self.rng = rng
        self.counts = [0, 0, 0]
        self.last: int | None = None
        self.last_interval = 0
        self.forced: int | None = None  # the resolution owed by a chromatic passing tone
        self.center = center
        # The last notes (pitch, length) and every REPEAT_NOTES-note sequence of the last hour.
        self._recent: deque[tuple[int, float]] = deque(maxlen=REPEAT_NOTES)
        self._seen: dict[tuple[tuple[int, float], ...], int] = {}
        self._log: deque[tuple[float, tuple[tuple[int, float], ...]]] = deque()
        # How the last phrases entered: scale steps from the note before (see ENTRY_WEIGHT).
        self.entries: deque[float] = deque(maxlen=ENTRY_MEMORY)
        # How the last statements of a phrase entered after a given one: (the phrase before,
        # this phrase) by their signatures -> entries; and the signature of the last phrase.
        # At most ANSWER_PAIRS of them, the least recently heard forgotten first.
        self.answers: OrderedDict[tuple[object, object], deque[float]] = OrderedDict()
        self.said: object = None

    @property
    def lo(self) -> int:
        return max(LOWEST, self.center - RANGE_BELOW)

    @property
    def hi(self) -> int:
        return min(HIGHEST, self.center + RANGE_ABOVE)

    def set_context(self, scale: Collection[int]) -> None:
        """A new key or mode: a pending resolution that is no longer diatonic is dropped."""
        if self.forced is not None and self.forced % 12 not in scale:
            self.forced = None

    def target(self, step: int | None, start_offset: int, scale: Collection[int]) -> int:
        """Where the motif points: `step` scale steps from the last note, or (a phrase's first
        note, `step` None) `start_offset` semitones from the register centre."""
        if self.last is None:
            return self.center + start_offset
        if step is None:
            goal = self.center + start_offset
            if abs(goal - self.last) > 2 * LEAP:  # a new section's register: go there
                return goal
            # towards the shape's start, but no leap from where the last phrase ended
            return self.last + max(-4, min(4, goal - self.last))
        return scale_step(self.last, step, scale)

    # ---------------------------------------------------------------- a phrase as a whole

    def plan(
        self, options: Sequence[tuple[int, Phrase]], sound: Callable[[int], Sound],
        scale: Collection[int], goal: int, rng: random.Random, bar: int,
    ) -> tuple[Phrase, list[int]] | None:
        """A phrase and its pitches, chosen as a whole (see the module docstring) among
        `options`: (tier, phrase) pairs, the lower tiers preferred. Each phrase is tried at every
        transposition that keeps the rules (with a chromatic passing tone slipped in when the
        budget owes one); the first tier holding a candidate that keeps every category within
        :data:`BOUND` notes of its share at every note wins, the best of its candidates (budget,
        shape's start near `goal`) drawn with a soft preference. None when no transposition of
        any option keeps the rules."""
        if self.forced is not None:
            return None
        fallback: list[tuple[float, float, Phrase, list[int], int]] = []
        for tier in sorted({t for t, _ in options}):
            pool: list[tuple[float, float, Phrase, list[int], int]] = []
            for t, ph in options:
                if t == tier:
                    pool += self._candidates(ph, sound, scale, goal, bar)
            within = [c for c in pool if c[1] == 0.0]
            if within:
                return self._pick(within, rng, scale)
            fallback += [(cost + EXCESS_WEIGHT * excess + tier, 0.0, ph, ps, slot) for cost, excess, ph, ps, slot in pool]
        return self._pick(fallback, rng, scale) if fallback else None

    def _pick(
        self, pool: list[tuple[float, float, Phrase, list[int], int]], rng: random.Random,
        scale: Collection[int],
    ) -> tuple[Phrase, list[int]]:
        best = min(c[0] for c in pool)
        _, _, ph, ps, slot = rng.choices(pool, [math.exp(best - c[0]) for c in pool])[0]
        if slot >= 0:
            ph = with_passing_tone(ph, slot, ph.unit)
        sig = signature(ph)
        if self.last is not None:
            e = scale_degree(ps[0], scale) - scale_degree(self.last, scale)
            self.entries.append(e)
            self._answered((self.said, sig), e)
        self.said = sig
        return ph, ps

    def _answered(self, pair: tuple[object, object], entry: float) -> None:
        """Remember that the statement `pair` entered at `entry`, within `ANSWER_PAIRS` pairs."""
        entries = self.answers.get(pair)
        if entries is None:
            entries = self.answers[pair] = deque(maxlen=ENTRY_MEMORY)
            if len(self.answers) > ANSWER_PAIRS:
                self.answers.popitem(last=False)
        else:
            self.answers.move_to_end(pair)
        entries.append(entry)

    def _candidates(
        self, phrase: Phrase, sound: Callable[[int], Sound], scale: Collection[int], goal: int, bar: int,
    ) -> list[tuple[float, float, Phrase, list[int], int]]:
        """(cost, budget excess, phrase, pitches, passing-tone slot or -1) for every
        transposition of `phrase` that keeps the rules."""
        notes = phrase.notes
        steps = [n.step or 0 for n in notes[1:]]
        at = [sound(n.on) for n in notes]
        holds: list[list[Collection[int]]] = []
        for n, s in zip(notes, at):
            hs = [s.held] if s.held is not None else []
            e = sound(n.off - 1)
            if e.segment != s.segment and e.held is not None:
                hs.append(e.held)
            holds.append(hs)
        lengths = [note_length(n.off - n.on) for n in notes]
        far = self.last is not None and abs(goal - self.last) > 2 * LEAP
        # (a note over a chord not known yet counts towards neither side of the budget)
        known = [s.segment < UNKNOWN for s in at]
        # Where a chromatic passing tone could go (rhythm and harmony only): between two notes
        # joined (or detached by the tone's own length), on a weak position, inside one chord.
        slots: list[tuple[int, int, Collection[int]]] = []
        u = phrase.unit
        owed = TARGET_SHARE[CHROMATIC] * (sum(self.counts) + len(notes) + 1) - self.counts[CHROMATIC]
        starved = self.starved
        if owed >= PASSING_OWED:
            for i in range(len(notes) - 1):
                a, b = notes[i], notes[i + 1]
                if a.off not in (b.on, b.on - u) or b.on - a.on < 2 * u:
                    continue
                t = b.on - u
                if not weak_position(t % bar, TICKS_PER_BEAT):
                    continue
                here, there = sound(t), sound(b.on)
                if here.held is None or here.segment != there.segment or here.segment >= UNKNOWN:
                    continue
                slots.append((i, t, here.held))
            # No passing tone that would split a long value (3 beats or more) unless the
            # chromatic share is starved (then last); first one at either end of the cell,
            # which breaks the fewest of its 4-grams.
            def split_long(i: int) -> bool:
                ioi = notes[i + 1].on - notes[i].on
                return ioi >= LONG_IOI > ioi - u

            if owed < STARVED:
                slots = [x for x in slots if not split_long(x[0])]
            slots.sort(key=lambda x: (split_long(x[0]), 0 < x[0] < len(notes) - 2, x[0]))
        out: list[tuple[float, float, Phrase, list[int], int]] = []
        lo, hi = max(LOWEST, self.lo - PLAN_SLACK), min(HIGHEST, self.hi + PLAN_SLACK)
        last_degree = scale_degree(self.last, scale) if self.last is not None else None
        sig = signature(phrase)
        for first in range(lo, hi + 1):
            if first % 12 not in scale:
                continue
            ps = [first]
            for st in steps:
                ps.append(scale_step(ps[-1], st, scale))
            if min(ps) < lo or max(ps) > hi:
                continue
            if not self._contour_ok(ps, far):
                continue
            if any(clashes(p, h) for p, hs in zip(ps, holds) for h in hs):
                continue
            cats = [category(p % 12, s.pcs, scale) if kn else None for p, s, kn in zip(ps, at, known)]
            out_of = sum(max(0, self.lo - p, p - self.hi) for p in ps)
            leap_in = self.last is not None and abs(first - self.last) > LEAP
            shape_cost = START_WEIGHT * (abs(first - goal) + out_of) + 2.0 * leap_in
            if last_degree is not None:
                e = scale_degree(first, scale) - last_degree
                if e not in self.answers.get((self.said, sig), ()):
                    shape_cost += ENTRY_WEIGHT * (0.5 if e in self.entries else 1.0)
            if not self._repeats(ps, lengths):
                excess, dev = self._budget(cats)
                out.append((BUDGET_WEIGHT * dev + shape_cost, excess, phrase, ps, -1))
            for i, t, held in slots:
                if abs(ps[i + 1] - ps[i]) != 2:
                    continue
                mid = (ps[i] + ps[i + 1]) // 2
                if mid % 12 in scale or clashes(mid, held) or clashes(ps[i + 1], held):
                    continue
                if rubs(mid, held) and not starved:
                    continue
                pps = ps[: i + 1] + [mid] + ps[i + 1 :]
                pl = lengths[:i] + [note_length(t - notes[i].on), note_length(u)] + lengths[i + 1 :]
                if self._repeats(pps, pl):
                    continue
                excess, dev = self._budget(cats[: i + 1] + [CHROMATIC] + cats[i + 1 :])
                out.append((BUDGET_WEIGHT * dev + shape_cost, excess, phrase, pps, i))
                break
        return out

    def _budget(self, cats: Sequence[int | None]) -> tuple[float, float]:
        """(how far, summed over notes and categories, the counts would run beyond BOUND notes
        from their shares; the squared deviation at the end)."""
        c = list(self.counts)
        n = sum(c)
        excess = 0.0
        for k in cats:
            if k is None:
                continue
            n += 1
            c[k] += 1
            for j in range(3):
                d = abs(off_band(c[j], n, j))
                if d > BOUND:
                    excess += d - BOUND
        return excess, sum((c[j] - TARGET_SHARE[j] * n) ** 2 for j in range(3))

    def _contour_ok(self, ps: list[int], far: bool) -> bool:
        """Steps within a fifth, every leap followed by a step back (also the leap into the
        phrase), no leap at the end; into a new register the way in may be up to an octave."""
        ints = [b - a for a, b in zip(ps, ps[1:])]
        if self.last is not None:
            d0, owed = ps[0] - self.last, self.last_interval
            if abs(owed) > LEAP:
                if not (1 <= abs(d0) <= 2 and (d0 > 0) != (owed > 0)):
                    return False
            elif abs(d0) > LEAP:
                if abs(d0) > (12 if far else MAX_INTERVAL) or not ints:
                    return False
                if not (1 <= abs(ints[0]) <= 2 and (ints[0] > 0) != (d0 > 0)):
                    return False
        for i, d in enumerate(ints):
            if abs(d) > MAX_INTERVAL:
                return False
            if abs(d) > LEAP:
                if i + 1 >= len(ints):
                    return False
                e = ints[i + 1]
                if not (1 <= abs(e) <= 2 and (e > 0) != (d > 0)):
                    return False
        return True

    def _repeats(self, ps: list[int], lengths: list[float]) -> bool:
        """Whether these notes would complete a REPEAT_NOTES-note sequence heard in the window."""
        seq = list(self._recent)[-(REPEAT_NOTES - 1) :] + list(zip(ps, lengths))
        r = len(seq) - len(ps)
        return any(
            tuple(seq[e - REPEAT_NOTES + 1 : e + 1]) in self._seen
            for e in range(max(r, REPEAT_NOTES - 1), len(seq))
        )

    def take(
        self,
        planned: int | None,
        after: int | None,
        target: int,
        chord_pcs: Collection[int],
        scale: Collection[int],
        held: Collection[int],
        legato: bool,
        passing_ok: bool,
        short: bool,
        same_chord: bool,
        t: float,
        length: int,
    ) -> int:
        """The note sounding now: the `planned` pitch if it still keeps every rule against what
        sounds (`after`: the planned pitch of the next note; `same_chord`: the next note starts
        before the chord changes), else one chosen on its own near `target` (see next_pitch).
        `t` (seconds) and `length` (ticks) feed the no-repeat memory."""
        ok = planned is not None
        if ok and self.forced is not None:
            ok = planned == self.forced
        elif ok:
            assert planned is not None
            last, owed = self.last, self.last_interval
            if clashes(planned, held):
                ok = False
            elif last is not None:
                d = planned - last
                if abs(owed) > LEAP and not (1 <= abs(d) <= 2 and (d > 0) != (owed > 0)):
                    ok = False
                elif abs(d) > 12:
                    ok = False
            if ok and planned % 12 not in scale:
                ok = (
                    legato and passing_ok and same_chord and last is not None
                    and last % 12 in scale and abs(planned - last) == 1
                    and after == planned + (planned - last) and after % 12 in scale
                    and not clashes(after, held) and not (rubs(planned, held) and not self.starved)
                    and self._in_band(CHROMATIC, category(after % 12, chord_pcs, scale))
                )
                if ok:
                    self.forced = after
                    return self._remember(self._commit(planned, chord_pcs, scale), t, length)
        if ok and self.forced is None:
            # The plan may not push any category further than DRIFT notes from its band's middle.
            assert planned is not None
            ok = self._in_band(category(planned % 12, chord_pcs, scale))
            # (a plan checks the no-repeat rule against the notes heard when it was made)
            ok = ok and not self._repeats([planned], [note_length(length)])
        if ok:
            assert planned is not None
            self.forced = None
            pitch = self._commit(planned, chord_pcs, scale)
        else:
            pitch = self.next_pitch(target, chord_pcs, scale, held, legato, passing_ok, short, length)
        return self._remember(pitch, t, length)

    @property
    def starved(self) -> bool:
        """Whether the chromatic count lies a note or more below its band's middle (the plan then
        offers the phrase with a pickup note, whose whole step into the cell holds a slot for
        a passing tone)."""
        n = sum(self.counts)
        return off_band(self.counts[CHROMATIC], n, CHROMATIC) <= -STARVED

    def _in_band(self, *cats: int) -> bool:
        """Whether notes of categories `cats`, one after the other, keep every category within
        DRIFT notes of its band's middle, or at least bring one that lies beyond it closer."""
        c = list(self.counts)
        n = sum(c)
        before = [abs(off_band(c[j], n, j)) for j in range(3)]
        for cat in cats:
            c[cat] += 1
            n = sum(c)
            for j in range(3):
                d = abs(off_band(c[j], n, j))
                if d > DRIFT and d >= before[j]:
                    return False
        return True

    def _remember(self, pitch: int, t: float, length: int) -> int:
        self._recent.append((pitch, note_length(length)))
        if len(self._recent) == REPEAT_NOTES:
            gram = tuple(self._recent)
            self._seen[gram] = self._seen.get(gram, 0) + 1
            self._log.append((t, gram))
        while self._log and self._log[0][0] < t - REPEAT_WINDOW_S:
            _, old = self._log.popleft()
            self._seen[old] -= 1
            if not self._seen[old]:
                del self._seen[old]
        return pitch

    # ---------------------------------------------------------------- one note on its own

    def next_pitch(
        self,
        target: int,
        chord_pcs: Collection[int],
        scale: Collection[int],
        held: Collection[int],
        legato: bool,
        passing_ok: bool,
        short: bool = True,
        length: int | None = None,
    ) -> int:
        """Choose the next note near `target`. `legato`: the previous note sounds up to this one;
        `passing_ok`: this note is short, on a weak position and joined to the next, so it may
        be a chromatic passing tone; only a `short` one may sound against a held note a semitone
        below. `length` (ticks): no pitch that would repeat a 16-note sequence of the last hour."""
        if self.forced is not None:
            pitch, self.forced = self.forced, None
            return self._commit(pitch, chord_pcs, scale)
        last = self.last if self.last is not None else self.center
        resolving = abs(self.last_interval) > LEAP
        down = self.last_interval < 0
        lo, hi = self.lo, self.hi
        cands: tuple[list[int], list[int], list[int]] = ([], [], [])
        weights: tuple[list[float], list[float], list[float]] = ([], [], [])
        last_diatonic = last % 12 in scale
        if resolving:  # step back against the leap, even slightly outside the range
            pool = [last + 1, last + 2] if down else [last - 1, last - 2]
        else:
            pool = list(range(max(lo, last - MAX_INTERVAL), min(hi, last + MAX_INTERVAL) + 1))
        for p in pool:
            pc = p % 12
            d = p - last
            cat = category(pc, chord_pcs, scale)
            if cat == CHROMATIC:
                beyond = p + d
                if not (
                    legato and passing_ok and last_diatonic and abs(d) == 1 and beyond % 12 in scale
                    and lo <= beyond <= hi and self.last is not None
                    and not clashes(beyond, held) and (short or not clashes(p, held))
                    and self._in_band(CHROMATIC, category(beyond % 12, chord_pcs, scale))
                ):
                    continue
            elif clashes(p, held):
                continue
            if length is not None and self._repeats([p], [note_length(length)]):
                continue
            w = 0.04 ** abs(p - target)
            w *= 1.0 / (1.0 + ((p - self.center) / 7.0) ** 2)  # pull to the register centre
            if abs(d) > LEAP:
                w *= 0.1
            cands[cat].append(p)
            weights[cat].append(w)
        feasible = [c for c in (CHORD_TONE, SCALE_TONE, CHROMATIC) if cands[c]]
        if not feasible and resolving:  # the step back, whatever it meets
            options = [p for p in pool if p % 12 in scale and not clashes(p, held)] or [
                p for p in pool if p % 12 in scale] or pool
            return self._commit(min(options, key=lambda p: (abs(p - last), p)), chord_pcs, scale)
        if not feasible:  # far outside a new register: the diatonic note nearest to the range,
            # at most an octave away
            near = [p for p in range(last - 12, last + 13) if p % 12 in scale]
            options = [p for p in near if not clashes(p, held)] or near
            pitch = min(options, key=lambda p: (max(0, lo - p, p - hi), abs(p - last), p))
            return self._commit(pitch, chord_pcs, scale)
        n = sum(self.counts) + 1
        behind = {c: TARGET_SHARE[c] * n + BAND_SHIFT[c] - self.counts[c] for c in feasible}
        inside = [c for c in feasible if c == CHROMATIC or self._in_band(c)]
        most = max(inside or feasible, key=lambda c: (behind[c], -c))
        # The candidate nearest the target decides the category, unless another is too far behind.
        best = max(
            ((w, p, c) for c in feasible if c != CHROMATIC for p, w in zip(cands[c], weights[c])),
            default=None,
        )
        if best is not None and behind[most] <= TOLERANCE and behind[best[2]] > -TOLERANCE:
            cat = best[2]
        else:
            cat = most
        pitch = self.rng.choices(cands[cat], weights[cat])[0]
        if cat == CHROMATIC:
            self.forced = pitch + (pitch - last)
        return self._commit(pitch, chord_pcs, scale)

    def _commit(self, pitch: int, chord_pcs: Collection[int], scale: Collection[int]) -> int:
        self.counts[category(pitch % 12, chord_pcs, scale)] += 1
        if self.last is not None:
            self.last_interval = pitch - self.last
        self.last = pitch
        return pitch
