"""Quality figures for any speech output: similarity to the voice's reference, whether it says
its words (the speech recogniser's word error rate), loudness, peak and clipping, and an estimate
of signal to noise."""

from __future__ import annotations

import numpy as np

from core.audio import Audio
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


def words_figures(takes, language: str, settings) -> dict:  # noqa: ANN001
    """Word error rate of the first WORDS_CHECK_S seconds of sentences (`takes`: objects with
    `.text` and `.audio`), as heard by the speech recogniser; a note instead when it cannot run."""
    from core.errors import BackendUnavailable
    from engines import asr

    parts, texts, total = [], [], 0.0
    for t in takes:
        if parts and total + t.audio.duration_s > WORDS_CHECK_S:
            break
        parts.append(t.audio.mono().resampled(16_000).samples)
        parts.append(np.zeros(4_000, np.float32))
        texts.append(t.text)
        total += t.audio.duration_s
    if not parts:
        return {}
    try:
        heard = asr.transcribe(Audio(np.concatenate(parts).astype(np.float32), 16_000), settings,
                               language=language, beam_size=1)
    except BackendUnavailable as e:
        return {"word_error_rate": None, "words_note": f"the words were not checked: {e}"}
    except ValueError as e:  # a language the recogniser does not know
        return {"word_error_rate": None, "words_note": f"the words were not checked ({e})"}
    text = " ".join(texts)
    return {"word_error_rate": round(asr.word_error_rate(text, heard.text), 3), "words_heard": heard.text[:500],
            "words_checked_s": round(total, 2)}
