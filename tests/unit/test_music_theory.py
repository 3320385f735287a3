"""Theory, harmony tables, voice leading and melody building blocks, in isolation."""

from __future__ import annotations

import random

import pytest

from auralis.music.harmony import DOMINANT, TABLES, TONIC, is_dominant_to_tonic, may_follow, new_cycle
from auralis.music.consonance import clashes
from auralis.music.dynamics import Swell, expression
from auralis.music.melody import CHROMATIC, MelodyLine
from auralis.music.form import WEYL, SeedProfile, spread
from auralis.music.motifs import chord_fit, draw_motif, fitted_motif, vary
from auralis.music.params import MODES
from auralis.music.phrases import MAX_REST_S, MIN_REST_S, plan_phrase, rest_seconds
from auralis.music.theory import QUALITIES, chord_colors, key_signature_name, pc_from_name, scale_pcs
from auralis.music.voicing import C4, MIN_SPAN, voice


def test_scales_of_the_modes() -> None:
    assert scale_pcs(60, "aeolian") == (0, 2, 3, 5, 7, 8, 10)
    assert scale_pcs(62, "dorian") == (2, 4, 5, 7, 9, 11, 0)
    assert scale_pcs(64, "phrygian") == (4, 5, 7, 9, 11, 0, 2)
    assert scale_pcs(65, "lydian") == (5, 7, 9, 11, 0, 2, 4)


def test_diatonic_chords_of_c_aeolian() -> None:
    triads = [chord_colors(60, "aeolian", d)[0][0].label for d in range(7)]
    assert triads == ["C min", "D dim", "D# maj", "F min", "G min", "G# maj", "A# maj"]
    colors = {c.label for d in range(7) for c, _ in chord_colors(60, "aeolian", d)}
    assert {"C min7", "D m7b5", "D# maj7", "A# 7", "C sus2", "C sus4", "C madd9", "G# add9"} <= colors
    assert "G 7" not in colors and "G maj" not in colors  # no dominant in aeolian
    for mode in MODES:  # every colour stays in its mode
        scale = set(scale_pcs(67, mode))
        for d in range(7):
            for chord, w in chord_colors(67, mode, d):
                assert set(chord.pcs) <= scale and w > 0 and chord.quality in QUALITIES


def test_key_signatures_follow_the_modes_accidentals() -> None:
    assert key_signature_name(60, "aeolian") == "Cm"
    assert key_signature_name(62, "dorian") == "Am"
    assert key_signature_name(64, "phrygian") == "Am"
    assert key_signature_name(65, "lydian") == "C"
    assert key_signature_name(67, "mixolydian") == "C"
    assert key_signature_name(66, "lydian") == "Db"  # C# major, written with fewer accidentals
    assert pc_from_name("F#") == 6
    with pytest.raises(ValueError):
        pc_from_name("Gb")


@pytest.mark.parametrize("mode", MODES)
def test_transition_tables_forbid_repeats_and_dominant_to_tonic(mode: str) -> None:
    table = TABLES[mode]
    assert table[DOMINANT][TONIC] == 0.0
    assert all(table[i][i] == 0.0 for i in range(7))
    assert all(sum(1 for w in row if w > 0) >= 4 for row in table)
    # Modal, not functional: stepwise root motion outweighs motion by a fifth up to the tonic.
    assert scale_pcs(60, mode)[DOMINANT] == 7


def test_dominant_to_tonic_definition() -> None:
    assert is_dominant_to_tonic(7, 0, 0) and is_dominant_to_tonic(9, 2, 2)
    assert not is_dominant_to_tonic(0, 7, 0) and not is_dominant_to_tonic(5, 0, 0)
    assert not may_follow(7, 0, [0]) and not may_follow(4, 4, [0]) and may_follow(None, 0, [0])
    assert not may_follow(0, 5, [7, 5])  # C to F is V-I under the old tonic F


def test_progression_cycles_start_on_the_tonic_and_wrap_cleanly() -> None:
    rng = random.Random(1)
    for mode in MODES:
        for _ in range(200):
            cycle = new_cycle(rng, 62, mode, None, None)
            assert 3 <= len(cycle) <= 6 and cycle[0].root == 2
            roots = [c.root for c in cycle]
            for a, b in zip(roots, roots[1:] + roots[:1]):
                assert may_follow(a, b, [2])
    # After a chord a fifth above the tonic, the next cycle does not start on the tonic.
    for _ in range(50):
        cycle = new_cycle(rng, 60, "lydian", 7, 0)
        assert cycle[0].root not in (0, 7)


