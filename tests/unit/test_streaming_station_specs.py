"""Station definitions: the defaults, the TOML/JSON file, the environment, clear refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auralis.music.params import PRESETS, MusicParams
from auralis.streaming.station_specs import (
    DEFAULT_STATIONS,
    StationSpec,
    StationSpecError,
    load_station_specs,
)

TOML = """
[[station]]
name = "rain"
description = "Rain on the window"
preset = "sleep"
key = 65
seed = 42
always_on = true
idle_s = 10

[[station]]
name = "focus"          # replaces the default focus station
description = "Faster focus"
mode = "dorian"
bpm = 72
intensity = 0.4
seed = 7
segment_s = 300
"""


def test_the_defaults_are_the_presets_with_fixed_seeds() -> None:
    assert [s.name for s in DEFAULT_STATIONS] == list(PRESETS)
    for s in DEFAULT_STATIONS:
        p = PRESETS[s.name]
        assert (s.params.mode, s.params.bpm, s.params.intensity) == (
            p["mode"],
            p["bpm"],
            p["intensity"],
        )
        assert s.description and s.always_on is None and s.segment_chunks == 6000
    assert [s.seed for s in DEFAULT_STATIONS] == [1001, 1002, 1003, 1004]
    assert load_station_specs() == list(DEFAULT_STATIONS)


def test_a_toml_file_adds_and_replaces_stations(tmp_path: Path) -> None:
    f = tmp_path / "stations.toml"
    f.write_text(TOML)
    specs = {s.name: s for s in load_station_specs(f)}
    assert list(specs) == ["focus", "meditation", "sleep", "bright", "rain"]
    rain = specs["rain"]
    assert rain.params == MusicParams(key=65).with_preset("sleep")
    assert (rain.seed, rain.always_on, rain.idle_s, rain.description) == (
        42,
        True,
        10,
        "Rain on the window",
    )
    focus = specs["focus"]
    assert focus.params == MusicParams(key=60, mode="dorian", bpm=72, intensity=0.4)
    assert (focus.seed, focus.segment_chunks) == (7, 3000)
    only = load_station_specs(f, include_defaults=False)
    assert [s.name for s in only] == ["rain", "focus"]


def test_a_json_file_and_the_environment(tmp_path: Path) -> None:
    f = tmp_path / "stations.json"
    f.write_text(json.dumps([{"name": "deep", "seed": 3, "preset": "meditation"}]))
    env = json.dumps([{"name": "deep", "seed": 4, "bpm": 44}, {"name": "x1", "seed": 0}])
    specs = {s.name: s for s in load_station_specs(f, env, include_defaults=False)}
    assert specs["deep"].seed == 4 and specs["deep"].params.bpm == 44  # the environment wins
    assert specs["x1"].params == MusicParams()
    f.write_text(json.dumps({"station": [{"name": "obj", "seed": 1}]}))
    assert [s.name for s in load_station_specs(f, include_defaults=False)] == ["obj"]


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ({"name": "Bad Name", "seed": 1}, "station name"),
        ({"name": "ok"}, "seed is required"),
        ({"name": "ok", "seed": -1}, "seed"),
        ({"name": "ok", "seed": 1.5}, "seed"),
        ({"name": "ok", "seed": 1, "bpm": 300}, "bpm"),
        ({"name": "ok", "seed": 1, "mode": "locrian2"}, "mode"),
        ({"name": "ok", "seed": 1, "preset": "party"}, "preset"),
        ({"name": "ok", "seed": 1, "tempo": 60}, "unknown field 'tempo'"),
        ({"name": "ok", "seed": 1, "always_on": "yes"}, "always_on"),
        ({"name": "ok", "seed": 1, "idle_s": -3}, "idle_s"),
        ({"name": "ok", "seed": 1, "segment_s": 30.05}, "segment_s"),
        ({"name": "ok", "seed": 1, "description": 5}, "description"),
        ("focus", "table/object"),
    ],
)
def test_a_bad_definition_is_refused_naming_the_station_and_field(entry, words: str) -> None:
    with pytest.raises(StationSpecError, match=words) as info:
        load_station_specs(None, json.dumps([entry]))
    if isinstance(entry, dict) and entry.get("name") == "ok":
        assert "station 'ok'" in str(info.value)


def test_bad_files_are_refused_as_a_whole(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(StationSpecError, match="cannot read"):
        load_station_specs(missing)
    broken = tmp_path / "broken.toml"
    broken.write_text("[[station]\nname=")
    with pytest.raises(StationSpecError, match="not valid"):
        load_station_specs(broken)
    twice = tmp_path / "twice.toml"
    twice.write_text('[[station]]\nname="a"\nseed=1\n[[station]]\nname="a"\nseed=2\n')
    with pytest.raises(StationSpecError, match="defined twice"):
        load_station_specs(twice)
    flat = tmp_path / "flat.toml"
    flat.write_text('name = "a"\n')
    with pytest.raises(StationSpecError, match=r"\[\[station\]\]"):
        load_station_specs(flat)
    with pytest.raises(StationSpecError, match="AURALIS_STATIONS"):
        load_station_specs(None, "{not json")
    with pytest.raises(StationSpecError):
        StationSpec("ok", "", {"bpm": 1}, 1)  # type: ignore[arg-type]
