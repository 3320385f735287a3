"""The melody planner: a phrase's pitches chosen as a whole, checked again when they sound."""

from __future__ import annotations

import random

import pytest

from auralis.music import melody
from auralis.music.consonance import clashes
from auralis.music.melody import CHROMATIC, LEAP, REPEAT_NOTES, MelodyLine, Sound, category, signature
from auralis.music.motifs import Motif
from auralis.music.phrases import Phrase, PlannedNote
from auralis.music.theory import scale_pcs

SCALE = frozenset(scale_pcs(60, "aeolian"))
C_MINOR = (0, 3, 7)


def phrase(steps: list[int], values: list[int], start: int = 0) -> Phrase:
    notes = []
    on = start
    for i, v in enumerate(values):
        notes.append(PlannedNote(on, on + v, None if i == 0 else steps[i - 1], i, len(values)))
        on += v
    return Phrase("arch", tuple(notes), "literal")


def degrees(pitches: list[int]) -> list[int]:
    """Positions in scale steps (diatonic pitches only)."""
    return [(p // 12) * 7 + sorted(SCALE).index(p % 12) for p in pitches]


BAR = 24


def test_a_plan_keeps_the_motif_steps_and_every_rule() -> None:
    steps, values = [1, 1, -2, 3, -1], [6, 6, 12, 6, 6, 12]
    held = (48, 55, 63, 67)  # C3 G3 Eb4 G4: Ab and D (and their octaves) would clash
    for seed in range(40):
        line = MelodyLine(random.Random(seed), center=70)
        line.last, line.last_interval = 70, 1
        line.counts = [70, 25, 5]  # on budget: no passing tone owed
        plan = line.plan([(0, phrase(steps, values))], lambda tick: Sound(C_MINOR, held, 0), SCALE, 68, random.Random(seed), BAR)
        assert plan is not None
        ph, ps = plan
        assert len(ph.notes) == len(ps) == len(values)
        d = degrees(ps)
        assert [b - a for a, b in zip(d, d[1:])] == steps  # literal, in scale steps
        assert all(line.lo - 2 <= p <= line.hi + 2 and not clashes(p, held) for p in ps)
        ints = [ps[0] - 70] + [b - a for a, b in zip(ps, ps[1:])]
        assert abs(ints[0]) <= LEAP  # no leap into a phrase within the register
        for a, b in zip(ints, ints[1:]):
            if abs(a) > LEAP:  # every leap steps back
                assert 1 <= abs(b) <= 2 and (a > 0) != (b > 0)


def test_the_transposition_follows_the_budget() -> None:
    """Behind on chord tones, the plan takes the transposition with the most of them."""
    steps, values = [2, 2], [6, 6, 12]  # a broken triad: three chord tones at the right place
    line = MelodyLine(random.Random(1), center=67)
    line.counts = [68, 27, 5]  # chord tones behind
    plan = line.plan([(0, phrase(steps, values))], lambda tick: Sound(C_MINOR, (), 0), SCALE, 67, random.Random(1), BAR)
    assert plan is not None and all(category(p % 12, C_MINOR, SCALE) == 0 for p in plan[1])


def test_a_later_tier_is_taken_only_when_the_first_cannot_keep_the_budget() -> None:
    line = MelodyLine(random.Random(5), center=67)
    line.counts = [69, 26, 5]  # one chord tone owed soon
    triad = phrase([2, 2], [6, 6, 12])  # can be three chord tones
    scales = phrase([1, 1, 1, 1], [6, 6, 6, 6, 12])  # five scale steps: at most three chord tones
    sound = lambda tick: Sound(C_MINOR, (), 0)  # noqa: E731
    ph, _ = line.plan([(0, triad), (1, scales)], sound, SCALE, 67, random.Random(5), BAR)
    assert ph is triad
    line.counts = [66, 29, 5]  # three chord tones behind: no transposition of the run keeps
    ph, ps = line.plan([(0, scales), (1, triad)], sound, SCALE, 67, random.Random(5), BAR)
    assert len(ps) == 3 and all(category(p % 12, C_MINOR, SCALE) == 0 for p in ps)


def test_a_passing_tone_is_slipped_in_where_the_budget_owes_one() -> None:
    line = MelodyLine(random.Random(2), center=67)
    line.counts = [70, 25, 0]  # chromatic notes behind
    ph = phrase([1, 1], [6, 6, 12], start=0)  # joined notes
    sound = lambda tick: Sound(C_MINOR, (48,), 0)  # noqa: E731
    new_ph, new_ps = line.plan([(0, ph)], sound, SCALE, 67, random.Random(2), BAR)
    assert len(new_ps) == len(new_ph.notes) == 4
    i = next(k for k, p in enumerate(new_ps) if category(p % 12, C_MINOR, SCALE) == CHROMATIC)
    assert 0 < i < 3 and new_ps[i - 1] < new_ps[i] < new_ps[i + 1] and new_ps[i + 1] - new_ps[i - 1] == 2
    a, b, c = new_ph.notes[i - 1 : i + 2]
    assert a.off == b.on and b.off == c.on and b.off - b.on == 3 and b.on % 6 == 3  # short, off the beat
    # Not owed: nothing is slipped in.
    line.counts = [70, 25, 5]
    same_ph, same_ps = line.plan([(0, ph)], sound, SCALE, 67, random.Random(2), BAR)
    assert same_ph == ph and len(same_ps) == 3


def test_a_planned_note_that_now_clashes_is_chosen_again() -> None:
    line = MelodyLine(random.Random(3), center=67)
    line.last, line.last_interval = 65, -2
    # Planned G4 (67), but an F#3 (54) is held now: G would clash (a minor ninth above it).
    p = line.take(67, None, 67, (2, 6, 9), SCALE | {6}, (54,), False, False, False, False, 0.0, 6)
    assert p != 67 and not clashes(p, (54,))
    line.last, line.last_interval = 67, 2
    q = line.take(68, None, 68, C_MINOR, SCALE, (48,), False, False, False, False, 1.0, 6)
    assert q == 68  # consonant and within the rules: taken as planned


def test_no_sixteen_note_sequence_is_planned_twice() -> None:
    line = MelodyLine(random.Random(4), center=67)
    motif = [67, 68, 70, 68]  # G Ab Bb Ab
    for i in range(REPEAT_NOTES):
        line.take(motif[i % 4], None, motif[i % 4], C_MINOR, SCALE, (), False, False, False, False, float(i), 6)
    # The same four notes again would repeat the last 16: that transposition is refused.
    ph = phrase([1, 1, -1], [6, 6, 6, 6])
    line.counts = [70, 25, 5]
    for seed in range(20):
        plan = line.plan([(0, ph)], lambda tick: Sound(C_MINOR, (), 0), SCALE, 67, random.Random(seed), BAR)
        assert plan is not None and plan[1] != motif


def test_motif_tail_is_part_of_the_motif() -> None:
    m = Motif((1, -1), (6, 6, 12), "duple", tail=(2,))
    assert m.tail == (2,) and len(m) == 3


def test_the_pairs_heard_least_recently_are_forgotten_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """The entries remembered per pair of statements stay within ANSWER_PAIRS: a pair heard again
    is kept over one heard once, longer ago (a station plays for weeks; the memory must not grow)."""
    monkeypatch.setattr(melody, "ANSWER_PAIRS", 3)
    line = MelodyLine(random.Random(5), center=67)
    line.last, line.last_interval = 67, 1
    shapes = {"A": [1, 1], "B": [-1, -1], "C": [2, -1], "D": [-2, 1]}
    sig = {}
    for name in "ABABCD":
        line.counts = [70, 25, 5]  # on budget: no passing tone owed, the phrase stays as offered
        plan = line.plan([(0, phrase(shapes[name], [6, 6, 12]))], lambda tick: Sound(C_MINOR, (), 0), SCALE, 67, random.Random(1), BAR)
        assert plan is not None
        sig[name] = signature(plan[0])
        line.last = plan[1][-1]
    # Pairs met: (-, A) (A, B) (B, A) (A, B) again, (B, C) (C, D): with room for 3, the two heard
    # once longest ago go; (A, B), heard again after (B, A), stays.
    assert list(line.answers) == [(sig["A"], sig["B"]), (sig["B"], sig["C"]), (sig["C"], sig["D"])]
    assert len(line.answers[(sig["A"], sig["B"])]) == 2  # both of its entries
