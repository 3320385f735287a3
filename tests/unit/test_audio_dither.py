"""TPDF dither: its distribution, its effect on quiet signals, and its determinism."""

from __future__ import annotations

import numpy as np
import pytest

from auralis.audio.dither import TpdfDither
from auralis.audio.renderer import to_pcm16


def test_noise_is_triangular_within_one_lsb() -> None:
    n = TpdfDither(5).noise(200_000)
    assert n.shape == (200_000, 2)
    assert np.abs(n).max() < 1.0
    assert abs(n.mean()) < 0.01
    assert n.var() == pytest.approx(1 / 6, rel=0.02)  # TPDF of +-1 LSB: variance 1/6 LSB^2
    # triangular: density falls linearly to the edges
    hist, _ = np.histogram(n, bins=4, range=(-1, 1))
    assert hist[1] > 2.5 * hist[0] and hist[2] > 2.5 * hist[3]
    # the two channels are independent
    assert abs(np.corrcoef(n[:, 0], n[:, 1])[0, 1]) < 0.01


def test_same_seed_same_noise_however_the_blocks_are_cut() -> None:
    whole = TpdfDither(42).noise(10_000)
    d = TpdfDither(42)
    parts = np.concatenate([d.noise(k) for k in (1, 4410, 3, 5586)])
    assert np.array_equal(whole, parts)
    assert not np.array_equal(whole, TpdfDither(43).noise(10_000))
    assert not np.array_equal(TpdfDither(-1).noise(8), TpdfDither(2**64 - 1).noise(8))


def test_rejects_a_non_integer_seed() -> None:
    for bad in (1.5, "3", True, None):
        with pytest.raises(ValueError, match="seed"):
            TpdfDither(bad)  # type: ignore[arg-type]


def test_dither_linearises_a_tone_below_one_lsb() -> None:
    """A sine of 0.4 LSB rounds to digital silence without dither; with dither it survives in
    the average (the error is noise, not distortion)."""
    sr, f = 44100, 1000.0
    t = np.arange(sr * 2) / sr
    tone = 0.4 / 32767 * np.sin(2 * np.pi * f * t)
    x = np.stack([tone, tone], axis=1)
    plain = np.frombuffer(to_pcm16(x, None), dtype="<i2")
    assert not plain.any()
    q = np.frombuffer(to_pcm16(x, TpdfDither(1)), dtype="<i2").reshape(-1, 2)[:, 0] / 32767
    spec = np.abs(np.fft.rfft(q * np.hanning(len(q))))
    k = int(round(f * len(q) / sr))
    assert spec[k] > 20 * np.median(spec)  # the tone stands out of the noise floor
    # 3rd harmonic: not above the noise (no truncation distortion)
    assert spec[3 * k] < 5 * np.median(spec)


def test_pcm16_bytes_deterministic_and_clipped() -> None:
    x = np.array([[0.0, 0.5], [1.0, -1.0], [2.0, -2.0]])
    a, b = to_pcm16(x, TpdfDither(9)), to_pcm16(x, TpdfDither(9))
    assert a == b and len(a) == 12
    v = np.frombuffer(a, dtype="<i2").reshape(-1, 2)
    assert v[2, 0] == 32767 and v[2, 1] == -32768
    assert abs(int(v[0, 1]) - 16384) <= 1
