"""Musical parameters: ranges, clear errors, nothing applied halfway, presets."""

from __future__ import annotations

import math

import pytest

from auralis.music.params import MODES, PRESETS, MusicParams


def test_defaults_and_presets_follow_the_contract() -> None:
    assert MusicParams().as_dict() == {"key": 60, "mode": "aeolian", "bpm": 60.0, "intensity": 0.5, "palette": "classic"}
    assert {"aeolian", "dorian", "lydian", "phrygian"} <= set(MODES)
    table = {"focus": ("dorian", 60, 0.5), "meditation": ("aeolian", 50, 0.3),
             "sleep": ("phrygian", 40, 0.2), "bright": ("lydian", 70, 0.6)}
    assert set(PRESETS) == set(table)
    for name, (mode, bpm, intensity) in table.items():
        p = MusicParams(key=64).with_preset(name)
        assert (p.key, p.mode, p.bpm, p.intensity) == (64, mode, bpm, intensity)  # keeps the key


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("key", 59, ["key", "60", "71"]),
        ("key", 72, ["key", "60", "71"]),
        ("key", 60.5, ["key"]),
        ("key", "C", ["key"]),
        ("mode", "locrian", ["mode", "aeolian", "dorian", "lydian", "phrygian"]),
        ("mode", 3, ["mode"]),
        ("bpm", 39.9, ["bpm", "40", "90"]),
        ("bpm", 90.5, ["bpm", "40", "90"]),
        ("bpm", math.nan, ["bpm"]),
        ("bpm", True, ["bpm"]),
        ("intensity", -0.01, ["intensity", "0", "1"]),
        ("intensity", 1.01, ["intensity", "0", "1"]),
        ("intensity", math.inf, ["intensity"]),
    ],
)
def test_bad_values_raise_value_error_naming_field_and_range(field: str, value: object, words: list[str]) -> None:
    with pytest.raises(ValueError) as err:
        MusicParams(**{field: value})
    assert all(w in str(err.value) for w in words), str(err.value)
    with pytest.raises(ValueError, match=field):
        MusicParams().with_changes(**{field: value})


def test_a_bad_change_applies_nothing() -> None:
    p = MusicParams()
    with pytest.raises(ValueError, match="bpm"):
        p.with_changes(key=62, bpm=200)
    with pytest.raises(ValueError, match="unknown parameter 'tempo'"):
        p.with_changes(key=62, tempo=70)
    with pytest.raises(ValueError, match="preset"):
        p.with_preset("party")
    assert p == MusicParams()
    assert p.with_changes(key=62, mode="DORIAN").mode == "dorian"
