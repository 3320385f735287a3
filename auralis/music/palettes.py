"""Palettes: the sound worlds (issue 12). The one home of which instrument plays which role.

A :class:`Palette` is five voices, one per role (:data:`ROLES`), and a reverb:

- each :class:`PaletteVoice` has a General MIDI program (bank 0 of FluidR3), a register (the
  lowest and highest pitch it plays), a pan position (-1 left .. +1 right), a level (a linear
  gain, 0..1), a reverb send (0-127) and a stereo width for its dry sound (0 mono .. 1 as the
  SoundFont's samples are recorded; FluidR3's stereo piano is wide, see ``auralis.audio.voicemix``);
- the reverb has a room size, a damping and a level (FluidSynth's ranges, 0..1);
- ``octave``: the upper voices (melody, pad, texture, bell) sound this many octaves above the
  written notes (as a celesta or glockenspiel does), the bass as written. All upper voices move
  together, so every interval among them, and each one's relation to the bass below, is the
  composer's: no clash appears or disappears. It places the melody and pad where the palette's
  instruments speak brightly (the mix's centroid, issue 14: measured in bench/bench_palettes.py).

Roles: ``melody``, ``pad`` and ``bass`` (a bass or drone) are the composer's voices, whose
pitches the composer chooses (their registers here state those ranges); ``texture`` (slow
arpeggiated chord tones or sustained high notes, see ``auralis.music.texture``) and ``bell``
(occasional chord tones with a long decay, see ``auralis.music.bells``) play in the registers
given here. Each role has its own MIDI channel (:data:`ROLE_CHANNELS`).

Each preset brings the palette of its name; a listener can choose any palette (the ``palette``
parameter, validated by :func:`validate_palette`). Levels and pans were chosen by measurement:
the melody sits at or above the accompaniment and the mix's centroid is above 600 Hz
(``bench/bench_palettes.py``, docs/music.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from auralis.music.events import (
    BASS_CHANNEL,
    BELL_CHANNEL,
    MELODY_CHANNEL,
    PAD_CHANNEL,
    TEXTURE_CHANNEL,
)

ROLES: tuple[str, ...] = ("melody", "pad", "bass", "texture", "bell")
ROLE_CHANNELS: dict[str, int] = {
    "melody": MELODY_CHANNEL,
    "pad": PAD_CHANNEL,
    "bass": BASS_CHANNEL,
    "texture": TEXTURE_CHANNEL,
    "bell": BELL_CHANNEL,
}

#: The registers of the composer's own voices (auralis.music.melody, voicing, composer).
MELODY_REGISTER = (55, 91)
PAD_REGISTER = (38, 84)
BASS_REGISTER = (36, 47)


@dataclass(frozen=True, slots=True)
class PaletteVoice:
    role: str
    program: int  # General MIDI program, 0-based, bank 0
    instrument: str  # in a listener's words
    register: tuple[int, int]  # lowest, highest MIDI pitch
    pan: float  # -1 left .. 0 centre .. +1 right
    level: float  # linear gain 0..1
    reverb_send: int  # 0..127
    width: float = 1.0  # stereo width of the dry sound: 0 mono .. 1 as sampled

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, got {self.role!r}")
        if not 0 <= self.program <= 127:
            raise ValueError(f"program must be 0..127, got {self.program}")
        lo, hi = self.register
        if not 0 <= lo < hi <= 127:
            raise ValueError(f"register must be two MIDI pitches, low < high, got {self.register}")
        if not -1.0 <= self.pan <= 1.0:
            raise ValueError(f"pan must be within -1..1, got {self.pan}")
        if not 0.0 <= self.level <= 1.0:
            raise ValueError(f"level must be within 0..1, got {self.level}")
        if not 0 <= self.reverb_send <= 127:
            raise ValueError(f"reverb_send must be 0..127, got {self.reverb_send}")
        if not 0.0 <= self.width <= 1.0:
            raise ValueError(f"width must be within 0..1, got {self.width}")

    @property
    def channel(self) -> int:
        return ROLE_CHANNELS[self.role]


@dataclass(frozen=True, slots=True)
class Reverb:
    room_size: float
    damping: float
    level: float

    def __post_init__(self) -> None:
        for name in ("room_size", "damping", "level"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"reverb {name} must be within 0..1, got {v}")


@dataclass(frozen=True, slots=True)
class Palette:
    name: str
    label: str
    description: str
    voices: tuple[PaletteVoice, ...]
    reverb: Reverb
    octave: int = 0

    def __post_init__(self) -> None:
        roles = [v.role for v in self.voices]
        if sorted(roles) != sorted(ROLES):
            raise ValueError(f"palette {self.name}: needs one voice per role {ROLES}, got {roles}")
        if self.octave not in (0, 1, 2):
            raise ValueError(f"palette {self.name}: octave must be 0, 1 or 2, got {self.octave}")

    def transpose(self, role: str) -> int:
        """Semitones from the written to the sounding pitch of ``role``."""
        return 0 if role == "bass" else 12 * self.octave

    def voice(self, role: str) -> PaletteVoice:
        for v in self.voices:
            if v.role == role:
                return v
        raise KeyError(role)

    @property
    def programs(self) -> tuple[int, ...]:
        """The GM programs it needs, sorted, each once."""
        return tuple(sorted({v.program for v in self.voices}))

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "description": self.description,
            "voices": [
                {"role": v.role, "program": v.program, "instrument": v.instrument,
                 "register": [v.register[0] + self.transpose(v.role), v.register[1] + self.transpose(v.role)],
                 "pan": v.pan, "level": v.level}
                for v in self.voices
            ],
        }


def _v(role: str, program: int, instrument: str, pan: float, level: float, send: int,
       register: tuple[int, int] | None = None, width: float = 1.0) -> PaletteVoice:
    default = {"melody": MELODY_REGISTER, "pad": PAD_REGISTER, "bass": BASS_REGISTER}
    reg = register if register is not None else default[role]
    return PaletteVoice(role, program, instrument, reg, pan, level, send, width)


# Levels: the melody on top (its notes at or above the accompaniment), the pad and the drone
# low, so the mix is bright and the 150-400 Hz band does not dominate (issue 14 "Balance").
# Widths: FluidR3's stereo samples (the grand piano above all) narrowed so the mix stays in
# phase (issue 13's stereo image checks).
PALETTES: dict[str, Palette] = {
    p.name: p
    for p in (
        Palette(
            "classic", "Classic", "Grand piano over a warm pad and a bowed contrabass, with harp and celesta.",
            (
                _v("melody", 0, "grand piano", 0.1, 1.0, 60, width=0.35),
                _v("pad", 89, "warm pad", -0.15, 0.08, 100, width=0.8),
                _v("bass", 43, "contrabass", 0.0, 0.171, 80),
                _v("texture", 46, "harp", -0.65, 1.0, 90, (60, 79)),
                _v("bell", 8, "celesta", 0.65, 0.251, 110, (60, 84)),
            ),
            Reverb(0.85, 0.35, 1.0), octave=1,
        ),
        Palette(
            "focus", "Focus", "Electric piano and a bowed pad over an upright bass, vibraphone and glockenspiel.",
            (
                _v("melody", 4, "electric piano", 0.15, 0.449, 55, width=0.6),
                _v("pad", 92, "bowed pad", -0.2, 0.15, 95, width=0.8),
                _v("bass", 32, "upright bass", 0.0, 0.54, 60),
                _v("texture", 11, "vibraphone", -0.65, 1.0, 85, (60, 81)),
                _v("bell", 9, "glockenspiel", 0.65, 0.54, 100, (67, 88)),
            ),
            Reverb(0.7, 0.45, 0.85), octave=1,
        ),
        Palette(
            "meditation", "Meditation", "Pan flute over a choir pad and a bowed pad, cello drone and tubular bells.",
            (
                _v("melody", 75, "pan flute", 0.1, 0.462, 70),
                _v("pad", 91, "choir pad", -0.25, 0.076, 105, width=0.8),
                _v("bass", 42, "cello drone", 0.05, 0.118, 80),
                _v("texture", 92, "bowed pad", 0.65, 0.299, 100, (60, 81)),
                _v("bell", 14, "tubular bells", -0.65, 0.31, 110, (60, 81)),
            ),
            Reverb(0.95, 0.3, 1.0), octave=1,
        ),
        Palette(
            "sleep", "Sleep", "Slow strings over a low drone, soft piano and very sparse celesta.",
            (
                _v("melody", 0, "soft piano", 0.1, 1.0, 75, width=0.35),
                _v("pad", 49, "slow strings", -0.2, 0.085, 110, width=0.8),
                _v("bass", 94, "halo drone", 0.0, 0.1, 100),
                _v("texture", 48, "string ensemble", 0.65, 0.262, 105, (62, 81)),
                _v("bell", 8, "celesta", -0.65, 0.3, 120, (72, 93)),
            ),
            Reverb(0.95, 0.6, 1.0),
        ),
        Palette(
            "bright", "Bright", "Xylophone and harp over a sweep pad, fretless bass and tinkling bells.",
            (
                # a xylophone, not a vibraphone: the vibraphone's near-sine tone carried 83% of the
                # mix's power at ~590 Hz and bright was no brighter than sleep (10-minute renders,
                # 626 vs 630 Hz); the xylophone's overtones lift the mix (docs/music.md)
                _v("melody", 13, "xylophone", 0.1, 0.85, 45),
                _v("pad", 95, "sweep pad", -0.2, 0.035, 90, width=0.8),
                _v("bass", 35, "fretless bass", 0.0, 0.13, 50),
                _v("texture", 46, "harp", 0.65, 1.0, 60, (62, 84)),
                _v("bell", 112, "tinkle bell", -0.65, 0.4, 80, (67, 88)),
            ),
            Reverb(0.6, 0.1, 0.8), octave=1,
        ),
        Palette(
            "glass", "Glass", "Music box and crystal over a halo pad, synth bass and glockenspiel.",
            (
                _v("melody", 10, "music box", 0.1, 0.799, 80),
                _v("pad", 94, "halo pad", -0.2, 0.093, 110, width=0.8),
                _v("bass", 38, "synth bass", 0.0, 1.0, 60),
                _v("texture", 98, "crystal", 0.65, 1.0, 100, (60, 79)),
                _v("bell", 9, "glockenspiel", -0.65, 0.524, 110, (67, 88)),
            ),
            Reverb(0.9, 0.2, 1.0), octave=1,
        ),
        Palette(
            "strings", "Strings", "A solo violin over a string ensemble and cello, with pizzicato and harp.",
            (
                _v("melody", 40, "violin", 0.15, 0.317, 75),
                _v("pad", 48, "string ensemble", -0.2, 0.122, 100, width=0.8),
                _v("bass", 42, "cello", 0.05, 0.137, 80),
                _v("texture", 45, "pizzicato strings", 0.65, 0.692, 85, (60, 81)),
                _v("bell", 46, "harp harmonics", -0.65, 0.535, 100, (60, 84)),
            ),
            Reverb(0.8, 0.4, 0.9), octave=1,
        ),
        Palette(
            "choir", "Choir", "Voices over choir aahs and a church organ pedal, with a halo and tubular bells.",
            (
                _v("melody", 53, "voice oohs", 0.1, 0.327, 85),
                _v("pad", 52, "choir aahs", -0.2, 0.073, 110, width=0.8),
                _v("bass", 19, "organ pedal", 0.0, 0.1, 90),
                _v("texture", 94, "halo pad", 0.65, 0.163, 110, (60, 81)),
                _v("bell", 14, "tubular bells", -0.65, 0.229, 115, (60, 81)),
            ),
            Reverb(0.98, 0.45, 1.0), octave=1,
        ),
        Palette(
            "garden", "Garden", "Kalimba and nylon guitar over a warm pad, acoustic bass and tinkling bells.",
            (
                # 0.6, not 1.0: at 1.0 the kalimba's attacks held the limiter at its ceiling and
                # a 10-minute render measured -21.28 LUFS; at 0.6 -20.76 (melody on top of pad and
                # bass for 82% of its notes; docs/music.md). Still at the ceiling (-20.99 after the
                # new melody planner), so the kalimba and guitar ring in more reverb, which adds
                # loudness and no peaks: -20.49 (a lower kalimba lost the melody's place on top)
                _v("melody", 108, "kalimba", 0.1, 0.6, 127),
                _v("pad", 89, "warm pad", -0.2, 0.093, 95, width=0.8),
                _v("bass", 32, "acoustic bass", 0.0, 0.426, 50),
                _v("texture", 24, "nylon guitar", 0.65, 0.6, 100, (60, 81)),
                _v("bell", 112, "tinkle bell", -0.65, 0.2, 100, (67, 88)),
            ),
            Reverb(0.75, 0.3, 1.0), octave=1,
        ),
    )
}

DEFAULT_PALETTE = "classic"


def validate_palette(value: Any) -> str:
    if not isinstance(value, str) or value not in PALETTES:
        shown = repr(value)[:40]
        raise ValueError(f"palette must be one of {', '.join(PALETTES)}, got {shown}")
    return value


def palettes_needing(programs_missing: set[int] | frozenset[int]) -> list[str]:
    """The palettes that need any of ``programs_missing`` (in PALETTES order)."""
    return [n for n, p in PALETTES.items() if set(p.programs) & set(programs_missing)]


def all_programs() -> tuple[int, ...]:
    """Every GM program any palette uses, sorted."""
    return tuple(sorted({prog for p in PALETTES.values() for prog in p.programs}))
