"""The mix: per-voice gains and the slow loudness ride.

**Voice gains.** Each voice (MIDI channel) has a linear gain set through its channel volume
(CC 7). FluidSynth's default CC 7 modulator follows the General MIDI curve
``gain_dB = 40 log10(v / 127)``, so a linear gain ``g`` is ``v = 127 sqrt(g)``: piano 0.5 is
CC 7 = 90, pad 0.4 is 80, the low drone 0.3 is 70.

**Loudness target: -20 LUFS integrated** (ITU-R BS.1770 / EBU R128 measure). -20 leaves
ambient music room for swells under the -1 dBTP ceiling without the limiter working hard
(peak-to-loudness ratio up to 19 dB), and sits close to where quiet "background" listening
services aim. A loudness ride keeps every preset near it:

- the programme is K-weighted (BS.1770 pre-filter and RLB high-pass, stateful biquads);
- its mean square is averaged in the power domain with a 12 s exponential time constant
  (a running mean during the first 12 s), skipping blocks under the -70 LUFS absolute gate and
  blocks more than 10 LU under the average (BS.1770's relative gate); like BS.1770 it measures
  400 ms blocks overlapping by 75% (the last four 100 ms chunks), so the rests of sparse music do
  not pull the level up and short plucks do not push it down: what is ridden is the loudness a
  meter reports (integrated, gated), as the target is stated;
- the gain needed to bring that average to the target is applied feed-forward (no feedback
  loop, so no oscillation), clamped to +-10 dB, and moved at most 1 dB per second with a
  per-sample linear ramp: no steps and no pumping, while a whole preset's level settles within
  seconds;
- a 12 s average at the target is not yet a programme a meter reads at the target. Where the
  music's loudness ranges widely (meditation: LRA 16 LU, long quiet stretches the ride lifts,
  then louder entries it takes seconds to bring down) the integrated loudness of the ride's output
  came out 1 LU loud (-18.96 LUFS over 10 minutes). So a meter (auralis.audio.meter: BS.1770
  gating over the last 10 minutes) reads the ride's own output, and the difference between the
  target and that reading is applied on top, feed-forward too (the meter reads the output before
  this correction, so it is no loop): from 30 s of gated audio on, within +-3 dB, moving at most
  0.05 dB per second (1 dB in 20 s: inaudible). Every preset and palette then measures within
  +-0.6 LU of the target over 10 minutes (docs/music.md).
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
from scipy.signal import sosfilt

from auralis.audio.meter import SlidingLoudnessMeter, lufs

LOUDNESS_TARGET_LUFS = -20.0
GATE_BLOCK_S = 0.4  # BS.1770's gating block
#: The meter on the ride's output: its window, the most it corrects, how fast, and after how much
#: gated audio it starts (see the module docstring).
METER_WINDOW_S = 600.0
MAX_CORRECTION_DB = 3.0
CORRECTION_SLEW_DB_PER_S = 0.05
CORRECTION_AFTER_S = 30.0


def cc7_for_gain(gain: float) -> int:
    """Channel volume (CC 7) giving a linear gain under FluidSynth's GM volume curve."""
    if not 0.0 <= gain <= 1.0:
        raise ValueError(f"voice gain must be within 0..1, got {gain!r}")
    return int(round(127 * math.sqrt(gain)))


def k_weighting_sos(sample_rate: int) -> np.ndarray:
    """Second-order sections of the BS.1770 K-weighting filter at ``sample_rate``."""

    def high_shelf(gain_db: float, q: float, fc: float) -> list[float]:
        a = 10 ** (gain_db / 40)
        w0 = 2 * math.pi * fc / sample_rate
        alpha = math.sin(w0) / (2 * q)
        cw, sa = math.cos(w0), 2 * math.sqrt(a) * alpha
        b = [a * ((a + 1) + (a - 1) * cw + sa), -2 * a * ((a - 1) + (a + 1) * cw),
             a * ((a + 1) + (a - 1) * cw - sa)]
        den = [(a + 1) - (a - 1) * cw + sa, 2 * ((a - 1) - (a + 1) * cw),
               (a + 1) - (a - 1) * cw - sa]
        return [v / den[0] for v in b] + [v / den[0] for v in den]

    def high_pass(q: float, fc: float) -> list[float]:
        w0 = 2 * math.pi * fc / sample_rate
        alpha = math.sin(w0) / (2 * q)
        cw = math.cos(w0)
        b = [(1 + cw) / 2, -(1 + cw), (1 + cw) / 2]
        den = [1 + alpha, -2 * cw, 1 - alpha]
        return [v / den[0] for v in b] + [v / den[0] for v in den]

    return np.array([high_shelf(4.0, 1 / math.sqrt(2), 1500.0), high_pass(0.5, 38.0)])


