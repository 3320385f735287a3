"""A sliding-window integrated loudness meter (ITU-R BS.1770 gating) over K-weighted power.

It is fed the K-weighted power of a signal sample by sample (summed over channels, as BS.1770
sums the channels' mean squares) and reads what a meter would report as the integrated loudness
of the last ``window_s`` seconds: 400 ms blocks every 100 ms (75% overlap), blocks under the
-70 LUFS absolute gate dropped, then those more than 10 LU under the mean of the rest.
The loudness ride (auralis.audio.mixer) uses it on its own output to hold the level a meter
reads over minutes, not only its 12 s average.
"""

from __future__ import annotations

import math

import numpy as np

ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0
_HOPS_PER_BLOCK = 4  # a 400 ms block of 100 ms hops


def lufs(mean_square: float) -> float:
    """Loudness of a K-weighted mean square (channels summed): -0.691 + 10 log10(ms)."""
    return -0.691 + 10 * math.log10(mean_square) if mean_square > 0 else -math.inf


class SlidingLoudnessMeter:
    """Integrated loudness of the last ``window_s`` seconds (see the module docstring)."""

    def __init__(self, sample_rate: int = 44100, *, window_s: float = 600.0) -> None:
        if window_s < 1.0:
            raise ValueError(f"window_s must be at least 1 s, got {window_s!r}")
        self.hop = sample_rate // 10
        self._blocks = np.zeros(max(1, int(round(window_s * 10))))  # block mean squares, a ring
        self._count = 0  # blocks in the ring
        self._next = 0  # where the next block goes
        self._hops = np.zeros(_HOPS_PER_BLOCK)  # the last hops' mean squares, a ring
        self._hops_seen = 0
        self._acc = 0.0  # power summed over the current hop so far
        self._acc_frames = 0
        self._abs_gate = 10 ** ((ABSOLUTE_GATE_LUFS + 0.691) / 10)

    def feed(self, power: np.ndarray) -> int:
        """Add per-sample K-weighted power (channels summed); returns the blocks completed."""
        done = 0
        i, n = 0, len(power)
        while i < n:
            take = min(self.hop - self._acc_frames, n - i)
            self._acc += float(power[i : i + take].sum())
            self._acc_frames += take
            i += take
            if self._acc_frames == self.hop:
                self._hops[self._hops_seen % _HOPS_PER_BLOCK] = self._acc / self.hop
                self._hops_seen += 1
                self._acc, self._acc_frames = 0.0, 0
                if self._hops_seen >= _HOPS_PER_BLOCK:
                    self._blocks[self._next] = self._hops.mean()
                    self._next = (self._next + 1) % len(self._blocks)
                    self._count = min(self._count + 1, len(self._blocks))
                    done += 1
        return done

    def gated_seconds(self) -> float:
        """Seconds of blocks passing the absolute gate in the window (100 ms a block)."""
        return 0.1 * int(np.count_nonzero(self._blocks[: self._count] > self._abs_gate))

    def integrated(self) -> float | None:
        """The gated integrated loudness of the window in LUFS, None before any block passes."""
        v = self._blocks[: self._count]
        v = v[v > self._abs_gate]
        if v.size == 0:
            return None
        v = v[v > v.mean() * 10 ** (RELATIVE_GATE_LU / 10)]
        return lufs(float(v.mean()))
