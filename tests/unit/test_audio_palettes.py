"""Palettes in the audio (issue 12), real FluidSynth and FluidR3: per-voice outputs, voices placed
in the stereo image, every palette in phase and at the loudness target, palette changes, and a
SoundFont lacking a program."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
from scipy.signal import resample_poly

from auralis.audio.fluid import FluidSynth
from auralis.audio.mixer import LOUDNESS_TARGET_LUFS
from auralis.audio.renderer import RenderConfig, Renderer
from auralis.audio.soundfont import SoundFontError, missing_by_palette
from auralis.audio.stereo import check_stereo_image, correlation
from auralis.audio.voicemix import AUDIO_GROUPS, Voice, VoiceMix, placement, voices_for
from auralis.music.composer import Composer
from auralis.music.events import Event
from auralis.music.palettes import PALETTES
from auralis.music.params import PRESETS, MusicParams

SR = 44100


def test_placement_matrix() -> None:
    assert np.allclose(placement(0.0, 1.0), np.eye(2))
    mono = placement(0.0, 0.0) @ np.array([1.0, 0.0])
    assert np.allclose(mono, [0.5, 0.5])  # width 0 folds a side-only sound to the centre
    gl, gr = placement(-1.0, 1.0) @ np.array([1.0, 1.0])
    assert gr == pytest.approx(0.0, abs=1e-12) and gl == pytest.approx(math.sqrt(2))
    for pan in (-0.7, -0.2, 0.3, 0.9):  # constant power for a centred mono source
        gl, gr = placement(pan, 1.0) @ np.array([1.0, 1.0])
        assert gl**2 + gr**2 == pytest.approx(2.0)
    with pytest.raises(ValueError):
        placement(1.5, 1.0)


def test_separate_outputs_sum_to_the_plain_mix(soundfont_path: Path) -> None:
    """Per-group outputs mixed with identity placements equal FluidSynth's own folded mix."""
    settings = RenderConfig().synth_settings()
    voices = [Voice(ch, prog, 0.5, 80) for ch, prog in enumerate((0, 89, 43, 46, 8))]
    outs = []
    for folded in (True, False):
        synth = FluidSynth(settings)
        try:
            sid = synth.sfload(soundfont_path)
            for v in voices:
                synth.program_select(v.channel, sid, 0, v.program)
                synth.cc(v.channel, 91, v.reverb_send)
                synth.noteon(v.channel, 60 + 4 * v.channel, 90)
            mix = VoiceMix(voices, AUDIO_GROUPS)
            planes = mix.planes(SR) if not folded else np.zeros((4, SR), dtype=np.float32)
            n_out = 2 if folded else mix.n_out
            synth.process(planes, 0, 3000, n_out, 2)  # in two pieces, as between events
            synth.process(planes, 3000, SR - 3000, n_out, 2)
            if folded:
                outs.append((planes[0] + planes[2], planes[1] + planes[3]))
            else:
                out = np.zeros((SR, 2), dtype=np.float32)
                mix.mix(planes, out, 0, SR)
                outs.append((out[:, 0], out[:, 1]))
        finally:
            synth.close()
    (al, ar), (bl, br) = outs
    assert np.abs(al).max() > 0.01
    assert np.allclose(al, bl, atol=1e-6) and np.allclose(ar, br, atol=1e-6)


def _stem(soundfont: Path, palette: str, channel: int, pitches: tuple[int, ...],
          centre: bool = False) -> np.ndarray:
    """3 s of notes on one voice of a palette, through the renderer's own mix (no ride);
    ``centre``: the same voice with its pan set to the centre."""
    with Renderer(soundfont, RenderConfig(loudness_ride=False), palette=palette) as r:
        if centre:
            r._mix.set_voices(
                [Voice(v.channel, v.program, v.gain, v.reverb_send, 0.0 if v.channel == channel else v.pan, v.width)
                 for v in voices_for(PALETTES[palette])]
            )
        evs = [Event(0.0, "note_on", channel, p, 90) for p in pitches]
        x = r.render_raw(evs, 2 * SR)
        y = r.render_raw([Event(2.0, "note_off", channel, p) for p in pitches], SR)
    return np.concatenate([x, y])


def _balance_db(x: np.ndarray) -> float:
    return 10 * math.log10(float((x[:, 1] ** 2).sum()) / float((x[:, 0] ** 2).sum()))


@pytest.mark.parametrize("palette", ["classic", "bright", "meditation"])
def test_voices_are_placed_as_their_palette_says(soundfont_path: Path, palette: str) -> None:
    """Each voice rendered alone (a chord in its register, reverb included) moves towards the
    side its pan names, against the same voice at the centre; the voices panned furthest apart
    are measurably apart in the mix."""
    balances = {}
    for v in PALETTES[palette].voices:
        mid = (v.register[0] + v.register[1]) // 2
        chord = (mid - 5, mid, mid + 4)
        balances[v.role] = b = _balance_db(_stem(soundfont_path, palette, v.channel, chord))
        if abs(v.pan) >= 0.3:
            shift = b - _balance_db(_stem(soundfont_path, palette, v.channel, chord, centre=True))
            assert np.sign(shift) == np.sign(v.pan) and abs(shift) >= 1.5, (v.role, shift)
    left = min(PALETTES[palette].voices, key=lambda v: v.pan).role
    right = max(PALETTES[palette].voices, key=lambda v: v.pan).role
    assert balances[right] - balances[left] >= 3.0, balances


