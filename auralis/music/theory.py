"""Scales, chord qualities and the diatonic chord vocabulary of each mode."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from functools import lru_cache

from auralis.music.params import MODES, PITCH_CLASS_NAMES

#: Semitone offsets of the seven degrees of each mode, from its root.
MODE_STEPS: dict[str, tuple[int, ...]] = {
    "ionian": (0, 2, 4, 5, 7, 9, 11),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "lydian": (0, 2, 4, 6, 7, 9, 11),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "aeolian": (0, 2, 3, 5, 7, 8, 10),
}
assert set(MODE_STEPS) == set(MODES)

#: How far each mode's root lies above the root of its parent major scale (for key signatures).
PARENT_OFFSET: dict[str, int] = {
    "ionian": 0, "dorian": 2, "phrygian": 4, "lydian": 5, "mixolydian": 7, "aeolian": 9,
}

#: Chord qualities: intervals above the root, most important first (root, third or
#: suspension, colour tone, fifth), so a thinner voicing drops from the end.
QUALITIES: dict[str, tuple[int, ...]] = {
    "maj": (0, 4, 7),
    "min": (0, 3, 7),
    "dim": (0, 3, 6),
    "sus2": (0, 2, 7),
    "sus4": (0, 5, 7),
    "add9": (0, 4, 2, 7),
    "madd9": (0, 3, 2, 7),
    "maj7": (0, 4, 11, 7),
    "min7": (0, 3, 10, 7),
    "7": (0, 4, 10, 7),
    "m7b5": (0, 3, 10, 6),
}

_MAJOR_KEY_NAMES = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_MINOR_KEY_NAMES = ("Cm", "C#m", "Dm", "Ebm", "Em", "Fm", "F#m", "Gm", "G#m", "Am", "Bbm", "Bm")
_MINOR_LIKE = frozenset({"aeolian", "dorian", "phrygian"})


@dataclass(frozen=True, slots=True)
class Chord:
    """A chord on a scale degree: its root pitch class and quality."""

    degree: int  # 0-6, scale degree within the mode it was drawn from
    root: int  # pitch class 0-11
    quality: str

    @property
    def pcs(self) -> tuple[int, ...]:
        """Pitch classes, most important first."""
        return tuple((self.root + i) % 12 for i in QUALITIES[self.quality])

    @property
    def label(self) -> str:
        """``"D min7"``: the text of the chord marker after ``chord``."""
        return f"{PITCH_CLASS_NAMES[self.root]} {self.quality}"


def pc_name(pc: int) -> str:
    return PITCH_CLASS_NAMES[pc % 12]


def pc_from_name(name: str) -> int:
    """Pitch class of a name from PITCH_CLASS_NAMES; ValueError otherwise."""
    try:
        return PITCH_CLASS_NAMES.index(name)
    except ValueError:
        raise ValueError(f"unknown pitch class name {name!r}") from None


@lru_cache(maxsize=None)
def scale_pcs(key: int, mode: str) -> tuple[int, ...]:
    """The seven pitch classes of `mode` on `key`, by degree."""
    return tuple((key + s) % 12 for s in MODE_STEPS[mode])


def scale_degree(pitch: int, scale: Collection[int]) -> float:
    """`pitch`'s position in scale steps of `scale` (its pitch classes); a chromatic pitch sits
    half-way between its neighbours."""
    octave, pc = divmod(pitch, 12)
    return octave * len(scale) + sum(1 for q in scale if q < pc) - (0.0 if pc in scale else 0.5)


@lru_cache(maxsize=None)
def chord_colors(key: int, mode: str, degree: int) -> tuple[tuple[Chord, float], ...]:
    """The chords that fit `mode` on `degree`, with their relative weights.

    Triads and sevenths stacked from the scale, plus sus2/sus4/add9 where the mode provides the
    needed second or fourth with a perfect fifth. Diminished chords lean to the softer m7b5.
    """
    steps = MODE_STEPS[mode]

    def above(n: int) -> int:
        return (steps[(degree + n) % 7] - steps[degree]) % 12

    root = (key + steps[degree]) % 12
    second, third, fourth, fifth, seventh = above(1), above(2), above(3), above(4), above(6)
    triad = {(4, 7): "maj", (3, 7): "min", (3, 6): "dim"}[(third, fifth)]
    sevenths = {("maj", 11): "maj7", ("maj", 10): "7", ("min", 10): "min7", ("dim", 10): "m7b5"}
    colors: list[tuple[str, float]] = []
    if triad == "dim":
        colors += [("dim", 0.25), (sevenths[(triad, seventh)], 0.75)]
    else:
        colors += [(triad, 1.0)]
        if (triad, seventh) in sevenths:
            colors.append((sevenths[(triad, seventh)], 0.7))
        if second == 2:
            colors.append(("add9" if triad == "maj" else "madd9", 0.6))
            colors.append(("sus2", 0.45))
        if fourth == 5:
            colors.append(("sus4", 0.3))
    return tuple((Chord(degree, root, q), w) for q, w in colors)


def key_signature_name(key: int, mode: str) -> str:
    """The MIDI key signature (mido's name) with the accidentals of `mode` on `key`.

    A MIDI key signature knows only major and minor, so the modal key is written with the
    signature of its parent scale: as the relative minor for the minor-like modes (D dorian: "Am",
    no accidentals) and as the parent major for the others (F lydian: "C").
    """
    parent = (key - PARENT_OFFSET[mode]) % 12
    if mode in _MINOR_LIKE:
        return _MINOR_KEY_NAMES[(parent + 9) % 12]
    return _MAJOR_KEY_NAMES[parent]
