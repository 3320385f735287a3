"""Standard MIDI files of composed music (mido), and the `auralis compose` command's work.

Layout (type 1 file): track 0 is the conductor track (time signature, tempo, key signature and
the marker meta events with their exact texts); then one track per voice channel (0 melody, 1 pad,
2 bass, 3 texture, 4 bell), each starting with its track name and General MIDI program, the
palette's (a ``palette`` marker gives each channel its program change at that time). Seconds are
converted to ticks through the tempo map of the events' own tempo changes, so times survive a round
trip.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import mido

from auralis.music.composer import compose
from auralis.music.events import Event, marker_palette
from auralis.music.palettes import DEFAULT_PALETTE, PALETTES, ROLE_CHANNELS
from auralis.music.params import MusicParams
from auralis.music.theory import key_signature_name, pc_from_name

TICKS_PER_BEAT = 480
TRACK_NAMES = {ch: role for role, ch in ROLE_CHANNELS.items()}
_RANK = {"note_off": 0, "control": 1, "marker": 1, "tempo": 1, "note_on": 2}


def write_midi(
    events: Iterable[Event], path: str | os.PathLike[str], *, ticks_per_beat: int = TICKS_PER_BEAT
) -> Path:
    """Write `events` (any order; stable by time) to a standard MIDI file at `path`."""
    evs = sorted(events, key=lambda e: (e.time, _RANK[e.kind]))
    conductor: list[tuple[int, mido.MetaMessage]] = [
        (0, mido.MetaMessage("track_name", name="auralis")),
        (0, mido.MetaMessage("time_signature", numerator=4, denominator=4)),
    ]
    voices: dict[int, list[tuple[int, mido.Message | mido.MetaMessage]]] = {}
    first = next((marker_palette(e) for e in evs if marker_palette(e) in PALETTES), DEFAULT_PALETTE)
    programs = {v.channel: v.program for v in PALETTES[first].voices}  # type: ignore[index]

    def voice(channel: int) -> list[tuple[int, mido.Message | mido.MetaMessage]]:
        if channel not in voices:
            voices[channel] = [
                (0, mido.MetaMessage("track_name", name=TRACK_NAMES.get(channel, f"voice {channel}"))),
                (0, mido.Message("program_change", channel=channel, program=programs.get(channel, 0))),
            ]
        return voices[channel]

    for ch in sorted(programs):
        voice(ch)
    bpm = 60.0  # until the first tempo event (the composer always starts with one)
    seg_time, seg_tick = 0.0, 0.0
    for e in evs:
        tick_f = seg_tick + (e.time - seg_time) * bpm / 60.0 * ticks_per_beat
        tick = max(0, round(tick_f))
        if e.kind == "tempo":
            seg_time, seg_tick, bpm = e.time, tick_f, e.bpm
            conductor.append((tick, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(e.bpm))))
        elif e.kind == "marker":
            conductor.append((tick, mido.MetaMessage("marker", text=e.text)))
            name = marker_palette(e)
            if name in PALETTES and tick > 0:
                for v in PALETTES[name].voices:  # type: ignore[index]
                    voice(v.channel).append(
                        (tick, mido.Message("program_change", channel=v.channel, program=v.program))
                    )
            words = e.text.split()
            if len(words) == 3 and words[0] == "context":
                sig = key_signature_name(pc_from_name(words[1]), words[2])
                conductor.append((tick, mido.MetaMessage("key_signature", key=sig)))
        elif e.kind == "note_on":
            voice(e.channel).append(
                (tick, mido.Message("note_on", channel=e.channel, note=e.pitch, velocity=e.velocity))
            )
        elif e.kind == "note_off":
            voice(e.channel).append(
                (tick, mido.Message("note_off", channel=e.channel, note=e.pitch, velocity=0))
            )
        elif e.kind == "control":
            voice(e.channel).append(
                (tick, mido.Message("control_change", channel=e.channel, control=e.control, value=e.value))
            )
        else:
            raise ValueError(f"unknown event kind {e.kind!r}")

    mid = mido.MidiFile(type=1, ticks_per_beat=ticks_per_beat)
    for timed in [conductor] + [voices[ch] for ch in sorted(voices)]:
        track = mido.MidiTrack()
        last = 0
        for tick, msg in timed:
            track.append(msg.copy(time=tick - last))
            last = tick
        track.append(mido.MetaMessage("end_of_track", time=0))
        mid.tracks.append(track)
    out = Path(path)
    mid.save(out)
    return out


def compose_midi(
    path: str | os.PathLike[str], *, minutes: float, seed: int = 0, params: MusicParams = MusicParams()
) -> Path:
    """Compose `minutes` of music (every note released at the end) and write it to `path`."""
    return write_midi(compose(minutes, seed=seed, params=params), path)