def test_wide_piano_is_narrowed(soundfont_path: Path) -> None:
    x = _stem(soundfont_path, "classic", 0, (60, 64, 67))
    with Renderer(soundfont_path, RenderConfig(loudness_ride=False), palette="classic") as r:
        r._mix.set_voices([Voice(0, 0, 1.0, 60)])  # the same piano as sampled: width 1, centre
        wide = np.concatenate([
            r.render_raw([Event(0.0, "note_on", 0, p, 90) for p in (60, 64, 67)], 2 * SR),
            r.render_raw([Event(2.0, "note_off", 0, p) for p in (60, 64, 67)], SR),
        ])
    assert correlation(x) > correlation(wide) + 0.2, (correlation(x), correlation(wide))


@pytest.mark.parametrize("palette", list(PALETTES))
def test_every_palette_in_phase_on_the_test_chord(soundfont_path: Path, palette: str) -> None:
    with Renderer(soundfont_path, RenderConfig(), palette=palette) as r:
        corr = check_stereo_image(soundfont_path, r.palette_settings(palette), voices_for(PALETTES[palette]))
    assert corr > 0.3, corr


@pytest.mark.parametrize("palette", list(PALETTES))
def test_loudness_and_true_peak_per_palette(soundfont_path: Path, palette: str) -> None:
    """60 s of the finished audio (ride and limiter): after the ride's settling (the first 15 s)
    the palette sits at the target (the 10-minute figures: docs/benchmarks.md)."""
    p = MusicParams().with_preset(palette) if palette in PRESETS else MusicParams(palette=palette)
    c = Composer(p, seed=4)
    n = 60 * SR
    x = np.empty((n, 2), dtype=np.float32)
    with Renderer(soundfont_path, RenderConfig(), palette=palette) as r:
        for i in range(0, n, 4410):
            x[i : i + 4410] = r.render(c.events_until((i + 4410) / SR), 4410)
    lufs = pyloudnorm.Meter(SR).integrated_loudness(x[15 * SR :].astype(np.float64))
    assert abs(lufs - LOUDNESS_TARGET_LUFS) <= 2.0, lufs  # as test_audio_quality; 10 min: +-1 LU
    tp = 20 * np.log10(np.abs(resample_poly(x.astype(np.float64), 4, 1, axis=0)).max())
    assert tp <= -1.0, tp


def test_palette_change_applies_from_its_frame(soundfont_path: Path) -> None:
    """Audio before a palette marker is the same as without it; after it the programs,
    placements and reverb are the new palette's."""
    note = [Event(0.0, "note_on", 3, 72, 90)]
    with Renderer(soundfont_path, RenderConfig(loudness_ride=False), palette="classic") as a:
        plain = a.render_raw(note, SR)
    with Renderer(soundfont_path, RenderConfig(loudness_ride=False), palette="classic") as b:
        changed = b.render_raw(note + [Event(0.5, "marker", text="palette sleep")], SR)
        assert b.palette == "sleep" and b._programs[3] == PALETTES["sleep"].voice("texture").program
        later = b.render_raw([Event(1.2, "note_on", 3, 72, 90)], SR)
    half = SR // 2
    assert np.array_equal(plain[:half], changed[:half])
    assert not np.allclose(plain[half:], changed[half:], atol=1e-4)  # pan moved (texture: -0.55 -> +0.45)
    assert np.abs(later).max() > 0.001


def test_missing_program_refuses_only_the_palettes_needing_it(
    soundfont_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """A SoundFont lacking Tubular Bells (14): named at startup, meditation and choir refused,
    the others play; ``auralis doctor`` lists every palette's programs ok/missing."""
    import auralis.audio.doctor as doctor
    import auralis.audio.soundfont as sf
    from auralis.streaming.engine import StreamEngine

    real = sf.FluidSynth.presets
    monkeypatch.setattr(sf.FluidSynth, "presets", lambda self, sid: [p for p in real(self, sid) if p[:2] != (0, 14)])
    sf.bank0_programs.cache_clear()
    request.addfinalizer(sf.bank0_programs.cache_clear)  # (the real list for later tests)
    bank0 = sf.bank0_programs(soundfont_path)
    assert 14 not in bank0 and missing_by_palette(bank0) == {"meditation": (14,), "choir": (14,)}

    with StreamEngine(soundfont_path, workers=1) as eng:
        assert set(eng.missing_programs) == {"meditation", "choir"}
        why = eng.palette_refusal("meditation")
        assert why is not None and "palette 'meditation'" in why and "program 14 (Tubular Bells)" in why
        assert eng.palette_refusal("sleep") is None
        with pytest.raises(ValueError, match="palette 'choir'"):
            eng.open_stream(MusicParams(palette="choir"), seed=1)
        s = eng.open_stream(MusicParams().with_preset("sleep"), seed=1)
        for _ in range(500):
            if s.pop() is not None:
                break
            import time

            time.sleep(0.01)
        else:
            raise AssertionError("the sleep palette did not play")
        s.close()

    out = io.StringIO()
    assert doctor.run_doctor(out, soundfont=soundfont_path) == 1
    text = out.getvalue()
    assert "meditation: REFUSED (1 missing)" in text and "sleep: ok" in text
    assert "program 14 (Tubular Bells): MISSING" in text


def test_renderer_refuses_a_palette_whose_program_is_missing(
    soundfont_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = FluidSynth.program_select

    def without_bells(self, channel, sfont_id, bank, program):  # noqa: ANN001
        return False if program == 14 else real(self, channel, sfont_id, bank, program)

    monkeypatch.setattr(FluidSynth, "program_select", without_bells)
    with Renderer(soundfont_path, RenderConfig(), palette="sleep") as r:
        with pytest.raises(SoundFontError, match=r"lacks program 14 \(Tubular Bells\)"):
            r.set_palette("meditation")
        r.render_raw([], 4410)  # still renders
