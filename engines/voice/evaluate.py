"""Quality figures for any speech output: similarity to the voice's reference, whether it says
its words (the speech recogniser's word error rate), loudness, peak and clipping, and an estimate
of signal to noise."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.audio import Audio
from core.errors import BackendUnavailable
from engines.voice.effects import integrated_loudness


def level_figures(audio: Audio) -> dict:
    y = audio.samples.astype(np.float64)
    mono = y.mean(axis=1) if y.ndim == 2 else y
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    hop, win = audio.sample_rate // 100, audio.sample_rate // 40
    if len(mono) > win:
        frames = np.lib.stride_tricks.sliding_window_view(mono, win)[::hop]
        db = 10 * np.log10((frames ** 2).mean(axis=1) + 1e-12)
        # Digital silence would make this infinite: report at most 90 dB.
        snr = min(90.0, float(np.percentile(db, 95) - max(np.percentile(db, 10), -120.0)))
    else:
        snr = 0.0
    return {
        "duration_s": round(audio.duration_s, 3),
        "loudness_lufs": round(integrated_loudness(audio), 2),
        "peak_dbfs": round(float(20 * np.log10(peak + 1e-12)), 2),
        "clipped_fraction": round(float(np.mean(np.abs(y) >= 0.999)), 5),
        "snr_db": round(snr, 1),
    }


def evaluate(audio: Audio, reference_embedding: np.ndarray | None = None) -> dict:
    """All figures; `similarity` (cosine of resemblyzer embeddings, 0..1) when a reference is given."""
    out = level_figures(audio)
    if reference_embedding is not None:
        from engines.voice.similarity import similarity, speaker_embedding

        out["similarity"] = round(float(similarity(speaker_embedding(audio), reference_embedding)), 4)
    return out


# The recogniser listens to at most this much of a speech (seconds of sentences from the start).
WORDS_CHECK_S = 30.0
# Silence between sentences when they are joined for the recogniser.
_GAP_S = 0.25


@dataclass
class Heard:
    """What the recogniser heard in the first `len(texts)` takes of a speech."""

    texts: list[str]
    heard: list[str]
    checked_s: float

    def take_error_rates(self) -> list[float]:
        from engines import asr

        return [asr.word_error_rate(t, h) for t, h in zip(self.texts, self.heard)]

    def figures(self) -> dict:
        from engines import asr

        heard = " ".join(h for h in self.heard if h)
        return {"word_error_rate": round(asr.word_error_rate(" ".join(self.texts), heard), 3),
                "words_heard": heard[:500], "words_checked_s": round(self.checked_s, 2)}


def checked_count(takes, limit_s: float = WORDS_CHECK_S) -> int:
    """How many takes from the start `listen` hears: the first, then those that fit in `limit_s` seconds."""
    n, t = 0, 0.0
    for take in takes:
        if n and t + take.audio.duration_s > limit_s:
            break
        n += 1
        t += take.audio.duration_s + _GAP_S
    return n


def listen(takes, language: str, settings, limit_s: float = WORDS_CHECK_S) -> Heard:
    """Recognise the words of the takes (objects with `.text` and `.audio`) that fit in `limit_s`
    seconds, in one pass: the takes are joined with short silences and each recognised word goes
    to the take it falls in. Raises BackendUnavailable, or ValueError for an unknown language."""
    from engines import asr

    parts, texts, spans, t = [], [], [], 0.0
    gap = np.zeros(int(_GAP_S * 16_000), np.float32)
    for take in takes[:checked_count(takes, limit_s)]:
        x = take.audio.mono().resampled(16_000).samples.astype(np.float32)
        spans.append((t, t + len(x) / 16_000))
        parts += [x, gap]
        texts.append(take.text)
        t += (len(x) + len(gap)) / 16_000
    if not parts:
        return Heard([], [], 0.0)
    result = asr.transcribe(Audio(np.concatenate(parts), 16_000), settings, language=language, beam_size=1,
                            word_timestamps=True)
    heard: list[list[str]] = [[] for _ in spans]
    for w in result.words():
        mid = (w.start_s + w.end_s) / 2
        i = next((k for k, (a, b) in enumerate(spans) if mid < b + _GAP_S / 2), len(spans) - 1)
        heard[i].append(w.text)
    return Heard(texts, [" ".join(h).strip() for h in heard], sum(b - a for a, b in spans))


def words_figures(takes, language: str, settings) -> dict:
    """Word error rate of the first WORDS_CHECK_S seconds of sentences (`takes`: objects with
    `.text` and `.audio`), as heard by the speech recogniser; a note instead when it cannot run."""
    try:
        return listen(takes, language, settings).figures() if takes else {}
    except (BackendUnavailable, ValueError) as e:
        return unchecked(e)


def unchecked(error: BackendUnavailable | ValueError) -> dict:
    """The figures when the words could not be checked (no recogniser, or a language it does not
    know), saying why."""
    if isinstance(error, BackendUnavailable):
        return {"word_error_rate": None, "words_note": f"the words were not checked: {error}"}
    return {"word_error_rate": None, "words_note": f"the words were not checked ({error})"}
