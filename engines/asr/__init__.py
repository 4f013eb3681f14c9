"""Speech recognition: Whisper through faster-whisper (CTranslate2), on the CPU or a GPU.

    transcript = transcribe(audio, settings, language=None, word_timestamps=True)
    transcript.text, transcript.language, transcript.words()
    word_error_rate("the text asked for", transcript.text)

Used for the transcripts of reference clips, the intelligibility figure of every generated
speech (next to its similarity), captions from the audio, and the spoken consent check.
The model is found and loaded lazily through the model registry (engines.asr.whisper).
"""

from __future__ import annotations

from engines.asr.types import Segment, Transcript, Word
from engines.asr.wer import normalise_words, word_error_rate
from engines.asr.whisper import available, describe, transcribe

__all__ = ["Segment", "Transcript", "Word", "available", "describe", "normalise_words", "transcribe",
           "word_error_rate"]
