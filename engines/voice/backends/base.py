"""The interface every speech backend implements (embedded espeak-ng, Bark, OpenAI, gTTS)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from core.audio import Audio
from engines.capabilities import Availability


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


class SpeechBackend(ABC):
    # Short stable name used in the API: "embedded", "bark", "openai", "gtts".
    name: str
    # "embedded" (CPU, nothing downloaded), "neural" (local weights) or "cloud" (a remote service).
    tier: str
    # Licence of the model or service, stored with each generation.
    licence: str
    # Model id (or "" when the backend has no model).
    model: str = ""
    # Whether speaking the same text again can come out differently (then a sentence heard wrongly
    # by the speech recogniser is worth one more take).
    varies: bool = False

    @abstractmethod
    def availability(self, settings) -> Availability:  # noqa: ANN001  (settings.Settings)
        """Cheap check (no model load): can this backend run here, and if not, why not."""

    @abstractmethod
    def synthesize(self, request: SpeechRequest, settings) -> Audio:  # noqa: ANN001
        """Speak one chunk. Raises BackendUnavailable (missing weights, key, network) or InputError."""

    def presets(self) -> list[str]:
        """Preset voices this backend offers."""
        return []

    def supports(self, language: str) -> bool:  # noqa: ARG002
        """Whether this backend speaks `language` (a BCP-47-ish code); most speak many."""
        return True
