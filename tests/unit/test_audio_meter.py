"""The sliding integrated-loudness meter against pyloudnorm (BS.1770), on synthetic signals."""

from __future__ import annotations

import numpy as np
import pyloudnorm
import pytest
from scipy.signal import sosfilt

from auralis.audio.meter import SlidingLoudnessMeter
from auralis.audio.mixer import k_weighting_sos

SR = 44100


def k_power(x: np.ndarray) -> np.ndarray:
    kw = sosfilt(k_weighting_sos(SR), x, axis=0)
    return np.sum(kw * kw, axis=1)


def levels(seconds_and_rms: list[tuple[float, float]], seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(0, rms, (int(s * SR), 2)) for s, rms in seconds_and_rms])


def test_reads_what_bs1770_reads_with_both_gates() -> None:
    # loud, moderate, a quiet stretch under the relative gate, and silence under the absolute one
    x = levels([(20, 0.05), (20, 0.02), (20, 0.002), (10, 0.0)])
    m = SlidingLoudnessMeter(SR, window_s=600)
    assert m.integrated() is None
    m.feed(k_power(x))
    want = pyloudnorm.Meter(SR).integrated_loudness(x)
    assert m.integrated() == pytest.approx(want, abs=0.05)
    assert m.gated_seconds() == pytest.approx(60, abs=0.5)  # the silence is not counted


def test_the_reading_does_not_depend_on_how_the_power_is_cut() -> None:
    p = k_power(levels([(6, 0.03), (6, 0.01)]))
    a, b = SlidingLoudnessMeter(SR), SlidingLoudnessMeter(SR)
    a.feed(p)
    for i in range(0, len(p), 313):
        b.feed(p[i : i + 313])
    assert a.integrated() == pytest.approx(b.integrated(), abs=1e-9)


def test_the_window_forgets_what_is_older() -> None:
    loud, quiet = levels([(30, 0.05)]), levels([(20, 0.01)], seed=2)
    m = SlidingLoudnessMeter(SR, window_s=10)
    m.feed(k_power(np.concatenate([loud, quiet])))
    assert m.integrated() == pytest.approx(pyloudnorm.Meter(SR).integrated_loudness(quiet[-10 * SR :]), abs=0.1)
