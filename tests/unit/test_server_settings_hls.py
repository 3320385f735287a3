"""The HLS settings: read from the environment, every bad value refused with a message naming it."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from auralis.server.settings import Settings


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("AURALIS_HLS_DIR", "AURALIS_HLS_STATIONS", "AURALIS_HLS_SEGMENT_S", "AURALIS_STATIONS",
                "AURALIS_STATIONS_FILE", "AURALIS_STATIONS_DEFAULTS", "AURALIS_REDIS_URL"):
        monkeypatch.delenv(var, raising=False)


def test_off_by_default_and_every_station_once_a_directory_is_set(tmp_path: Path, monkeypatch) -> None:
    s = Settings()
    assert s.hls_dir is None and s.hls_stations == []
    monkeypatch.setenv("AURALIS_HLS_DIR", str(tmp_path / "hls" / "new"))  # created at start
    s = Settings()
    assert s.hls_dir == tmp_path / "hls" / "new"
    assert s.hls_station_names() == ["focus", "meditation", "sleep", "bright"]
    assert (s.hls_segment_s, s.hls_window, s.hls_bitrate_kbps, s.hls_lock_ttl_s) == (4.0, 6, 128, 4.0)
    monkeypatch.setenv("AURALIS_HLS_STATIONS", "sleep, focus")
    monkeypatch.setenv("AURALIS_HLS_SEGMENT_S", "2.5")
    s = Settings()
    assert s.hls_station_names() == ["focus", "sleep"] and s.hls_segment_s == 2.5


@pytest.mark.parametrize(
    ("var", "value", "message"),
    [
        ("AURALIS_HLS_SEGMENT_S", "7", "segment_s must be a multiple of 0.1 s within 2..6"),
        ("AURALIS_HLS_SEGMENT_S", "1", "segment_s must be a multiple of 0.1 s within 2..6"),
        ("AURALIS_HLS_SEGMENT_S", "3.33", "segment_s must be a multiple of 0.1 s within 2..6"),
        ("AURALIS_HLS_STATIONS", "focus,jazz", "AURALIS_HLS_STATIONS: unknown station 'jazz'"),
        ("AURALIS_HLS_WINDOW", "2", "hls_window"),
        ("AURALIS_HLS_BITRATE_KBPS", "999", "hls_bitrate_kbps"),
        ("AURALIS_HLS_LOCK_TTL_S", "1", "hls_lock_ttl_s"),
    ],
)
def test_bad_values_are_refused(tmp_path: Path, monkeypatch, var: str, value: str, message: str) -> None:
    monkeypatch.setenv("AURALIS_HLS_DIR", str(tmp_path))
    monkeypatch.setenv(var, value)
    with pytest.raises(ValidationError, match=message):
        Settings()


def test_a_directory_that_is_a_file_or_stations_without_a_directory(tmp_path: Path, monkeypatch) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    monkeypatch.setenv("AURALIS_HLS_DIR", str(f))
    with pytest.raises(ValidationError, match="exists and is not a directory"):
        Settings()
    monkeypatch.setenv("AURALIS_HLS_DIR", str(f / "below"))
    with pytest.raises(ValidationError, match="is not a writable directory"):
        Settings()
    monkeypatch.delenv("AURALIS_HLS_DIR")
    monkeypatch.setenv("AURALIS_HLS_STATIONS", "focus")
    with pytest.raises(ValidationError, match="AURALIS_HLS_STATIONS is set but AURALIS_HLS_DIR is not"):
        Settings()
