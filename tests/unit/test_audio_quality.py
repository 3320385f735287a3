"""Audio quality as a listener hears it (issue 13): every preset rendered offline with real
FluidSynth, FluidR3 and the default mix, measured for stereo image, mono compatibility, DC,
true peak and loudness."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
from scipy.signal import resample_poly

from auralis.audio.mixer import LOUDNESS_TARGET_LUFS
from auralis.audio.offline import render_offline
from auralis.audio.stereo import correlation
from auralis.music.params import PRESETS, MusicParams

SR = 44100
MINUTES = 1.25  # 75 s: long enough for the ride to settle, short enough for CI


@pytest.fixture(scope="module", params=list(PRESETS))
def preset_render(
    request: pytest.FixtureRequest, soundfont_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> np.ndarray:
    wav = tmp_path_factory.mktemp("quality") / f"{request.param}.wav"
    render_offline(wav, minutes=MINUTES, seed=13, params=MusicParams().with_preset(request.param),
                   soundfont=soundfont_path, progress=False)
    with wave.open(str(wav), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (2, 2, SR)
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2) / 32768.0


def test_stereo_image_in_phase(preset_render: np.ndarray) -> None:
    assert correlation(preset_render) >= 0.2


def test_mono_downmix_keeps_the_loudness(preset_render: np.ndarray) -> None:
    """(L+R)/2 played on both channels (a mono speaker) within 3 LU of the stereo signal."""
    meter = pyloudnorm.Meter(SR)
    mid = preset_render.mean(axis=1)
    stereo = meter.integrated_loudness(preset_render)
    mono = meter.integrated_loudness(np.stack([mid, mid], axis=1))
    assert abs(mono - stereo) <= 3.0, (mono, stereo)


def test_no_dc_and_no_silent_channel(preset_render: np.ndarray) -> None:
    assert np.abs(preset_render.mean(axis=0)).max() < 1e-4
    rms_db = 10 * np.log10((preset_render**2).mean(axis=0))
    assert rms_db.min() > -40.0, rms_db  # both channels carry the music
    assert abs(rms_db[0] - rms_db[1]) < 3.0, rms_db


def test_true_peak_and_loudness(preset_render: np.ndarray) -> None:
    tp = 20 * np.log10(np.abs(resample_poly(preset_render, 4, 1, axis=0)).max())
    assert tp <= -1.0
    lufs = pyloudnorm.Meter(SR).integrated_loudness(preset_render)
    assert abs(lufs - LOUDNESS_TARGET_LUFS) <= 2.0, lufs
