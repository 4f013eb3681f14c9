"""Music styles (epic, pop, dark, gregorian, fantasy, gladiator, emotional) loaded from data.

The styles live in assets/music_styles.json; this module turns an entry into a typed `MusicStyle`
and knows the music theory the entries refer to (keys, modes, roman-numeral chords).
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path

from core.errors import InputError

STYLES_PATH = Path(__file__).resolve().parents[2] / "assets" / "music_styles.json"

# Semitones of each scale degree above the tonic.
MODES = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
}
PITCH_CLASSES = {"C": 0, "C#": 1, "Db": 1, "D": 2, "D#": 3, "Eb": 3, "E": 4, "F": 5, "F#": 6, "Gb": 6,
                 "G": 7, "G#": 8, "Ab": 8, "A": 9, "A#": 10, "Bb": 10, "B": 11}
ROMAN = {"i": 0, "ii": 1, "iii": 2, "iv": 3, "v": 4, "vi": 5, "vii": 6}
SECTION_KINDS = ("intro", "verse", "chorus", "bridge", "outro")
ROLES = ("pad", "pad_high", "ostinato", "arpeggio", "stabs", "bass", "timpani", "drums")


@dataclass(frozen=True)
class Part:
    """One instrument line inside a stem."""

    # General MIDI program 0..127 (ignored for drums).
    program: int
    # How it plays the chords: one of ROLES.
    role: str
    # Octave of its lowest note (MIDI octave: 4 is middle C's).
    octave: int
    # Base MIDI velocity 1..127 before the section's dynamic scale.
    velocity: int
    # True for the General MIDI drum kit (channel 10).
    is_drum: bool = False
    # Section kinds it plays in; empty = all.
    sections: tuple[str, ...] = ()


@dataclass(frozen=True)
class MusicStyle:
    # Key in assets/music_styles.json ("epic").
    name: str
    # What the user sees ("Epic").
    label: str
    # Allowed tempo (low, high) in beats per minute, and the default.
    bpm_range: tuple[int, int]
    bpm: int
    # Tonic name ("D") and mode (major, minor, dorian).
    key: str
    mode: str
    # Section kind -> list of progressions (each a list of roman numerals, one chord per bar).
    progressions: dict[str, tuple[tuple[str, ...], ...]]
    # Stem name -> the parts that are mixed into it.
    stems: dict[str, tuple[Part, ...]]
    # Role -> 16th-note steps (0..15) of a 4/4 bar on which it plays.
    rhythms: dict[str, tuple[int, ...]]
    # Kit name -> {GM drum note: steps}.
    drums: dict[str, dict[int, tuple[int, ...]]]
    # Section kind -> kit name.
    drum_level: dict[str, str]
    # Section kind -> velocity scale (the dynamic arc).
    dynamics: dict[str, float]
    # Default vocal style for songs in this style.
    vocal_style: str
    # Word banks for the offline lyric writer: nouns, adjectives, verbs, end_words.
    words: dict[str, tuple[str, ...]]

    @property
    def tonic_pc(self) -> int:
        return PITCH_CLASSES[self.key]

    @property
    def scale(self) -> tuple[int, ...]:
        return MODES[self.mode]

    @property
    def key_name(self) -> str:
        return f"{self.key} {self.mode}"


_CHORD = re.compile(r"^(b|#)?(vii|vi|v|iv|iii|ii|i)(o)?(7)?$", re.IGNORECASE)


def chord_pitch_classes(numeral: str, tonic_pc: int, mode: str) -> tuple[int, ...]:
    """Pitch classes (root first) of a roman-numeral chord in a key: "VI" in D minor -> (10, 2, 5)."""
    m = _CHORD.match(numeral.strip())
    if not m:
        raise InputError(f"chord {numeral!r} is not a roman numeral such as I, vi, bVII, iio")
    accidental, roman, dim, seventh = m.groups()
    degree = ROMAN[roman.lower()]
    root = (tonic_pc + MODES[mode][degree] + {"b": -1, "#": 1, None: 0}[accidental]) % 12
    if dim:
        third, fifth = 3, 6
    elif roman.isupper():
        third, fifth = 4, 7
    else:
        third, fifth = 3, 7
    pcs = [root, (root + third) % 12, (root + fifth) % 12]
    if seventh:
        pcs.append((root + (11 if roman.isupper() and not dim else 10)) % 12)
    return tuple(pcs)


def _part(d: dict, where: str) -> Part:
    role = d.get("role", "")
    if role not in ROLES:
        raise ValueError(f"{where}: role {role!r} is not one of {ROLES}")
    return Part(program=int(d.get("program", 0)), role=role, octave=int(d.get("octave", 3)),
                velocity=int(d.get("velocity", 80)), is_drum=bool(d.get("drums", False)),
                sections=tuple(d.get("sections", ())))


@functools.lru_cache(maxsize=1)
def _raw() -> dict:
    return json.loads(STYLES_PATH.read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=1)
def styles() -> dict[str, MusicStyle]:
    out = {}
    for name, d in _raw().items():
        if name.startswith("_"):
            continue
        style = MusicStyle(
            name=name, label=d["label"], bpm_range=(int(d["bpm_range"][0]), int(d["bpm_range"][1])),
            bpm=int(d["bpm"]), key=d["key"], mode=d["mode"],
            progressions={k: tuple(tuple(p) for p in v) for k, v in d["progressions"].items()},
            stems={s: tuple(_part(p, f"{name}.{s}") for p in parts) for s, parts in d["stems"].items()},
            rhythms={k: tuple(v) for k, v in d["rhythms"].items()},
            drums={kit: {int(n): tuple(steps) for n, steps in notes.items()} for kit, notes in d["drums"].items()},
            drum_level=dict(d["drum_level"]), dynamics={k: float(v) for k, v in d["dynamics"].items()},
            vocal_style=d["vocal_style"], words={k: tuple(v) for k, v in d.get("words", {}).items()},
        )
        for prog in style.progressions.values():  # fail at load, not mid-song
            for p in prog:
                for numeral in p:
                    chord_pitch_classes(numeral, style.tonic_pc, style.mode)
        out[name] = style
    return out


def moods() -> dict[str, dict[str, tuple[str, ...]]]:
    """Mood name -> extra word banks (adjectives, verbs) for the lyric writer."""
    return {m: {k: tuple(v) for k, v in d.items()} for m, d in _raw().get("_moods", {}).items()}


def style_names() -> list[str]:
    return list(styles())


def get_style(name: str | None) -> MusicStyle:
    """The style called `name` (case-insensitive); unknown names raise InputError listing the styles."""
    key = (name or "").strip().lower()
    try:
        return styles()[key]
    except KeyError:
        raise InputError(f"unknown music style {name!r}; choose one of: {', '.join(styles())}") from None
