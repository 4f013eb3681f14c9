"""The embedded neural English voice: Piper's en_US-joe-medium (VITS, ONNX, CPU), shipped as a
package, so nothing is downloaded. Other languages speak through espeak-ng (the embedded backend)."""

from __future__ import annotations

from core.audio import Audio
from core.errors import BackendUnavailable
from engines.backend import Availability
from engines.voice import piper
from engines.voice.backends.base import SpeechBackend, SpeechRequest


class PiperBackend(SpeechBackend):
    name = "piper"
    tier = "embedded"
    licence = piper.LICENCES[piper.DEFAULT_VOICE]
    model = f"Piper {piper.DEFAULT_VOICE}"
    varies = True

    def availability(self, settings) -> Availability:
        ok, reason = piper.available(getattr(settings, "models_dir", None))
        return Availability(ok, reason + ("; English only" if ok else ""))

    def supports(self, language: str) -> bool:
        return (language or "en").lower().split("-")[0] == "en"

    def synthesize(self, request: SpeechRequest, settings) -> Audio:
        if not self.supports(request.language):
            raise BackendUnavailable(f"the Piper voice speaks English only, not {request.language!r}")
        voice = piper.find_voice(getattr(settings, "models_dir", None))
        if voice is None:
            raise BackendUnavailable(self.availability(settings).reason)
        return piper.synthesize(request.text, voice, speed=request.speed)

    def presets(self) -> list[str]:
        return [piper.DEFAULT_VOICE]
