"""Station definitions: the four default stations and the settings file format (docs/stations.md).

A definition is a name, a description, music parameters (a preset and/or key, mode, bpm,
intensity), a seed, and optionally ``always_on``, ``idle_s`` and ``segment_s``. Definitions come
from a TOML or JSON file (``AURALIS_STATIONS_FILE``) and/or a JSON array in the environment
(``AURALIS_STATIONS``); a definition whose name is already taken replaces the earlier one, so a
file can redefine a default station. Every field is validated before anything is used: a bad
file is refused as a whole with a message naming the station and the field.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auralis.music.params import PRESETS, MusicParams
from auralis.streaming.chunk import CHUNK_SECONDS

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
DEFAULT_IDLE_S = 60.0
DEFAULT_SEGMENT_S = 600.0

_FIELDS = {
    "name",
    "description",
    "preset",
    "key",
    "mode",
    "bpm",
    "intensity",
    "palette",
    "seed",
    "always_on",
    "idle_s",
    "segment_s",
}

__all__ = [
    "DEFAULT_STATIONS",
    "StationSpec",
    "StationSpecError",
    "load_station_specs",
    "parse_station_specs",
]


class StationSpecError(ValueError):
    """A station definition is invalid; the message names the station and the field."""


@dataclass(frozen=True, slots=True)
class StationSpec:
    """One station's definition (immutable; every instance is valid)."""

    name: str
    description: str
    params: MusicParams
    seed: int
    always_on: bool | None = None  # None: the server-wide default
    idle_s: float | None = None  # None: the server-wide default
    segment_s: float = DEFAULT_SEGMENT_S

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not NAME_PATTERN.match(self.name):
            raise StationSpecError(
                f"station name must be 1-32 characters of a-z, 0-9, '-', '_' (starting with a letter "
                f"or digit), got {self.name!r}"
            )
        if not isinstance(self.description, str) or len(self.description) > 200:
            raise StationSpecError(
                f"station {self.name!r}: description must be a string of at most 200 characters"
            )
        if not isinstance(self.params, MusicParams):
            raise StationSpecError(f"station {self.name!r}: params must be MusicParams")
        if (
            isinstance(self.seed, bool)
            or not isinstance(self.seed, int)
            or not 0 <= self.seed < 2**63
        ):
            raise StationSpecError(
                f"station {self.name!r}: seed must be an integer within 0..2**63-1, got {self.seed!r}"
            )
        if self.always_on is not None and not isinstance(self.always_on, bool):
            raise StationSpecError(
                f"station {self.name!r}: always_on must be true or false, got {self.always_on!r}"
            )
        if self.idle_s is not None and not _finite_between(self.idle_s, 0.0, 86_400.0):
            raise StationSpecError(
                f"station {self.name!r}: idle_s must be a number of seconds within 0..86400"
            )
        if not _finite_between(self.segment_s, 10.0, 86_400.0) or not _whole_chunks(self.segment_s):
            raise StationSpecError(
                f"station {self.name!r}: segment_s must be a multiple of 0.1 within 10..86400, got {self.segment_s!r}"
            )

    @property
    def segment_chunks(self) -> int:
        return round(self.segment_s / CHUNK_SECONDS)


def _finite_between(v: Any, lo: float, hi: float) -> bool:
    return (
        not isinstance(v, bool)
        and isinstance(v, (int, float))
        and math.isfinite(v)
        and lo <= v <= hi
    )


def _whole_chunks(seconds: float) -> bool:
    return abs(seconds / CHUNK_SECONDS - round(seconds / CHUNK_SECONDS)) < 1e-6


_DEFAULT_TEXT = {
    "focus": ("Steady, unobtrusive music for concentrated work (D dorian, 60 BPM).", 62, 1001),
    "meditation": ("Slow, spacious music for stillness (A aeolian, 50 BPM).", 69, 1002),
    "sleep": ("Very slow, quiet music for falling asleep (E phrygian, 40 BPM).", 64, 1003),
    "bright": ("Light, open music for the morning (G lydian, 70 BPM).", 67, 1004),
}

