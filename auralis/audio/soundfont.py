"""SoundFont discovery and validation.

:func:`find_soundfont` looks, in order, at the configured path (argument, else the
``AURALIS_SOUNDFONT`` environment variable), ``./soundfonts/*.sf2``, then the system GM fonts.
An explicitly configured path that does not exist is an error: silently playing another font
than the one the operator chose would hide the mistake.

:func:`validate_soundfont` checks, in order, that the file exists and is readable, has a
RIFF ``sfbk`` header whose declared size fits the file, loads in FluidSynth, and has the
required General MIDI programs in bank 0. Every failure is a :class:`SoundFontError` whose
message names the file and the fault.
"""

from __future__ import annotations

import os
import struct
from functools import lru_cache
from dataclasses import dataclass, field
from pathlib import Path

from auralis.audio.fluid import FluidSynth, captured_fluid_log, install_command
from auralis.music.palettes import DEFAULT_PALETTE, PALETTES

#: The instruments of the default palette (auralis.music.palettes): grand piano (0), celesta (8),
#: contrabass (43), harp (46) and warm pad (89); pass ``programs`` to check others.
DEFAULT_PROGRAMS: tuple[int, ...] = PALETTES[DEFAULT_PALETTE].programs

#: General MIDI program names for messages (every program a palette uses, and a few more).
GM_NAMES: dict[int, str] = {
    0: "Acoustic Grand Piano",
    4: "Electric Piano 1",
    8: "Celesta",
    9: "Glockenspiel",
    10: "Music Box",
    11: "Vibraphone",
    13: "Xylophone",
    14: "Tubular Bells",
    19: "Church Organ",
    24: "Acoustic Guitar (nylon)",
    32: "Acoustic Bass",
    35: "Fretless Bass",
    38: "Synth Bass 1",
    40: "Violin",
    42: "Cello",
    43: "Contrabass",
    45: "Pizzicato Strings",
    46: "Orchestral Harp",
    48: "String Ensemble 1",
    49: "String Ensemble 2",
    52: "Choir Aahs",
    53: "Voice Oohs",
    75: "Pan Flute",
    88: "Pad 1 (new age)",
    89: "Pad 2 (warm)",
    91: "Pad 4 (choir)",
    92: "Pad 5 (bowed)",
    94: "Pad 7 (halo)",
    95: "Pad 8 (sweep)",
    98: "FX 3 (crystal)",
    108: "Kalimba",
    112: "Tinkle Bell",
}

#: System GM fonts, most preferred first (Debian/Ubuntu, Fedora, Arch, Homebrew, MacPorts).
SYSTEM_SOUNDFONTS: tuple[Path, ...] = (
    Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),
    Path("/usr/share/soundfonts/FluidR3_GM.sf2"),
    Path("/usr/share/soundfonts/FluidR3_GM2-2.sf2"),
    Path("/usr/share/sounds/sf2/default-GM.sf2"),
    Path("/usr/share/soundfonts/default.sf2"),
    Path("/usr/share/sounds/sf2/TimGM6mb.sf2"),
    Path("/usr/share/sounds/sf2/MuseScore_General.sf2"),
    Path("/opt/homebrew/share/soundfonts/default.sf2"),
    Path("/usr/local/share/soundfonts/default.sf2"),
    Path("/opt/local/share/sounds/sf2/FluidR3_GM.sf2"),
)

ENV_VAR = "AURALIS_SOUNDFONT"


class SoundFontError(ValueError):
    """A SoundFont is missing, unreadable, not a SoundFont 2 file, fails to load, or lacks an
    instrument. The message names the file and the fault. A ValueError (bad input), so the CLI
    reports it as a one-line error."""

    def __init__(self, message: str, path: Path | None = None) -> None:
        super().__init__(message)
        self.path = path


@dataclass(frozen=True, slots=True)
class SoundFontInfo:
    """What validation found."""

    path: Path
    size_bytes: int
    name: str
    preset_count: int
    programs: dict[int, str] = field(default_factory=dict)  # required GM program -> preset name


def program_label(program: int) -> str:
    name = GM_NAMES.get(program)
    return f"program {program} ({name})" if name else f"program {program}"


def find_soundfont(configured: str | os.PathLike[str] | None = None) -> Path:
    """The SoundFont to use; :class:`SoundFontError` listing where it looked if none."""
    for source, value in (("configured", configured), (ENV_VAR, os.environ.get(ENV_VAR))):
        if value is None or str(value).strip() == "":
            continue
        path = Path(value).expanduser()
        if path.is_file():
            return path.resolve()
        fault = "is a directory, not a file" if path.is_dir() else "not found"
        raise SoundFontError(f"SoundFont {path} ({source}) {fault}", path)
    looked: list[str] = []
    local = Path.cwd() / "soundfonts"
    looked.append(f"{local}/*.sf2")
    if local.is_dir():
        for path in sorted(local.glob("*.sf2")):
            if path.is_file():
                return path.resolve()
    for path in SYSTEM_SOUNDFONTS:
        looked.append(str(path))
        if path.is_file():
            return path
    raise SoundFontError(
        "no General MIDI SoundFont found; looked in "
        + ", ".join(looked)
        + f". Install one with: {install_command('soundfont')}, "
        f"or set {ENV_VAR} to a .sf2 file"
    )


