"""TPDF dither for the float -> 16-bit conversion, seeded so renders stay reproducible.

Rounding float audio straight to 16 bits makes the rounding error follow the signal: quiet
reverb tails and fades turn into correlated distortion. Adding triangular (TPDF) noise of
+-1 LSB before rounding (the difference of two independent uniform variables of 1 LSB each)
makes the error signal-independent white noise (digital silence comes out at -96.3 dBFS RMS,
measured on 10 s).

The noise comes from a PCG64 generator seeded from the stream's or render's seed, and it is
drawn as one flat sequence of doubles (four per stereo frame), so the same seed gives the
same bytes however the signal is cut into blocks: a stream's chunks and an offline render with
the same seed and parameters stay byte-identical.
"""

from __future__ import annotations

import numpy as np

_SALT = 0xD17E5  # decorrelates the dither stream from the composer's RNG with the same seed
_MASK = (1 << 64) - 1


class TpdfDither:
    """A deterministic source of TPDF dither in LSB units, continuous over blocks."""

    def __init__(self, seed: int) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"dither seed must be an integer, got {seed!r}")
        words = [_SALT, seed & _MASK, (seed >> 64) & _MASK, 1 if seed < 0 else 0]
        self._rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(words)))

    def noise(self, frames: int, channels: int = 2) -> np.ndarray:
        """The next ``frames`` x ``channels`` values of TPDF noise within (-1, 1) LSB."""
        u = self._rng.random(frames * channels * 2).reshape(frames, channels, 2)
        return u[..., 0] - u[..., 1]

    def skip(self, frames: int, channels: int = 2) -> None:
        """Move on as if ``noise(frames, channels)`` had been drawn (without drawing it), so a
        render that starts in the middle of a piece dithers as the whole piece would."""
        if frames < 0:
            raise ValueError(f"frames must be >= 0, got {frames}")
        self._rng.bit_generator.advance(frames * channels * 2)  # one 64-bit draw per double
