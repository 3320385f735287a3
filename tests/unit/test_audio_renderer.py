"""The renderer with real FluidSynth and FluidR3: level, peak, timing, determinism, lifecycle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.signal import resample_poly

from auralis.audio import fluid
from auralis.audio.dither import TpdfDither
from auralis.audio.renderer import RenderConfig, Renderer, to_pcm16
from auralis.music.composer import Composer
from auralis.music.events import Event
from auralis.music.params import MusicParams

SR = 44100
BLOCK = 4410


def true_peak_dbfs(x: np.ndarray) -> float:
    """BS.1770-style true peak: 4x oversampled absolute maximum."""
    return float(20 * np.log10(np.abs(resample_poly(x, 4, 1, axis=0)).max()))


def render_piece(sf: Path, seconds: float, params: MusicParams, seed: int, config=RenderConfig()):
    composer = Composer(params=params, seed=seed)
    with Renderer(sf, config) as r:
        blocks = [
            r.render(composer.events_until((k + 1) * BLOCK / SR), BLOCK)
            for k in range(int(seconds * 10))
        ]
    return np.concatenate(blocks)


@pytest.fixture(scope="module")
def focus_40s(soundfont_path: Path) -> np.ndarray:
    return render_piece(soundfont_path, 40, MusicParams().with_preset("focus"), seed=7)


def test_output_shape_and_range(focus_40s: np.ndarray) -> None:
    assert focus_40s.dtype == np.float32 and focus_40s.shape == (40 * SR, 2)
    assert np.abs(focus_40s).max() <= 1.0


def test_level_non_silent_every_second(focus_40s: np.ndarray) -> None:
    # after the first notes start (the first second may begin with a soft attack)
    seconds = focus_40s[SR:].reshape(-1, SR, 2)
    rms_db = 20 * np.log10(np.sqrt((seconds**2).mean(axis=(1, 2))))
    assert rms_db.min() > -50, rms_db.round(1)
    assert rms_db.max() < -10, rms_db.round(1)


def test_true_peak_bound_normal_and_forced(soundfont_path: Path, focus_40s: np.ndarray) -> None:
    assert true_peak_dbfs(focus_40s) <= -1.0
    # far too hot and no loudness ride: the limiter alone must hold the ceiling
    hot = RenderConfig(synth_gain=10.0, loudness_ride=False)
    y = render_piece(soundfont_path, 15, MusicParams(palette="garden"), seed=2, config=hot)  # kalimba peaks
    assert 20 * np.log10(np.abs(y).max()) > -3.0  # it really is pushed into the limiter
    assert true_peak_dbfs(y) <= -1.0
    q = np.frombuffer(to_pcm16(y, TpdfDither(2)), dtype="<i2").reshape(-1, 2) / 32767.0
    assert true_peak_dbfs(q) <= -1.0


def _onset(x: np.ndarray, threshold: float = 1e-4) -> int:
    return int(np.argmax(np.abs(x).max(axis=1) > threshold))


def test_sample_accurate_note_timing(soundfont_path: Path) -> None:
    """A note at frame f sounds within FluidSynth's 64-frame granularity of f, however the
    block is cut, and the raw synth output does not depend on the block size."""
    starts = [1000, 2345, 3333]
    events = [Event(f / SR, "note_on", 0, 60 + i, 100) for i, f in enumerate(starts)]
    outs = {}
    for block in (4410, 1000, 64 * 7):
        with Renderer(soundfont_path) as r:
            chunks = []
            done = 0
            while done < 8820:
                n = min(block, 8820 - done)
                evs = [e for e in events if done <= round(e.time * SR) < done + n]
                chunks.append(r.render_raw(evs, n))
                done += n
            outs[block] = np.concatenate(chunks)
    assert np.array_equal(outs[4410], outs[1000]) and np.array_equal(outs[4410], outs[448])
    # each note alone: its onset moves with its frame, to FluidSynth's 64-frame grid
    def onset(frame: int) -> int:
        with Renderer(soundfont_path) as r:
            return _onset(r.render_raw([Event(frame / SR, "note_on", 0, 60, 110)], BLOCK))

    attack = onset(0)  # the instrument's own attack time
    for f in starts:
        start = onset(f) - attack
        assert f <= start < f + 64, (f, start)


def test_notes_ring_over_block_boundaries(soundfont_path: Path) -> None:
    with Renderer(soundfont_path) as r:
        a = r.render([Event(0.05, "note_on", 1, 60, 100)], BLOCK)
        b = r.render([], BLOCK)  # no events: the pad keeps sounding
        c = r.render([Event(0.2, "note_off", 1, 60)], BLOCK)
    assert np.sqrt((b**2).mean()) > 1e-3
    jump = np.abs(b[0] - a[-1]).max()
    inside = np.abs(np.diff(b, axis=0)).max()
    assert jump <= inside
    assert np.abs(c).max() > 0


def test_same_events_same_bytes(soundfont_path: Path) -> None:
    p = MusicParams().with_preset("meditation")
    a = render_piece(soundfont_path, 5, p, seed=11)
    b = render_piece(soundfont_path, 5, p, seed=11)
    c = render_piece(soundfont_path, 5, p, seed=12)
    assert to_pcm16(a, TpdfDither(11)) == to_pcm16(b, TpdfDither(11))
    assert to_pcm16(a, TpdfDither(12)) != to_pcm16(c, TpdfDither(11))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_invalid_event_rejected(soundfont_path: Path) -> None:
    with Renderer(soundfont_path) as r, pytest.raises(ValueError, match="MIDI range"):
        r.render([Event(0.0, "note_on", 0, 200, 100)], BLOCK)


def test_polyphony_must_be_at_least_32() -> None:
    with pytest.raises(ValueError, match="polyphony"):
        RenderConfig(polyphony=16)


def test_close_deletes_synth_exactly_once(
    soundfont_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lib = fluid.library()
    deleted: list[int] = []
    real = lib.delete_synth
    monkeypatch.setattr(lib, "delete_synth", lambda s: (deleted.append(s), real(s))[1])
    r = Renderer(soundfont_path)
    r.render([Event(0.0, "note_on", 0, 60, 90)], BLOCK)
    r.close()
    r.close()
    r.__del__()
    assert len(deleted) == 1 and r.closed
    with pytest.raises(RuntimeError, match="closed"):
        r.render([], BLOCK)
    # garbage collection of an unclosed renderer deletes its synth once too
    r2 = Renderer(soundfont_path)
    del r2
    import gc

    gc.collect()
    assert len(deleted) == 2  # (malloc may reuse an address, so count, not compare)
