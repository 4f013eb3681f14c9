"""What the recogniser returns: text, language, and segments of timed words."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Word:
    text: str
    # Seconds from the start of the audio.
    start_s: float
    end_s: float
    # The recogniser's confidence in this word, 0..1.
    probability: float = 1.0


@dataclass(frozen=True)
class Segment:
    text: str
    start_s: float
    end_s: float
    # Empty unless word timestamps were asked for.
    words: tuple[Word, ...] = ()
    # Probability that the segment holds no speech (Whisper's estimate), 0..1.
    no_speech_prob: float = 0.0


@dataclass(frozen=True)
class Transcript:
    text: str
    # ISO 639-1 code detected (or the one given), e.g. "en", "de".
    language: str
    language_probability: float
    segments: tuple[Segment, ...] = field(default_factory=tuple)
    # Length of the audio that was transcribed, seconds.
    duration_s: float = 0.0
    # The model that listened, e.g. "whisper-base (int8, cpu)".
    model: str = ""

    def words(self) -> list[Word]:
        return [w for s in self.segments for w in s.words]