#: The default stations: one per preset, each with a fixed seed and key.
DEFAULT_STATIONS: tuple[StationSpec, ...] = tuple(
    StationSpec(
        name=name,
        description=text,
        params=MusicParams(key=key).with_preset(name),
        seed=seed,
    )
    for name, (text, key, seed) in _DEFAULT_TEXT.items()
    if name in PRESETS
)


def _spec_from_mapping(raw: Any, where: str) -> StationSpec:
    if not isinstance(raw, Mapping):
        raise StationSpecError(
            f"{where}: a station must be a table/object, got {type(raw).__name__}"
        )
    name = raw.get("name")
    label = f"{where}: station {name!r}" if isinstance(name, str) else where
    unknown = sorted(set(raw) - _FIELDS)
    if unknown:
        raise StationSpecError(
            f"{label}: unknown field {unknown[0]!r}; allowed: {', '.join(sorted(_FIELDS))}"
        )
    for required in ("name", "seed"):
        if required not in raw:
            raise StationSpecError(f"{label}: {required} is required")
    try:
        params = MusicParams()
        if "preset" in raw:
            params = params.with_preset(raw["preset"])
        changes = {f: raw[f] for f in ("key", "mode", "bpm", "intensity", "palette") if f in raw}
        params = params.with_changes(**changes)
    except ValueError as exc:
        raise StationSpecError(f"{label}: {exc}") from None
    return StationSpec(
        name=name,
        description=raw.get("description", ""),
        params=params,
        seed=raw["seed"],
        always_on=raw.get("always_on"),
        idle_s=raw.get("idle_s"),
        segment_s=raw.get("segment_s", DEFAULT_SEGMENT_S),
    )


def parse_station_specs(entries: Iterable[Any], where: str = "stations") -> list[StationSpec]:
    """Definitions from already-decoded entries (dicts); StationSpecError names the bad one."""
    out = []
    seen: set[str] = set()
    for i, raw in enumerate(entries):
        try:
            spec = _spec_from_mapping(raw, f"{where}[{i}]")
        except StationSpecError as exc:
            msg = str(exc)
            if not msg.startswith(where):  # raised by StationSpec itself
                msg = f"{where}[{i}]: {msg}"
            raise StationSpecError(msg) from None
        if spec.name in seen:
            raise StationSpecError(f"{where}: station {spec.name!r} is defined twice")
        seen.add(spec.name)
        out.append(spec)
    return out


def _read_file(path: Path) -> list[Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise StationSpecError(
            f"stations file {path}: cannot read it ({exc.strerror or exc})"
        ) from None
    try:
        if path.suffix.lower() == ".json":
            doc = json.loads(text)
            entries = doc.get("station") if isinstance(doc, dict) else doc
        else:
            entries = tomllib.loads(text).get("station")
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise StationSpecError(
            f"stations file {path}: not valid {path.suffix.lstrip('.') or 'TOML'} ({exc})"
        ) from None
    if not isinstance(entries, list):
        raise StationSpecError(
            f"stations file {path}: expected a list of stations ([[station]] tables in TOML)"
        )
    return entries


def load_station_specs(
    file: str | Path | None = None, env_json: str | None = None, *, include_defaults: bool = True
) -> list[StationSpec]:
    """The defaults (unless ``include_defaults`` is false), then the file's stations, then the
    environment's; a later definition with the same name replaces an earlier one, in place."""
    merged: dict[str, StationSpec] = (
        {s.name: s for s in DEFAULT_STATIONS} if include_defaults else {}
    )
    if file is not None:
        path = Path(file)
        for spec in parse_station_specs(_read_file(path), f"stations file {path}"):
            merged[spec.name] = spec
    if env_json is not None and env_json.strip():
        try:
            entries = json.loads(env_json)
        except json.JSONDecodeError as exc:
            raise StationSpecError(f"AURALIS_STATIONS: not valid JSON ({exc})") from None
        if not isinstance(entries, list):
            raise StationSpecError("AURALIS_STATIONS: expected a JSON array of stations")
        for spec in parse_station_specs(entries, "AURALIS_STATIONS"):
            merged[spec.name] = spec
    return list(merged.values())
