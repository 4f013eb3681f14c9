"""espeak-ng: the embedded speech synthesiser (CPU, nothing downloaded, ~100 languages).

Called as a subprocess writing WAV to stdout; the text goes through stdin, never the command line.
"""

from __future__ import annotations

import functools
import io
import logging
import re
import shutil
import subprocess

import numpy as np
import soundfile as sf

from core.audio import Audio
from core.errors import BackendUnavailable, InputError

log = logging.getLogger(__name__)

BINARY = "espeak-ng"
# espeak's own default rate, in words per minute; speed=1.0 maps to it.
BASE_WPM = 165
SAMPLE_RATE = 22050


def available() -> bool:
    return shutil.which(BINARY) is not None


@functools.lru_cache(maxsize=1)
def voices() -> dict[str, str]:
    """Language/voice code -> description, e.g. {"en-us": "English_(America)", ...}."""
    if not available():
        return {}
    out = subprocess.run([BINARY, "--voices"], capture_output=True, text=True, timeout=30).stdout
    table = {}
    for line in out.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 4:
            table[parts[1]] = parts[3]
    return table


@functools.lru_cache(maxsize=1)
def variants() -> list[str]:
    """Voice variants (timbres) such as "f2", "m3", "klatt", usable as "en-us+f2"."""
    if not available():
        return []
    out = subprocess.run([BINARY, "--voices=variant"], capture_output=True, text=True, timeout=30).stdout
    names = []
    for line in out.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 5:
            names.append(parts[4].split("/")[-1])
    return names


def check_voice(voice: str) -> str:
    """Validate "lang" or "lang+variant"; raise InputError naming what is allowed."""
    lang, _, variant = voice.partition("+")
    if lang not in voices():
        close = sorted(v for v in voices() if v.split("-")[0] == lang.split("-")[0])[:8]
        hint = f" Close matches: {', '.join(close)}." if close else " See /list_voices for the languages."
        raise InputError(f"language or voice {lang!r} is not supported by the embedded engine.{hint}")
    if variant and variant not in variants():
        raise InputError(f"voice variant {variant!r} is unknown; e.g. m1..m7, f1..f5, klatt")
    return voice


def synthesize(text: str, voice: str = "en-us", speed: float = 1.0, pitch: int = 50,
               word_gap_10ms: int = 0) -> Audio:
    """Speak `text` with espeak-ng. `speed` multiplies 165 wpm; `pitch` is espeak's 0..99 scale."""
    if not available():
        raise BackendUnavailable("espeak-ng is not installed (Debian package espeak-ng)")
    check_voice(voice)
    text = re.sub(r"\s+", " ", text).strip()
    if not text:
        raise InputError("there is no text to speak")
    wpm = int(round(min(max(BASE_WPM * speed, 80), 450)))
    cmd = [BINARY, "-v", voice, "-s", str(wpm), "-p", str(int(min(max(pitch, 0), 99))),
           "-g", str(max(0, int(word_gap_10ms))), "--stdout", "-b", "1"]
    r = subprocess.run(cmd, input=text.encode("utf-8"), capture_output=True, timeout=120)
    if r.returncode != 0 or len(r.stdout) < 44:
        raise BackendUnavailable(f"espeak-ng failed: {r.stderr.decode('utf-8', 'replace').strip()[:200]}")
    y, sr = sf.read(io.BytesIO(r.stdout), dtype="float32")
    if y.ndim > 1:
        y = y.mean(axis=1)
    return Audio(np.ascontiguousarray(y, dtype=np.float32), int(sr))