def test_open_voicing_holds_common_tones() -> None:
    c_major = (0, 4, 7)
    a_minor = (9, 0, 4)
    start = voice((), c_major, 4, 45, 23)
    assert {p % 12 for p in start} == {0, 4, 7} and start[-1] - start[0] >= MIN_SPAN
    assert all(b - a > 2 for a, b in zip(start, start[1:]) if a < C4)
    nxt = voice(start, a_minor, 4, 45, 23)
    assert all(p in nxt for p in start if p % 12 in a_minor)  # C and E hold
    assert {9, 0} <= {p % 12 for p in nxt} and nxt[-1] - nxt[0] >= MIN_SPAN


def test_phrase_and_rest_building_blocks() -> None:
    rng = random.Random(5)
    for intensity in (0.0, 0.5, 1.0):
        m = draw_motif(rng, "duple", 1.0, 1.0, 0.7)
        ph = plan_phrase(rng, m, 12, intensity)
        assert 2 <= len(ph.notes) <= 8 and ph.notes[0].on >= 12
        assert all(a.off <= b.on for a, b in zip(ph.notes, ph.notes[1:]))
        assert all(n.on % 3 == 0 or n.on % 2 == 0 for n in ph.notes)  # half/third-beat grid
    calm = [rest_seconds(rng, 0.2, 1.0, 1.0) for _ in range(500)]
    assert min(calm) >= MIN_REST_S and max(calm) <= MAX_REST_S and max(calm) > 12  # a long tail
    busy = [rest_seconds(rng, 0.8, 1.0, 1.0) for _ in range(500)]
    assert sum(busy) < sum(calm) / 1.5
    m = draw_motif(rng, "triple", 1.0, 1.0, 0.7)
    kinds = {vary(rng, m)[1] for _ in range(200)}
    assert {"literal", "invert", "augment", "displace"} <= kinds


def test_consonance_and_swells() -> None:
    assert clashes(61, [60]) and clashes(73, [60]) and not clashes(59, [60]) and not clashes(62, [60])
    s = Swell(random.Random(1), -10.0)
    levels = [s.db(t * 0.5) for t in range(2000)]
    assert min(levels) >= -10.0 and max(levels) <= 0.0 and max(levels) - min(levels) > 5
    assert max(abs(a - b) for a, b in zip(levels, levels[1:])) < 1.0  # at most 2 dB/s: no pumping
    assert expression(0.0) == 127 and 60 < expression(-10.0) < 80


def test_chromatic_note_is_followed_by_its_resolution() -> None:
    rng = random.Random(3)
    scale = set(scale_pcs(60, "aeolian"))
    line = MelodyLine(rng, center=72)
    produced = []
    for _ in range(2000):
        p = line.next_pitch(line.target(1, 0, scale), {0, 3, 7}, scale, (), legato=True, passing_ok=True)
        produced.append(p)
    for a, b, c in zip(produced, produced[1:], produced[2:]):
        if b % 12 not in scale:
            assert a % 12 in scale and c % 12 in scale and abs(c - a) == 2 and c - b == b - a
    assert line.counts[CHROMATIC] / sum(line.counts) == pytest.approx(0.05, abs=0.005)


def test_seed_traits_lie_apart_and_motifs_fit_triads() -> None:
    """Any five seeds in a row are far apart on every trait (a low-discrepancy sequence), for
    any integer seed; a fitted motif keeps 75% chord tones placed on a triad when it can."""
    for first in (0, 17, 2**70, -5):
        for k in range(len(WEYL)):
            xs = sorted(spread(first + i, k) for i in range(5))
            assert all(0.0 <= x < 1.0 for x in xs)
            assert min(b - a for a, b in zip(xs, xs[1:])) >= 0.05 and xs[-1] - xs[0] >= 0.6, (first, k, xs)
    homes = [SeedProfile.draw(s).home for s in range(5)]
    assert max(homes) - min(homes) >= 10
    assert chord_fit((2, 2)) == 1.0 and chord_fit((1, 1, 1)) == 0.5
    rng = random.Random(9)
    fits = [chord_fit(fitted_motif(rng, "duple", 1.0, 1.0, 0.7, 5, 0.5, 1.2, 9.0).steps) for _ in range(50)]
    assert sum(f >= 0.75 for f in fits) >= 45