class LoudnessRider:
    """Slow feed-forward gain toward a loudness target (see the module docstring)."""

    def __init__(
        self,
        sample_rate: int = 44100,
        *,
        target_lufs: float = LOUDNESS_TARGET_LUFS,
        time_constant_s: float = 12.0,
        max_gain_db: float = 10.0,
        slew_db_per_s: float = 1.0,
        channels: int = 2,
        meter_window_s: float = METER_WINDOW_S,
        max_correction_db: float = MAX_CORRECTION_DB,
        correction_slew_db_per_s: float = CORRECTION_SLEW_DB_PER_S,
        correction_after_s: float = CORRECTION_AFTER_S,
    ) -> None:
        self.sample_rate = sample_rate
        self.target_lufs = target_lufs
        self.time_constant_s = time_constant_s
        self.max_gain_db = max_gain_db
        self.slew_db_per_s = slew_db_per_s
        self._sos = k_weighting_sos(sample_rate)
        self._zi = np.zeros((self._sos.shape[0], 2, channels))
        self._power: float | None = None  # averaged K-weighted mean square (pre-gain)
        self._power_all: float | None = None  # the same over every block above -70 LUFS
        self._elapsed_all = 0.0
        self._recent: deque[tuple[float, float]] = deque()  # (mean square, seconds), last 400 ms
        self._elapsed = 0.0
        self.gain_db = 0.0  # the ride's gain at the end of the last block (without the correction)
        # the meter on the ride's output, and the correction it leads to
        self._meter = SlidingLoudnessMeter(sample_rate, window_s=meter_window_s)
        self.max_correction_db = max_correction_db
        self.correction_slew_db_per_s = correction_slew_db_per_s
        self.correction_after_s = correction_after_s
        self._correction_want = 0.0
        self._blocks_unread = 0
        self.correction_db = 0.0  # at the end of the last block

    @property
    def total_gain_db(self) -> float:
        """The gain applied at the end of the last block: the ride's and the correction."""
        return self.gain_db + self.correction_db

    @property
    def output_lufs(self) -> float | None:
        """What a meter reads over the window on the ride's output (before the correction)."""
        return self._meter.integrated()

    @property
    def loudness_lufs(self) -> float | None:
        """The averaged loudness of the input (before the ride), or None before any audio."""
        if not self._power:
            return None
        return lufs(self._power)

    def process(self, x: np.ndarray) -> np.ndarray:
        """Apply the ride to one block of shape (frames, channels); returns float64."""
        x = np.asarray(x, dtype=np.float64)
        n = x.shape[0]
        if n == 0:
            return x.copy()
        dur = n / self.sample_rate
        kw, self._zi = sosfilt(self._sos, x, axis=0, zi=self._zi)
        # K-weighted, channels summed: a column at a time (the same sums as np.sum(kw * kw,
        # axis=1), a tenth of its time: a reduction along a 2-wide axis is slow in NumPy)
        power = kw[:, 0] * kw[:, 0]
        for c in range(1, kw.shape[1]):
            power += kw[:, c] * kw[:, c]
        self._recent.append((float(power.mean()), dur))
        while sum(d for _, d in self._recent) - self._recent[0][1] >= GATE_BLOCK_S - 1e-9:
            self._recent.popleft()
        ms = sum(m * d for m, d in self._recent) / sum(d for _, d in self._recent)
        block = lufs(ms)
        if block > -70.0:  # the absolute gate; the relative one is 10 LU under what passes it
            self._elapsed_all += dur
            alpha = max(dur / self._elapsed_all, 1.0 - math.exp(-dur / self.time_constant_s))
            self._power_all = ms if self._power_all is None else self._power_all + alpha * (ms - self._power_all)
            if block > lufs(self._power_all) - 10.0:
                self._elapsed += dur
                alpha = max(dur / self._elapsed, 1.0 - math.exp(-dur / self.time_constant_s))
                self._power = ms if self._power is None else self._power + alpha * (ms - self._power)
        start = self.gain_db
        if self._power:
            want = self.target_lufs - self.loudness_lufs  # type: ignore[operator]
            want = min(max(want, -self.max_gain_db), self.max_gain_db)
            step = self.slew_db_per_s * dur
            self.gain_db = start + min(max(want - start, -step), step)
        # the meter reads the ride's output (K-weighted power times the ride's gain squared)
        if start == self.gain_db:
            power *= 10 ** (start / 10)
        else:
            power *= 10 ** (np.linspace(start, self.gain_db, n + 1)[1:] / 10)
        self._blocks_unread += self._meter.feed(power)
        if self._blocks_unread >= 10:  # read the meter once a second
            self._blocks_unread = 0
            read = self._meter.integrated()
            if read is not None and self._meter.gated_seconds() >= self.correction_after_s:
                want = self.target_lufs - read
                self._correction_want = min(max(want, -self.max_correction_db), self.max_correction_db)
        c0 = self.correction_db
        step = self.correction_slew_db_per_s * dur
        self.correction_db = c0 + min(max(self._correction_want - c0, -step), step)
        g0, g1 = start + c0, self.gain_db + self.correction_db
        if g0 == g1:
            return x * (10 ** (g0 / 20))
        ramp = 10 ** (np.linspace(g0, g1, n + 1)[1:] / 20)
        return x * ramp[:, None]
