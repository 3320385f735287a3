"""Palettes (issue 12): the facts, and the ``palette`` parameter validated like the others."""

from __future__ import annotations

import pytest

from auralis.music.palettes import DEFAULT_PALETTE, PALETTES, ROLES, validate_palette
from auralis.music.params import PRESETS, MusicParams, music_facts
from auralis.server.protocol import ProtocolError, parse_client_message, parse_stream_query


def test_every_palette_has_one_voice_per_role_within_ranges() -> None:
    assert len(PALETTES) >= len(PRESETS) + 4
    for p in PALETTES.values():
        assert sorted(v.role for v in p.voices) == sorted(ROLES)
        for v in p.voices:
            assert 0 <= v.program <= 127 and -1 <= v.pan <= 1 and 0 <= v.level <= 1
            assert v.register[1] - v.register[0] >= 11  # at least an octave to move in
        assert len(p.programs) >= 4
        pans = [v.pan for v in p.voices]
        assert min(pans) <= -0.3 and max(pans) >= 0.3  # spread across the field


def test_each_preset_brings_its_own_palette_and_program_set() -> None:
    sets = set()
    for name in PRESETS:
        p = MusicParams(key=62).with_preset(name)
        assert p.palette == name and p.key == 62
        sets.add(PALETTES[name].programs)
    assert len(sets) == len(PRESETS)


def test_palette_validated_like_the_others() -> None:
    assert MusicParams().palette == DEFAULT_PALETTE
    assert MusicParams().with_changes(palette="glass").palette == "glass"
    for bad in ("nope", "", None, 3, "Sleep"):
        with pytest.raises(ValueError, match=r"^palette must be one of"):
            MusicParams().with_changes(palette=bad)
    with pytest.raises(ValueError, match="palette"):
        validate_palette("x" * 500)
    p = MusicParams()
    with pytest.raises(ValueError):
        p.with_changes(bpm=60, palette="nope")  # nothing half-applied: p unchanged
    assert p == MusicParams()


def test_protocol_names_the_palette_field() -> None:
    msg = parse_client_message('{"type": "update_params", "params": {"palette": "choir"}}')
    assert msg.changes == {"palette": "choir"}  # type: ignore[union-attr]
    with pytest.raises(ProtocolError) as err:
        parse_client_message('{"type": "update_params", "params": {"palette": "nope", "bpm": 50}}')
    assert err.value.field == "palette" and "palette" in str(err.value)
    assert parse_stream_query({"palette": "garden"}).params.palette == "garden"
    with pytest.raises(ProtocolError) as err:
        parse_stream_query({"palette": "nope"})
    assert err.value.field == "palette"
    # a preset brings its palette; an explicit palette wins
    assert parse_stream_query({"preset": "sleep"}).params.palette == "sleep"
    req = parse_stream_query({"preset": "sleep", "palette": "glass"})
    assert req.params.palette == "glass" and req.preset is None


def test_music_facts_serve_the_palettes() -> None:
    facts = music_facts()
    assert [p["name"] for p in facts["palettes"]] == list(PALETTES)
    assert facts["defaults"]["palette"] == DEFAULT_PALETTE
    for p in facts["presets"]:
        assert p["params"]["palette"] == p["name"]
    one = facts["palettes"][0]
    assert {"name", "label", "description", "voices"} <= set(one)
    assert {v["role"] for v in one["voices"]} == set(ROLES)
