"""Theory, harmony tables, voice leading and melody building blocks, in isolation."""

from __future__ import annotations

import random

import pytest

from auralis.music.harmony import DOMINANT, TABLES, TONIC, is_dominant_to_tonic, may_follow, new_cycle
from auralis.music.melody import (
    CHROMATIC,
    MelodyLine,
    slot_length_weights,
    sounding_probability,
)
from auralis.music.params import MODES
from auralis.music.theory import QUALITIES, chord_colors, key_signature_name, pc_from_name, scale_pcs
from auralis.music.voicing import lead


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


def test_voice_leading_holds_common_tones_and_moves_by_step() -> None:
    c_major = (0, 4, 7)
    a_minor = (9, 0, 4)
    start = lead((), c_major, 4, 52, 69)
    assert {p % 12 for p in start} == {0, 4, 7} and len(start) == 4
    nxt = lead(start, a_minor, 4, 52, 69)
    held = [p for p in start if p % 12 in a_minor]
    assert all(p in nxt for p in held)  # C and E hold
    moved = sorted(set(start) - set(nxt))
    assert moved and all(min(abs(q - p) for q in nxt) <= 2 for p in moved)  # G -> A
    # Root and third always there, even with three voices and a seventh chord.
    v = lead((55, 60, 64), (2, 5, 0, 9), 3, 52, 69)  # D min7 from C major
    assert {2, 5} <= {p % 12 for p in v} and 60 in v


def test_density_building_blocks() -> None:
    assert sounding_probability(0.0) == 0.5 and sounding_probability(1.0) == pytest.approx(0.8)
    for i in (0.0, 0.2, 0.5, 0.8, 1.0):
        weights = slot_length_weights(i)
        assert sum(w for _, w in weights) == pytest.approx(1.0) and min(w for _, w in weights) >= 0


def test_chromatic_note_is_followed_by_its_resolution() -> None:
    rng = random.Random(3)
    scale = set(scale_pcs(60, "aeolian"))
    line = MelodyLine(rng, center=72)
    produced = []
    for _ in range(2000):
        p = line.next_pitch({0, 3, 7}, scale, legato=True)
        produced.append(p)
    for a, b, c in zip(produced, produced[1:], produced[2:]):
        if b % 12 not in scale:
            assert a % 12 in scale and c % 12 in scale and abs(c - a) == 2 and c - b == b - a
    assert line.counts[CHROMATIC] / sum(line.counts) == pytest.approx(0.05, abs=0.005)