def _info_name(head: bytes) -> str:
    """The INFO-list INAM (bank name) from the start of a SoundFont, or ''."""
    i = head.find(b"INAM")
    if i < 0 or i + 8 > len(head):
        return ""
    size = struct.unpack("<I", head[i + 4 : i + 8])[0]
    return head[i + 8 : i + 8 + min(size, 256)].split(b"\0")[0].decode("latin-1").strip()


def check_soundfont_file(path: str | os.PathLike[str]) -> tuple[int, str]:
    """The cheap checks, without FluidSynth: exists, readable, a RIFF ``sfbk`` header whose
    declared size fits the file. Returns the file size and the bank name (INFO INAM)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise SoundFontError(f"SoundFont {path}: file not found", path)
    if path.is_dir():
        raise SoundFontError(f"SoundFont {path}: is a directory, not a file", path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
            size = os.fstat(fh.fileno()).st_size
    except OSError as exc:
        reason = exc.strerror or exc
        raise SoundFontError(f"SoundFont {path}: cannot be read ({reason})", path) from exc
    if len(head) < 12:
        raise SoundFontError(
            f"SoundFont {path}: too short ({size} bytes) to be a SoundFont 2 file", path
        )
    if head[:4] != b"RIFF":
        raise SoundFontError(
            f"SoundFont {path}: not a RIFF file (starts with {head[:4]!r}), so not a SoundFont 2 "
            "(.sf2) file",
            path,
        )
    if head[8:12] != b"sfbk":
        raise SoundFontError(
            f"SoundFont {path}: RIFF form type is {head[8:12]!r}, not b'sfbk', so not a "
            "SoundFont 2 (.sf2) file",
            path,
        )
    declared = struct.unpack("<I", head[4:8])[0] + 8
    if declared > size:
        raise SoundFontError(
            f"SoundFont {path}: truncated or corrupt: its header declares {declared} bytes but "
            f"the file has {size}",
            path,
        )
    return size, _info_name(head)


def validate_soundfont(
    path: str | os.PathLike[str], programs: tuple[int, ...] | list[int] = DEFAULT_PROGRAMS
) -> SoundFontInfo:
    """Check a SoundFont fully (see the module docstring); :class:`SoundFontError` if not fit."""
    path = Path(path).expanduser()
    size, bank_name = check_soundfont_file(path)
    for program in programs:
        if isinstance(program, bool) or not isinstance(program, int) or not 0 <= program <= 127:
            raise ValueError(f"GM program numbers are 0-127, got {program!r}")
    presets = _presets(path)
    bank0 = {prog: pname for bank, prog, pname in presets if bank == 0}
    missing = [p for p in programs if p not in bank0]
    if missing:
        raise SoundFontError(
            f"SoundFont {path}: lacks "
            + ", ".join(program_label(p) for p in missing)
            + " in bank 0 (a General MIDI SoundFont such as FluidR3_GM.sf2 has them)",
            path,
        )
    return SoundFontInfo(
        path=path.resolve(),
        size_bytes=size,
        name=bank_name,
        preset_count=len(presets),
        programs={p: bank0[p] for p in programs},
    )


def _presets(path: Path) -> list[tuple[int, int, str]]:
    """(bank, program, name) of every preset; SoundFontError if FluidSynth cannot load it."""
    synth = FluidSynth({"synth.polyphony": 16, "synth.reverb.active": 0, "synth.chorus.active": 0})
    try:
        with captured_fluid_log() as messages:
            sfont_id = synth.sfload(path)
        if sfont_id < 0:
            reason = "; ".join(m for m in messages if m) or "unknown reason"
            raise SoundFontError(f"SoundFont {path}: FluidSynth fails to load it ({reason})", path)
        return synth.presets(sfont_id)
    finally:
        synth.close()


def bank0_programs(path: str | os.PathLike[str]) -> dict[int, str]:
    """The General MIDI programs (bank 0) a SoundFont has, with their preset names (listed once
    per file version: ``bank0_programs.cache_clear()`` forgets them)."""
    path = Path(path).expanduser()
    size, _ = check_soundfont_file(path)
    return dict(_bank0(path.resolve(), size, path.stat().st_mtime_ns))


@lru_cache(maxsize=16)
def _bank0(path: Path, size: int, mtime_ns: int) -> tuple[tuple[int, str], ...]:
    return tuple((prog, name) for bank, prog, name in _presets(path) if bank == 0)


bank0_programs.cache_clear = _bank0.cache_clear  # type: ignore[attr-defined]


def palette_programs(bank0: dict[int, str]) -> dict[str, list[tuple[int, str | None]]]:
    """Every palette's programs with the SoundFont's preset name, None where it lacks one."""
    return {
        name: [(prog, bank0.get(prog)) for prog in p.programs] for name, p in PALETTES.items()
    }


def missing_by_palette(bank0: dict[int, str]) -> dict[str, tuple[int, ...]]:
    """The palettes the SoundFont cannot play, each with the programs it lacks."""
    out = {}
    for name, programs in palette_programs(bank0).items():
        missing = tuple(prog for prog, preset in programs if preset is None)
        if missing:
            out[name] = missing
    return out
