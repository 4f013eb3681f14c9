"""What a speech backend adds to the backend contract (embedded espeak-ng, Piper, Bark, OpenAI, gTTS)."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass

from core.audio import Audio
from engines.backend import Backend


@dataclass(frozen=True)
class SpeechRequest:
    # One chunk of text (a sentence or a few), already checked: non-empty, within limits.
    text: str
    # BCP-47-ish language code: "en", "en-us", "de", "fr" ...
    language: str = "en"
    # A backend-specific preset ("v2/en_speaker_6" for Bark, "alloy" for OpenAI); "" = the backend's default.
    preset: str = ""
    # Speaking-rate multiplier; 1.0 is the backend's natural rate.
    speed: float = 1.0


class SpeechBackend(Backend):
    """A voice: one chunk of text in, speech out."""

    kind = "voice"
    # Whether speaking the same text again can come out differently (then a sentence heard wrongly
    # by the speech recogniser is worth one more take).
    varies: bool = False

    @abstractmethod
    def synthesize(self, request: SpeechRequest, settings) -> Audio:
        """Speak one chunk. Raises BackendUnavailable (missing weights, key, network) or InputError."""

    def presets(self) -> list[str]:
        """Preset voices this backend offers."""
        return []

    def supports(self, language: str) -> bool:
        """Whether this backend speaks `language` (a BCP-47-ish code); most speak many."""
        return True
