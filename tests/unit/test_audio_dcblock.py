"""The DC blocker: removes an offset, passes the music band, independent of block cuts."""

from __future__ import annotations

import numpy as np

from auralis.audio.dcblock import DcBlocker

SR = 44100


def test_removes_an_offset_and_passes_low_notes() -> None:
    t = np.arange(4 * SR) / SR
    tone = 0.3 * np.sin(2 * np.pi * 40.0 * t)  # about E1, the low end of a bass line
    x = np.stack([tone + 0.06, tone - 0.02], axis=1)
    y = DcBlocker(SR).process(x)
    tail = y[2 * SR :]  # after the filter has settled
    assert np.abs(tail.mean(axis=0)).max() < 1e-4
    gain_db = 20 * np.log10(np.sqrt((tail**2).mean()) / np.sqrt((tone[2 * SR :] ** 2).mean()))
    assert -0.6 < gain_db < 0.1


def test_same_output_however_the_blocks_are_cut() -> None:
    x = np.random.default_rng(3).standard_normal((20_000, 2)) + 0.1
    whole = DcBlocker(SR).process(x)
    d = DcBlocker(SR)
    parts = np.concatenate([d.process(x[a:b]) for a, b in ((0, 1), (1, 4411), (4411, 4411),
                                                          (4411, 20_000))])
    assert np.allclose(whole, parts, atol=1e-12)
