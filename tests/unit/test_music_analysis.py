"""The musicality measures themselves (auralis.music.analysis), on melodies built by hand."""

from __future__ import annotations

import math

import pytest

from auralis.music import analysis as A

SPB = 1.0  # 60 BPM: a beat is a second
STEPS = (2, -1, 3, -2)  # a motif: four intervals (semitones here) ...
IOIS = (1.0, 0.5, 1.5, 1.0)  # ... and its inter-onset intervals in beats (the last: its length)


def phrased(rests: list[float], start_pitch: int = 60) -> list[A.Note]:
    """The motif stated once per rest, each statement followed by that rest."""
    out: list[A.Note] = []
    t = 0.0
    for rest in rests:
        p = start_pitch
        for i, ioi in enumerate(IOIS + (IOIS[-1],)):
            out.append(A.Note(t, t + ioi, p, 60))
            t += ioi
            if i < len(STEPS):
                p += STEPS[i]
        t += rest
    return out


def test_a_restated_motif_recurs_inside_its_phrases() -> None:
    # Six statements of five notes, each rest a different length: the 4-grams across a rest
    # never recur in rhythm, the two inside each phrase recur until the last statement.
    mel = phrased([5.0 + k for k in range(6)])
    parts = A.recurrence_parts(mel, SPB)
    grams = len(mel) - 3
    assert parts.inside == pytest.approx(12 / grams)
    assert parts.inside_recur == pytest.approx(10 / 12)
    assert parts.rhythm == pytest.approx(10 / grams)
    # Every phrase starts on the same pitch, so the intervals across the rests recur too.
    assert parts.intervals > parts.rhythm
    assert A.recurrence(mel, SPB) == pytest.approx(10 / grams)


def test_recurrence_in_scale_steps_hears_a_transposed_restatement() -> None:
    mel = phrased([5.0, 6.0]) + [
        A.Note(n.start + 40.0, n.end + 40.0, n.pitch + 5, n.velocity) for n in phrased([7.0])
    ]
    # In semitones a transposition by a fourth keeps the intervals; in (made-up) degrees that
    # differ per statement it does not: the measure follows the positions it is given.
    assert A.recurrence(mel, SPB) > 0
    degrees = [float(n.pitch) if n.start < 40 else float(n.pitch) * 2 for n in mel]
    assert A.recurrence_parts(mel, SPB, degrees).inside_recur < A.recurrence_parts(mel, SPB).inside_recur


def test_between_within_per_feature() -> None:
    # Feature 0: each seed its own constant (infinitely characteristic); feature 1: the same
    # spread inside every seed (no character); feature 2: seeds apart by 4, windows by 1.
    per_seed = [
        [[float(s), w % 2, 4.0 * s + (w % 2)] for w in range(6)] for s in range(5)
    ]
    ratios = A.between_within_features(per_seed)
    assert math.isinf(ratios[0]) and ratios[1] == 0.0 and ratios[2] == pytest.approx(32.0 / 0.25)
    assert A.between_within(per_seed) == ratios[2]
    assert len(A.FEATURES) == 10


def test_split_deviation_reads_chords_and_keys_from_markers() -> None:
    from auralis.music.events import MELODY_CHANNEL, Event

    # C aeolian, a C minor chord: C is a chord tone, D a scale tone, C# chromatic.
    events = [Event(0.0, "marker", text="context C aeolian"), Event(0.0, "marker", text="chord C min")]
    pitches = ([60] * 14 + [62] * 5 + [61]) * 10  # 70/25/5 exactly in every 20 notes
    for i, p in enumerate(pitches):
        events += [Event(i * 10.0, "note_on", MELODY_CHANNEL, p, 60), Event(i * 10.0 + 5, "note_off", MELODY_CHANNEL, p)]
    mel = A.notes(events)
    assert A.categories(events, mel)[:20] == ["chord"] * 14 + ["scale"] * 5 + ["chromatic"]
    assert A.split_deviation(events, mel) <= 1.0  # a window not a multiple of 20 notes is off by < 1 point
    skewed = [Event(e.time, e.kind, e.channel, 60 if e.pitch == 62 and e.time < 500 else e.pitch, e.velocity)
              if e.kind in ("note_on", "note_off") else e for e in events]
    assert A.split_deviation(skewed, A.notes(skewed)) == pytest.approx(10.0)  # 10 of 25 scale tones gone
