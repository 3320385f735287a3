"""The true-peak limiter and the loudness ride on synthetic signals."""

from __future__ import annotations

import numpy as np
import pyloudnorm
from scipy.signal import resample_poly

from auralis.audio.limiter import TruePeakLimiter
from auralis.audio.mixer import LoudnessRider, cc7_for_gain

SR = 44100


def run(proc, x: np.ndarray, block: int = 4410) -> np.ndarray:
    return np.concatenate([proc.process(x[i : i + block]) for i in range(0, len(x), block)])


def test_ceiling_on_intersample_peaks_and_bursts() -> None:
    rng = np.random.default_rng(0)
    n = SR * 3
    t = np.arange(n) / SR
    x = 0.2 * np.stack([np.sin(2 * np.pi * 220 * t), np.sin(2 * np.pi * 330 * t)], axis=1)
    x[40000:44000] *= 6  # +15 dB burst
    # a tone at fs/4 sampled off its peaks: sample peak 1.2, true peak 1.7 (+3 dB)
    k = np.arange(3000)
    x[80000:83000, 0] = 1.2 * np.sqrt(2) * np.sin(np.pi * k / 2 + np.pi / 4)
    x[100000:100050] = rng.uniform(-1.5, 1.5, (50, 2))
    y = run(TruePeakLimiter(), x)
    assert 20 * np.log10(np.abs(resample_poly(y, 4, 1, axis=0)).max()) <= -1.0


def test_transparent_when_quiet_and_delayed_exactly() -> None:
    x = np.random.default_rng(1).uniform(-0.3, 0.3, (SR, 2))
    lim = TruePeakLimiter()
    y = run(lim, x)
    assert np.array_equal(y[lim.latency :], x[: SR - lim.latency])
    assert lim.max_reduction_db == 0.0


def test_gain_is_smooth_and_recovers() -> None:
    """No steps in the gain (no clicks), and it releases after a peak (no stuck ducking)."""
    n = SR * 2
    x = np.full((n, 2), 0.25)
    x[SR // 2 : SR // 2 + 100] = 2.0
    lim = TruePeakLimiter()
    y = run(lim, x, block=777)
    gain = y[lim.latency :, 0] / x[: n - lim.latency, 0]
    assert np.abs(np.diff(gain)).max() < 0.05  # smooth attack: spread over the look-ahead
    assert gain.min() < 0.5
    assert np.allclose(gain[-SR // 2 :], 1.0)  # released
    assert lim.max_reduction_db > 6


def test_block_size_does_not_change_output() -> None:
    x = np.random.default_rng(2).uniform(-1.5, 1.5, (SR, 2))
    a = run(TruePeakLimiter(), x, 4410)
    b = run(TruePeakLimiter(), x, 313)
    assert np.allclose(a, b, atol=1e-9)


def test_cc7_follows_gm_volume_curve() -> None:
    assert [cc7_for_gain(g) for g in (0.5, 0.4, 0.3, 1.0)] == [90, 80, 70, 127]


def test_ride_is_slow_smooth_and_reaches_target() -> None:
    """A programme 8 dB too quiet is brought to the target within a minute, at <= 1 dB/s."""
    rng = np.random.default_rng(3)
    rider = LoudnessRider(SR, target_lufs=-20.0)
    gains = []
    for _ in range(600):  # 60 s of pink-ish noise
        block = rng.normal(0, 0.02, (4410, 2))
        rider.process(block)
        gains.append(rider.gain_db)
    steps = np.abs(np.diff(gains))
    assert steps.max() <= 0.1 + 1e-9  # 1 dB/s at 10 blocks/s
    assert abs(rider.loudness_lufs + rider.gain_db + 20.0) < 0.5


def test_ride_holds_what_a_meter_reads_of_a_programme_with_long_quiet_stretches() -> None:
    """40 s quiet (about -51 LUFS) and 10 s loud (about -27 LUFS), for 10 minutes: the ride
    lifts each quiet stretch and takes seconds to bring each loud entry down, so BS.1770's
    integrated loudness of its output (pyloudnorm) is 2.7 LU over the target without the meter's
    correction; with it, within 0.6 LU. Still no step: at most 1.05 dB a second. (8 kHz keeps the
    10 minutes small; the ride works in seconds, whatever the rate.)"""
    sr = 8000
    n = 600 * sr
    t = np.arange(n) / sr
    x = np.random.default_rng(5).normal(0, 1, (n, 2)).astype(np.float32)
    x *= np.where(t % 50 < 40, 0.002, 0.03).astype(np.float32)[:, None]
    read = []
    for kw in ({"max_correction_db": 0.0}, {}):
        rider = LoudnessRider(sr, target_lufs=-20.0, **kw)
        out, gains = [], []
        for i in range(0, n, sr // 10):
            out.append(rider.process(x[i : i + sr // 10]).astype(np.float32))
            gains.append(rider.total_gain_db)
        read.append(pyloudnorm.Meter(sr).integrated_loudness(np.concatenate(out).astype(np.float64)))
        assert np.abs(np.diff(gains)).max() <= 0.105 + 1e-9
    uncorrected, corrected = read
    assert uncorrected > -18.0  # what the 12 s ride alone gives
    assert abs(corrected + 20.0) < 0.6
    assert rider.correction_db < -1.5
