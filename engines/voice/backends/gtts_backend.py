"""gTTS: Google Translate's text-to-speech voice (cloud, online only, no key).

gTTS posts the text to translate.google.<tld> in parts of at most 100 characters and gets one MP3
per part. Each part is decoded on its own with soundfile (libsndfile 1.1+ reads MP3), else with
ffmpeg: libsndfile stops at the first part's end when MP3 streams are simply joined. The pinned gTTS
(2.2.4, see requirements) has no timeout, so each call runs in a worker thread with a deadline: a
closed or black-holed network gives a clear BackendUnavailable instead of a hung job.
"""

from __future__ import annotations

import importlib.util
import inspect
import io
import logging
import shutil
import subprocess
import threading

import numpy as np

from core.audio import Audio
from core.errors import BackendUnavailable, InputError
from engines.backend import Availability
from engines.voice.backends.base import SpeechBackend, SpeechRequest

log = logging.getLogger(__name__)

ONLINE_NOTE = "gTTS needs internet access to Google's servers (translate.google.com)"
# Presets are Google Translate domains, which give localised accents (en + co.uk = British English).
ACCENT_TLDS = ("com", "us", "co.uk", "com.au", "ca", "co.in", "ie", "co.za", "fr", "com.br", "pt", "com.mx", "es")
# Region part of the request's language -> the domain that speaks with that accent.
REGION_TLDS = {
    "en-gb": "co.uk", "en-uk": "co.uk", "en-au": "com.au", "en-ca": "ca", "en-in": "co.in", "en-ie": "ie",
    "en-za": "co.za", "fr-ca": "ca", "fr-fr": "fr", "pt-br": "com.br", "pt-pt": "pt", "es-mx": "com.mx",
    "es-es": "es",
}
# Current codes -> the codes Google Translate still uses.
LANGUAGE_ALIASES = {"he": "iw", "jv": "jw", "nb": "no", "fil": "tl", "zh-hans": "zh-CN", "zh-hant": "zh-TW"}
# gTTS only has "normal" and "slow"; slow is used below this speed.
SLOW_BELOW = 0.75
# MP3 from Google is 24 kHz mono; used when ffmpeg decodes it.
SAMPLE_RATE = 24_000


class GTTSBackend(SpeechBackend):
    name = "gtts"
    tier = "cloud"
    licence = "Google Translate TTS terms"
    model = "Google Translate TTS"
    # It sends the text to Google: used only when named.
    auto = False

    def __init__(self, timeout_s: float = 30.0) -> None:
        # Longest wait for Google's answer (the whole chunk, all its parts), in seconds.
        self.timeout_s = timeout_s

    def availability(self, settings) -> Availability:
        if importlib.util.find_spec("gtts") is None:
            return Availability(False, "the gTTS package is not installed (pip install -r requirements.txt)")
        return Availability(True, f"online only: {ONLINE_NOTE}; the connection is not checked until used")

    def presets(self) -> list[str]:
        return list(ACCENT_TLDS)

    def synthesize(self, request: SpeechRequest, settings) -> Audio:
        text = " ".join(request.text.split())
        if not text:
            raise InputError("there is no text to speak")
        if importlib.util.find_spec("gtts") is None:
            raise BackendUnavailable("the gTTS package is not installed")
        from gtts import gTTS

        lang, tld = self._language_and_domain(request)
        options = {"text": text, "lang": lang, "tld": tld, "slow": request.speed < SLOW_BELOW}
        if "timeout" in inspect.signature(gTTS.__init__).parameters:  # gTTS >= 2.5
            options["timeout"] = self.timeout_s
        try:
            tts = gTTS(**options)
        except ValueError as e:  # "Language not supported: xx"
            raise InputError(f"gTTS does not speak {request.language!r}") from e
        return Audio.concat([decode_mp3(part) for part in self._fetch(tts, tld)])

    def _language_and_domain(self, request: SpeechRequest) -> tuple[str, str]:
        from gtts.lang import tts_langs

        code = (request.language or "en").strip().replace("_", "-").lower()
        langs = {k.lower(): k for k in tts_langs()}
        base = code.split("-")[0]
        alias = LANGUAGE_ALIASES.get(code) or LANGUAGE_ALIASES.get(base)
        lang = langs.get(code) or alias or langs.get(base)
        if lang is None:
            raise InputError(f"gTTS does not speak {request.language!r}; "
                             f"it speaks e.g. {', '.join(sorted(langs)[:12])} ...")
        preset = (request.preset or "").strip().lower()
        if preset and preset not in ACCENT_TLDS:
            raise InputError(f"unknown gTTS accent {request.preset!r}: use one of {', '.join(ACCENT_TLDS)}")
        return lang, preset or REGION_TLDS.get(code, "com")

    def _fetch(self, tts, tld: str) -> list[bytes]:
        """The MP3 of each text part. Runs gTTS in a worker thread and gives up after timeout_s
        (the abandoned thread ends when its socket does)."""
        outcome: dict = {}

        def work() -> None:
            try:
                outcome["mp3"] = [part for part in tts.stream() if part]
            except Exception as e:  # handed to the caller's thread below
                outcome["error"] = e

        worker = threading.Thread(target=work, name="gtts-request", daemon=True)
        worker.start()
        worker.join(self.timeout_s)
        host = f"translate.google.{tld}"
        if worker.is_alive():
            raise BackendUnavailable(f"{ONLINE_NOTE}: {host} did not answer within {self.timeout_s:g} s")
        error = outcome.get("error")
        if error is not None:
            from gtts.tts import gTTSError

            if isinstance(error, gTTSError):
                raise BackendUnavailable(f"{ONLINE_NOTE}: the request to {host} failed ({error})") from error
            if isinstance(error, OSError):  # network errors that escape gTTS's own wrapping
                raise BackendUnavailable(f"{ONLINE_NOTE}: {host} could not be reached ({error})") from error
            raise error
        parts = outcome.get("mp3", [])
        if not parts:
            raise BackendUnavailable(f"{ONLINE_NOTE}: {host} answered without audio")
        return parts


def decode_mp3(data: bytes) -> Audio:
    """Decode one MP3 stream to mono float32 at its own rate (24 kHz from Google)."""
    import soundfile as sf

    try:
        samples, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=False)
    except (sf.LibsndfileError, RuntimeError, TypeError) as e:
        log.info("soundfile cannot read this MP3 (%s); trying ffmpeg", e)
        samples, rate = _ffmpeg_decode(data), SAMPLE_RATE
    if samples.ndim > 1:
        samples = samples.mean(axis=1)
    if samples.size == 0:
        raise BackendUnavailable("gTTS returned empty audio")
    return Audio(np.ascontiguousarray(samples, dtype=np.float32), int(rate))


def _ffmpeg_decode(data: bytes) -> np.ndarray:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise BackendUnavailable("cannot decode gTTS's MP3: soundfile lacks MP3 support and ffmpeg is not installed")
    r = subprocess.run([ffmpeg, "-v", "error", "-i", "pipe:0", "-f", "f32le", "-ac", "1", "-ar", str(SAMPLE_RATE),
                        "pipe:1"], input=data, capture_output=True, timeout=60)
    if r.returncode != 0:
        raise BackendUnavailable("gTTS returned audio ffmpeg cannot decode: "
                                 f"{r.stderr.decode('utf-8', 'replace')[:200]}")
    return np.frombuffer(r.stdout, dtype="<f4").copy()
