"""Types shared by the parts of the music engine: the sung melody and the singer."""

from __future__ import annotations

from dataclasses import dataclass

# The rate every part of a song is rendered and mixed at, in Hz.
SAMPLE_RATE = 44100


@dataclass(frozen=True)
class SungNote:
    """One note of the vocal melody, placed on the song's timeline."""

    # Onset on the song's timeline, in seconds from the start of the song.
    start_s: float
    # Length of the note in seconds.
    duration_s: float
    # MIDI note number (60 = middle C).
    pitch_midi: int
    # The syllable sung on this note as written ("glo" of "glory").
    syllable: str
    # The whole word the syllable belongs to ("glory").
    word: str
    # Position of the syllable within its word, from 0.
    syllable_index: int = 0
    # True for a melisma: the previous note's syllable keeps sounding, moved to this pitch.
    continues: bool = False
    # Index of the lyric line (over the whole song) this note belongs to.
    line_index: int = 0
    # True on the last note of a phrase (a breath follows).
    phrase_end: bool = False


@dataclass(frozen=True)
class Singer:
    """Whose voice sings: an espeak-ng voice, optionally coloured by a cloned voice profile."""

    # espeak-ng voice for the syllables ("en-us", "en-gb+m3"); "" takes the vocal style's default.
    espeak_voice: str = ""
    # A cloned voice (engines.voice.clone.VoiceModel) whose timbre is applied, or None.
    model: object | None = None
    # What the user sees ("default", "Grandma (profile 3)").
    label: str = "default"
