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
  seconds.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
from scipy.signal import sosfilt

LOUDNESS_TARGET_LUFS = -20.0
GATE_BLOCK_S = 0.4  # BS.1770's gating block


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
        self.gain_db = 0.0  # gain applied at the end of the last block

    @property
    def loudness_lufs(self) -> float | None:
        """The averaged loudness of the input (before the ride), or None before any audio."""
        if not self._power:
            return None
        return -0.691 + 10 * math.log10(self._power)

    def process(self, x: np.ndarray) -> np.ndarray:
        """Apply the ride to one block of shape (frames, channels); returns float64."""
        x = np.asarray(x, dtype=np.float64)
        n = x.shape[0]
        if n == 0:
            return x.copy()
        dur = n / self.sample_rate
        kw, self._zi = sosfilt(self._sos, x, axis=0, zi=self._zi)
        self._recent.append((float(np.mean(np.sum(kw * kw, axis=1))), dur))
        while sum(d for _, d in self._recent) - self._recent[0][1] >= GATE_BLOCK_S - 1e-9:
            self._recent.popleft()
        ms = sum(m * d for m, d in self._recent) / sum(d for _, d in self._recent)
        block = -0.691 + 10 * math.log10(ms) if ms > 0 else -math.inf
        if block > -70.0:  # the absolute gate; the relative one is 10 LU under what passes it
            self._elapsed_all += dur
            alpha = max(dur / self._elapsed_all, 1.0 - math.exp(-dur / self.time_constant_s))
            self._power_all = ms if self._power_all is None else self._power_all + alpha * (ms - self._power_all)
            if block > -0.691 + 10 * math.log10(self._power_all) - 10.0:
                self._elapsed += dur
                alpha = max(dur / self._elapsed, 1.0 - math.exp(-dur / self.time_constant_s))
                self._power = ms if self._power is None else self._power + alpha * (ms - self._power)
        start = self.gain_db
        if self._power:
            want = self.target_lufs - self.loudness_lufs  # type: ignore[operator]
            want = min(max(want, -self.max_gain_db), self.max_gain_db)
            step = self.slew_db_per_s * dur
            self.gain_db = start + min(max(want - start, -step), step)
        if start == self.gain_db:
            return x * (10 ** (start / 20))
        ramp = 10 ** (np.linspace(start, self.gain_db, n + 1)[1:] / 20)
        return x * ramp[:, None]
