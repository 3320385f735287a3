"""One loaded SoundFont shared by the synths of a render thread (see auralis.audio.renderer's
``share_from``): an idle "anchor" synth loads the file once and pins the voices' samples; every
synth that borrows it must be used by the same thread as the others sharing it."""

from __future__ import annotations

from pathlib import Path

from auralis.audio.fluid import FluidSynth, captured_fluid_log
from auralis.audio.renderer import RenderConfig
from auralis.audio.soundfont import SoundFontError
from auralis.music.palettes import all_programs

#: MIDI channels of an anchor: one per program any palette uses (a multiple of 16).
ANCHOR_CHANNELS = 16 * -(-len(all_programs()) // 16)


def load_anchor(soundfont: Path, config: RenderConfig) -> tuple[FluidSynth, int]:
    """An idle synth holding ``soundfont`` with every palette's programs selected (those the
    font has), and its font id. SoundFontError (naming FluidSynth's reason) if FluidSynth cannot
    load the file."""
    anchor = FluidSynth({**config.synth_settings(), "synth.midi-channels": ANCHOR_CHANNELS})
    with captured_fluid_log() as messages:
        sfont_id = anchor.sfload(soundfont)
        ok = sfont_id >= 0
        # With dynamic sample loading, selecting the programs pins their samples (their
        # preset_count never falls to 0 while the anchor lives, so a borrowing synth never
        # unloads them), so a stream changing palettes never loads or frees samples.
        for channel, program in enumerate(all_programs() if ok else ()):
            anchor.program_select(channel, sfont_id, 0, program)
    if not ok:
        anchor.close()
        reason = "; ".join(messages) or "unknown reason"
        raise SoundFontError(
            f"SoundFont {soundfont}: FluidSynth fails to load it ({reason})", soundfont
        )
    return anchor, sfont_id
