"""OpenAI text-to-speech (cloud), or any OpenAI-compatible server reached through OPENAI_BASE_URL.

Uses the `openai` client (`audio.speech.create`) with the key and base URL from Settings, asks for
WAV and decodes it with soundfile. Failures (no key, rejected key, server unreachable, quota) become
BackendUnavailable with a message a user can act on; a request the server refuses becomes InputError.
"""

from __future__ import annotations

import io
import logging

import numpy as np

from core.audio import Audio
from core.errors import BackendUnavailable, InputError
from engines.backend import Availability
from engines.openai_api import base_url, translate_error
from engines.voice.backends.base import SpeechBackend, SpeechRequest

log = logging.getLogger(__name__)

# Speech model used when none is given (settings.openai_model is the chat model, not this one).
DEFAULT_TTS_MODEL = "gpt-4o-mini-tts"
# Built-in voices that both tts-1 and gpt-4o-mini-tts offer; other names are passed through to
# the server (OpenAI-compatible servers have their own voices).
VOICES = ("alloy", "ash", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer")
DEFAULT_VOICE = "alloy"
# The API refuses longer input.
MAX_INPUT_CHARS = 4096
# The API's accepted speaking-rate range.
MIN_SPEED, MAX_SPEED = 0.25, 4.0


class OpenAIBackend(SpeechBackend):
    name = "openai"
    tier = "cloud"
    licence = "OpenAI terms of use"
    requires = ("openai",)

    def __init__(self, model: str = DEFAULT_TTS_MODEL, timeout_s: float = 60.0, max_retries: int = 2) -> None:
        # Speech model name sent to the server.
        self.model = model
        # Seconds to wait for one request before giving up.
        self.timeout_s = timeout_s
        # Retries on connection errors, 429 and 5xx (with the client's back-off).
        self.max_retries = max_retries

    def availability(self, settings) -> Availability:
        installed = super().availability(settings)
        if not installed.available:
            return installed
        if not settings.openai_api_key:
            return Availability(False, "OPENAI_API_KEY is not set")
        return Availability(True, f"{self.model} at {base_url(settings)} (online; checked when used)")

    def presets(self) -> list[str]:
        return list(VOICES)

    def synthesize(self, request: SpeechRequest, settings) -> Audio:
        text = " ".join(request.text.split())
        if not text:
            raise InputError("there is no text to speak")
        if len(text) > MAX_INPUT_CHARS:
            raise InputError(f"this chunk has {len(text)} characters; OpenAI speech takes at most {MAX_INPUT_CHARS}")
        if not settings.openai_api_key:
            raise BackendUnavailable("OPENAI_API_KEY is not set: add a key to use OpenAI voices")
        voice = (request.preset or DEFAULT_VOICE).strip()
        speed = min(max(float(request.speed), MIN_SPEED), MAX_SPEED)
        url, key = base_url(settings), settings.openai_api_key

        import openai

        try:
            with openai.OpenAI(api_key=key, base_url=url,
                               timeout=self.timeout_s, max_retries=self.max_retries) as client:
                response = client.audio.speech.create(model=self.model, voice=voice, input=text,
                                                      response_format="wav", speed=speed)
                data = response.content
        except openai.APIError as e:
            raise translate_error(e, server="speech server", url=url, key=key, model=self.model, endpoint="speech",
                                  timeout_s=self.timeout_s, refused=InputError) from None
        return _decode_wav(data, url)


def _decode_wav(data: bytes, url: str) -> Audio:
    import soundfile as sf

    try:
        samples, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=False)
    except (sf.LibsndfileError, RuntimeError, TypeError) as e:
        raise BackendUnavailable(f"the speech server at {url} did not return WAV audio "
                                 f"({len(data)} bytes that soundfile cannot read)") from e
    if samples.ndim > 1:
        samples = samples.mean(axis=1)
    if samples.size == 0:
        raise BackendUnavailable(f"the speech server at {url} returned empty audio")
    return Audio(np.ascontiguousarray(samples, dtype=np.float32), int(rate))
