"""The station settings: definitions validated when the settings are read."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from auralis.server.settings import Settings


def test_station_settings_default_to_the_four_presets(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("AURALIS_STATIONS", "AURALIS_STATIONS_FILE", "AURALIS_STATIONS_DEFAULTS"):
        monkeypatch.delenv(var, raising=False)
    s = Settings()
    assert [spec.name for spec in s.station_specs()] == ["focus", "meditation", "sleep", "bright"]
    assert (s.stations_always_on, s.station_idle_s, s.station_ring_chunks) == (False, 60.0, 50)


def test_station_settings_from_file_and_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = tmp_path / "stations.toml"
    f.write_text('[[station]]\nname = "rain"\nseed = 5\npreset = "sleep"\n')
    monkeypatch.setenv("AURALIS_STATIONS_FILE", str(f))
    monkeypatch.setenv("AURALIS_STATIONS", '[{"name": "lobby", "seed": 9, "always_on": true}]')
    monkeypatch.setenv("AURALIS_STATIONS_DEFAULTS", "false")
    specs = Settings().station_specs()
    assert [(s.name, s.seed) for s in specs] == [("rain", 5), ("lobby", 9)]
    assert specs[1].always_on is True


def test_a_bad_station_definition_stops_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AURALIS_STATIONS", '[{"name": "x", "seed": 1, "mode": "locrian7"}]')
    with pytest.raises(ValidationError, match="station 'x': mode must be one of"):
        Settings()
    monkeypatch.delenv("AURALIS_STATIONS")
    monkeypatch.setenv("AURALIS_STATIONS_FILE", str(tmp_path / "missing.toml"))
    with pytest.raises(ValidationError, match="cannot read"):
        Settings()
    monkeypatch.delenv("AURALIS_STATIONS_FILE")
    monkeypatch.setenv("AURALIS_STATION_IDLE_S", "-1")
    with pytest.raises(ValidationError, match="station_idle_s"):
        Settings()
