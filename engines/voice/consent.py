"""Spoken consent: the speaker reads aloud a sentence made for this request.

    text = prompt_text("Ada Lovelace", random_words())
    result = check(recording, text, reference_embedding, transcribe)
    result.ok, result.reason()

The sentence holds the speaker's name, a statement of consent and four words drawn at random (so
an earlier recording cannot be replayed). Two checks, both on the recording:
  * the words: Whisper's transcript against the sentence, word error rate at most MAX_WER;
  * the voice: resemblyzer cosine between the recording and the references' embedding at least
    MIN_SIMILARITY, so the person consenting is the person whose voice is cloned.

MIN_SIMILARITY was chosen on the real speakers of the shared samples (11 English, 1 German; each
held-out utterance against the centroid of three of its speaker's others): the same speaker scored
0.854-0.97 (39 utterances), another speaker at most 0.813 (312 pairs; the highest were two male
VCTK speakers recorded in the same studio), median 0.53. 0.82 separates every pair measured; a
recording made on another microphone than the references may score lower than these, in which
case the speaker records the references and the consent in the same place.
"""

from __future__ import annotations

import functools
import json
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.audio import Audio
from core.errors import InputError

__all__ = ["ConsentCheck", "MAX_WER", "MIN_SIMILARITY", "PROMPT_WORDS", "check", "prompt_text", "random_words"]

WORDS_PATH = Path(__file__).resolve().parents[2] / "assets" / "consent_words.json"
# Word error rate allowed between the sentence and what the recogniser heard.
MAX_WER = 0.2
# Lowest speaker similarity between the consent recording and the references (see above).
MIN_SIMILARITY = 0.82
# Random words per prompt.
PROMPT_WORDS = 4
# The shortest and longest consent recording accepted, seconds.
MIN_RECORDING_S, MAX_RECORDING_S = 2.0, 60.0

Transcriber = Callable[[Audio, str], str]


@functools.lru_cache(maxsize=1)
def _words() -> tuple[str, ...]:
    return tuple(json.loads(WORDS_PATH.read_text(encoding="utf-8"))["words"])


def random_words(n: int = PROMPT_WORDS) -> list[str]:
    """n different words from the list, drawn with the system's secure random source."""
    words = list(_words())
    out = []
    for _ in range(n):
        out.append(words.pop(secrets.randbelow(len(words))))
    return out


def prompt_text(speaker: str, words: Sequence[str]) -> str:
    """The sentence to read: name, consent statement, then the random words."""
    name = re.sub(r"\s+", " ", speaker or "").strip()
    if not name or len(name) > 80 or not re.search(r"[^\W\d_]", name):
        raise InputError("give the speaker's name (1 to 80 characters, with letters), as they will say it")
    return (f"My name is {name}, and I agree that my voice may be cloned in this studio. "
            f"{', '.join(w.capitalize() if i == 0 else w for i, w in enumerate(words))}.")


@dataclass(frozen=True)
class ConsentCheck:
    prompt: str
    heard: str
    wer: float
    similarity: float

    @property
    def words_ok(self) -> bool:
        return self.wer <= MAX_WER

    @property
    def voice_ok(self) -> bool:
        return self.similarity >= MIN_SIMILARITY

    @property
    def ok(self) -> bool:
        return self.words_ok and self.voice_ok

    def reason(self) -> str:
        """What failed, in words a speaker can act on ("" when both checks pass)."""
        problems = []
        if not self.words_ok:
            problems.append(f"the recording does not say the consent sentence (heard \"{self.heard[:160]}\"; "
                            f"word error {self.wer:.2f}, at most {MAX_WER} allowed): read exactly the sentence "
                            "shown for this request")
        if not self.voice_ok:
            problems.append(f"the voice in the consent recording is not the voice of the references "
                            f"(similarity {self.similarity:.2f}, at least {MIN_SIMILARITY} needed): the person "
                            "whose voice is cloned must read the sentence")
        return "; ".join(problems)

    def record(self) -> dict:
        return {"prompt": self.prompt, "heard": self.heard, "wer": round(self.wer, 4),
                "similarity": round(self.similarity, 4), "max_wer": MAX_WER, "min_similarity": MIN_SIMILARITY}


def check(recording: Audio, prompt: str, reference_embedding: np.ndarray, transcribe: Transcriber,
          language: str = "en") -> ConsentCheck:
    """Both checks on a consent recording (mono or not, any rate)."""
    from engines.asr import word_error_rate
    from engines.voice.similarity import similarity, speaker_embedding

    d = recording.duration_s
    if not MIN_RECORDING_S <= d <= MAX_RECORDING_S:
        raise InputError(f"the consent recording lasts {d:.1f} s; record the sentence in "
                         f"{MIN_RECORDING_S:.0f} to {MAX_RECORDING_S:.0f} s")
    mono = recording.mono()
    heard = transcribe(mono, language).strip()
    wer = word_error_rate(prompt, heard) if heard else 1.0
    sim = float(similarity(speaker_embedding(mono), np.asarray(reference_embedding, dtype=np.float64)))
    return ConsentCheck(prompt=prompt, heard=heard, wer=float(wer), similarity=sim)
