"""SoundFont discovery and validation, with the real FluidR3 font and broken files."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from auralis.audio.renderer import Renderer
from auralis.audio.soundfont import (
    SoundFontError,
    find_soundfont,
    validate_soundfont,
)


def test_validate_real_font(soundfont_path: Path) -> None:
    info = validate_soundfont(soundfont_path)
    assert info.path == soundfont_path.resolve()
    assert info.preset_count >= 128
    assert set(info.programs) == {0, 8, 43, 46, 89}  # the default palette: piano, celesta, contrabass, harp, warm pad
    assert "piano" in info.programs[0].lower()
    assert "pad" in info.programs[89].lower()
    assert info.name  # the bank's INFO name


def test_missing_file_named(tmp_path: Path) -> None:
    path = tmp_path / "nope.sf2"
    with pytest.raises(SoundFontError, match=r"nope\.sf2.*not found"):
        validate_soundfont(path)


def test_directory_is_not_a_font(tmp_path: Path) -> None:
    with pytest.raises(SoundFontError, match="directory"):
        validate_soundfont(tmp_path)


def test_text_file_is_not_riff(tmp_path: Path) -> None:
    path = tmp_path / "notes.sf2"
    path.write_text("these are not samples\n" * 10)
    with pytest.raises(SoundFontError, match=r"notes\.sf2.*not a RIFF file"):
        validate_soundfont(path)


def test_wav_is_wrong_riff_form(tmp_path: Path) -> None:
    path = tmp_path / "sound.sf2"
    path.write_bytes(b"RIFF" + struct.pack("<I", 36) + b"WAVE" + b"fmt " + bytes(32))
    with pytest.raises(SoundFontError, match=r"sound\.sf2.*b'WAVE'.*not b'sfbk'"):
        validate_soundfont(path)


def test_truncated_font(tmp_path: Path, soundfont_path: Path) -> None:
    path = tmp_path / "cut.sf2"
    with open(soundfont_path, "rb") as fh:
        path.write_bytes(fh.read(100_000))
    with pytest.raises(SoundFontError, match=r"cut\.sf2.*truncated"):
        validate_soundfont(path)


def test_corrupt_body_fails_to_load(tmp_path: Path) -> None:
    body = b"LIST" + struct.pack("<I", 4000) + b"junk" + bytes(range(256)) * 15 + bytes(156)
    path = tmp_path / "corrupt.sf2"
    path.write_bytes(b"RIFF" + struct.pack("<I", 4 + len(body)) + b"sfbk" + body)
    with pytest.raises(SoundFontError, match=r"corrupt\.sf2.*fails to load"):
        validate_soundfont(path)
    with pytest.raises(SoundFontError, match=r"corrupt\.sf2"):
        Renderer(path)


def test_lacking_program_named(soundfont_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # FluidR3 has every GM program in bank 0; bank 0 program numbers only go to 127, so ask
    # validation for programs through a font whose bank 0 we hide.
    import auralis.audio.soundfont as sf

    real = sf.FluidSynth.presets

    def without_pad(self, sfont_id):  # noqa: ANN001
        return [p for p in real(self, sfont_id) if p[:2] != (0, 89)]

    monkeypatch.setattr(sf.FluidSynth, "presets", without_pad)
    expected = r"FluidR3_GM\.sf2.*lacks program 89 \(Pad 2 \(warm\)\)"
    with pytest.raises(SoundFontError, match=expected):
        validate_soundfont(soundfont_path)


def test_find_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, soundfont_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AURALIS_SOUNDFONT", raising=False)
    # system font when nothing is configured and ./soundfonts is absent
    assert find_soundfont().is_file()
    # ./soundfonts/*.sf2 beats the system fonts
    local = tmp_path / "soundfonts"
    local.mkdir()
    (local / "b.sf2").write_bytes(b"x")
    (local / "a.sf2").write_bytes(b"x")
    assert find_soundfont() == (local / "a.sf2").resolve()
    # the environment beats ./soundfonts, the argument beats the environment
    monkeypatch.setenv("AURALIS_SOUNDFONT", str(local / "b.sf2"))
    assert find_soundfont() == (local / "b.sf2").resolve()
    assert find_soundfont(soundfont_path) == soundfont_path.resolve()


def test_configured_missing_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AURALIS_SOUNDFONT", raising=False)
    with pytest.raises(SoundFontError, match=r"gone\.sf2 \(configured\) not found"):
        find_soundfont(tmp_path / "gone.sf2")
    monkeypatch.setenv("AURALIS_SOUNDFONT", str(tmp_path / "env.sf2"))
    with pytest.raises(SoundFontError, match=r"env\.sf2 \(AURALIS_SOUNDFONT\) not found"):
        find_soundfont()


def test_nothing_found_lists_places_and_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import auralis.audio.soundfont as sf

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AURALIS_SOUNDFONT", raising=False)
    monkeypatch.setattr(sf, "SYSTEM_SOUNDFONTS", (tmp_path / "none.sf2",))
    with pytest.raises(SoundFontError) as err:
        find_soundfont()
    msg = str(err.value)
    assert "soundfonts/*.sf2" in msg and "none.sf2" in msg and "install" in msg.lower()
