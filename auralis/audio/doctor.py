"""``auralis doctor``: what the audio engine found, and what to install for what is missing."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Sequence
from typing import TextIO

from auralis.audio.fluid import (
    FluidSynthMissingError,
    fluidsynth_library_name,
    fluidsynth_version,
    install_command,
)
from auralis.audio.soundfont import (
    ENV_VAR,
    SoundFontError,
    bank0_programs,
    find_soundfont,
    palette_programs,
    program_label,
    validate_soundfont,
)


def run_doctor(
    out: TextIO | None = None,
    *,
    soundfont: str | os.PathLike[str] | None = None,
    programs: tuple[int, ...] | None = None,
    checks: Sequence[Callable[[], tuple[str, tuple[str, str] | None]]] = (),
) -> int:
    """Print the check; 0 when the audio engine can run, 1 when something is missing.

    ``checks`` are the higher layers' own checks (the Opus encoder, for example): each returns
    the line to print and, when something is missing, ``(what, install command)``."""
    out = out or sys.stdout
    # (the palettes' programs are listed below, each palette ok or refused)
    programs = programs or ()
    missing: list[tuple[str, str]] = []  # (what, install command)

    def say(line: str = "") -> None:
        print(line, file=out)

    say("Auralis doctor")
    say(f"  Python {sys.version.split()[0]} on {sys.platform}")
    have_lib = False
    try:
        name, version = fluidsynth_library_name(), fluidsynth_version()
        major = int(version.split(".")[0])
        if major < 2:
            say(f"  FluidSynth library: {name} version {version}  TOO OLD (2.x required)")
            missing.append(("FluidSynth 2.x", install_command()))
        else:
            say(f"  FluidSynth library: {name} version {version}  ok")
            have_lib = True
    except FluidSynthMissingError as exc:
        say(f"  FluidSynth library: MISSING ({exc})")
        missing.append(("the FluidSynth library", install_command()))
    cli = shutil.which("fluidsynth")
    say(f"  fluidsynth command: {cli or 'not found (optional; only the benchmarks use it)'}")

    try:
        path = find_soundfont(soundfont)
    except SoundFontError as exc:
        say(f"  SoundFont: NOT FOUND ({exc})")
        missing.append(("a General MIDI SoundFont", install_command("soundfont")))
    else:
        if have_lib:
            try:
                info = validate_soundfont(path, programs)
            except SoundFontError as exc:
                say(f"  SoundFont: {path}  UNUSABLE: {exc}")
                missing.append(("a working General MIDI SoundFont", install_command("soundfont")))
            else:
                size_mb = info.size_bytes / 1e6
                say(
                    f"  SoundFont: {info.path} ({info.name or 'unnamed'}, {size_mb:.1f} MB, "
                    f"{info.preset_count} presets)  ok"
                )
                for program, preset in info.programs.items():
                    say(f"    {program_label(program)}: {preset!r}")
                refused = _palettes(say, bank0_programs(path))
                if refused:
                    missing.append((
                        f"programs of the palettes {', '.join(refused)} (they are refused; the others work)",
                        install_command("soundfont"),
                    ))
        else:
            say(f"  SoundFont: {path} (not loaded: FluidSynth is missing)")
    for check in checks:
        line, lack = check()
        say(f"  {line}")
        if lack is not None:
            missing.append(lack)
    say()
    if not missing:
        say("Everything Auralis needs is here.")
        return 0
    say("Missing:")
    for what, command in missing:
        say(f"  {what}: {command}")
    say(f"(Set {ENV_VAR} to use a SoundFont elsewhere.)")
    return 1


def _palettes(say: Callable[[str], None], bank0: dict[int, str]) -> list[str]:
    """Print every palette's programs, ok or MISSING; return the palettes that are refused."""
    say("  Palettes (programs in the SoundFont's bank 0):")
    refused = []
    for name, programs in palette_programs(bank0).items():
        lacking = [prog for prog, preset in programs if preset is None]
        state = f"REFUSED ({len(lacking)} missing)" if lacking else "ok"
        say(f"    {name}: {state}")
        for prog, preset in programs:
            say(f"      {program_label(prog)}: " + (f"ok ({preset!r})" if preset is not None else "MISSING"))
        if lacking:
            refused.append(name)
    return refused
