"""The embedded speech backend: espeak-ng, on the CPU, nothing downloaded."""

from __future__ import annotations

from core.audio import Audio
from engines.backend import Availability
from engines.voice import espeak
from engines.voice.backends.base import SpeechBackend, SpeechRequest

# Short language codes the UI offers first; any espeak-ng voice code works.
COMMON = ["en-us", "en-gb", "de", "fr", "es", "it", "pt", "nl", "sv", "pl", "ru", "tr", "ja", "cmn", "hi", "ar"]


class EmbeddedBackend(SpeechBackend):
    name = "embedded"
    tier = "embedded"
    licence = "GPL-3.0-or-later (espeak-ng)"
    model = "espeak-ng"

    def availability(self, settings) -> Availability:
        if not espeak.available():
            return Availability(False, "espeak-ng is not installed (Debian package espeak-ng)")
        return Availability(True, f"espeak-ng, {len(espeak.voices())} languages")

    def synthesize(self, request: SpeechRequest, settings) -> Audio:
        voice = request.preset or request.language or "en-us"
        return espeak.synthesize(request.text, voice=voice, speed=request.speed)

    def presets(self) -> list[str]:
        have = espeak.voices()
        return [v for v in COMMON if v in have] + sorted(v for v in have if v not in COMMON)
