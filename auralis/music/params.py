"""Musical parameters, their ranges, and the presets (musical facts, so they live here)."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any

from auralis.music.palettes import DEFAULT_PALETTE, PALETTES, validate_palette

MODES: tuple[str, ...] = ("aeolian", "dorian", "lydian", "phrygian", "ionian", "mixolydian")
KEY_MIN, KEY_MAX = 60, 71
BPM_MIN, BPM_MAX = 40.0, 90.0
INTENSITY_MIN, INTENSITY_MAX = 0.0, 1.0
#: The finest steps a listener's controls move in (the protocol accepts any value in range).
BPM_STEP, INTENSITY_STEP = 1.0, 0.05

#: What each mode sounds like, in a listener's words.
MODE_CHARACTER: dict[str, str] = {
    "aeolian": "calm, minor",
    "dorian": "warm, hopeful",
    "lydian": "bright, floating",
    "phrygian": "dark, mysterious",
    "ionian": "clear, major",
    "mixolydian": "open, easy-going",
}

PITCH_CLASS_NAMES: tuple[str, ...] = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")

#: The presets of the streaming protocol. A preset keeps the current key and brings the palette
#: of its name (auralis.music.palettes).
PRESETS: dict[str, dict[str, Any]] = {
    "focus": {"mode": "dorian", "bpm": 60.0, "intensity": 0.5, "palette": "focus"},
    "meditation": {"mode": "aeolian", "bpm": 50.0, "intensity": 0.3, "palette": "meditation"},
    "sleep": {"mode": "phrygian", "bpm": 40.0, "intensity": 0.2, "palette": "sleep"},
    "bright": {"mode": "lydian", "bpm": 70.0, "intensity": 0.6, "palette": "bright"},
}

#: Each preset (a "mood" on the page) in one line.
PRESET_DESCRIPTIONS: dict[str, str] = {
    "focus": "Warm and steady, hopeful without demanding attention.",
    "meditation": "Slow, calm and spacious, with room to breathe.",
    "sleep": "Very slow, dark and sparse, settling towards silence.",
    "bright": "Light and floating, for a clear head in the morning.",
}


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return v


def validate_key(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or float(value) != int(value):
        raise ValueError(f"key must be an integer MIDI pitch between {KEY_MIN} and {KEY_MAX}, got {value!r}")
    if not KEY_MIN <= int(value) <= KEY_MAX:
        raise ValueError(f"key must be between {KEY_MIN} and {KEY_MAX}, got {value!r}")
    return int(value)


def validate_mode(value: Any) -> str:
    if not isinstance(value, str) or value.lower() not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {value!r}")
    return value.lower()


def validate_bpm(value: Any) -> float:
    v = _number("bpm", value)
    if not BPM_MIN <= v <= BPM_MAX:
        raise ValueError(f"bpm must be between {BPM_MIN:g} and {BPM_MAX:g}, got {value!r}")
    return v


def validate_intensity(value: Any) -> float:
    v = _number("intensity", value)
    if not INTENSITY_MIN <= v <= INTENSITY_MAX:
        raise ValueError(
            f"intensity must be between {INTENSITY_MIN:g} and {INTENSITY_MAX:g}, got {value!r}"
        )
    return v


_VALIDATORS = {
    "key": validate_key,
    "mode": validate_mode,
    "bpm": validate_bpm,
    "intensity": validate_intensity,
    "palette": validate_palette,
}


@dataclass(frozen=True, slots=True)
class MusicParams:
    """The listener's musical controls. Immutable; every instance is valid."""

    key: int = 60
    mode: str = "aeolian"
    bpm: float = 60.0
    intensity: float = 0.5
    palette: str = DEFAULT_PALETTE

    def __post_init__(self) -> None:
        for f in fields(self):
            object.__setattr__(self, f.name, _VALIDATORS[f.name](getattr(self, f.name)))

    def with_changes(self, **changes: Any) -> MusicParams:
        """A copy with `changes` applied; ValueError (naming the field) and nothing applied if any is bad."""
        unknown = sorted(set(changes) - set(_VALIDATORS))
        if unknown:
            raise ValueError(f"unknown parameter {unknown[0]!r}; allowed: {', '.join(_VALIDATORS)}")
        clean = {name: _VALIDATORS[name](value) for name, value in changes.items()}
        return replace(self, **clean)

    def with_preset(self, name: str) -> MusicParams:
        """Apply a preset by name (its palette included), keeping the current key."""
        if not isinstance(name, str) or name not in PRESETS:
            raise ValueError(f"preset must be one of {', '.join(PRESETS)}, got {name!r}")
        return self.with_changes(**PRESETS[name])

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "mode": self.mode, "bpm": self.bpm, "intensity": self.intensity,
                "palette": self.palette}


def music_facts() -> dict[str, Any]:
    """Every musical fact a client needs, as JSON-ready data (served at ``GET /api/music``).

    Lists keep their order (the order a page shows them in); nothing here is copied elsewhere.
    """
    defaults = MusicParams().as_dict()
    return {
        "modes": [
            {"name": m, "label": m.capitalize(), "character": MODE_CHARACTER[m]} for m in MODES
        ],
        "keys": [
            {"value": k, "name": PITCH_CLASS_NAMES[k % 12]} for k in range(KEY_MIN, KEY_MAX + 1)
        ],
        "ranges": {
            "key": {"min": KEY_MIN, "max": KEY_MAX, "step": 1},
            "bpm": {"min": BPM_MIN, "max": BPM_MAX, "step": BPM_STEP},
            "intensity": {"min": INTENSITY_MIN, "max": INTENSITY_MAX, "step": INTENSITY_STEP},
        },
        "defaults": defaults,
        "palettes": [p.as_dict() for p in PALETTES.values()],
        "presets": [
            {
                "name": name,
                "label": name.capitalize(),
                "description": PRESET_DESCRIPTIONS[name],
                "params": dict(values),
            }
            for name, values in PRESETS.items()
        ],
    }
