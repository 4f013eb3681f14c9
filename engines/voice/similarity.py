"""Speaker similarity: resemblyzer's speaker encoder (weights ship inside the wheel, CPU).

`speaker_embedding(audio)` gives an L2-normalised 256-d d-vector; `similarity(a, b)` is their
cosine. Real speech of one speaker scores ~0.96 against that speaker's other utterances here.
The encoder is loaded once, lazily, through the model registry (key "resemblyzer").
The first call also JIT-compiles resemblyzer's preprocessing (numba): ~20 s once per process.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np

from core.audio import Audio
from core.errors import BackendUnavailable, InputError
from engines.registry import MODELS

log = logging.getLogger(__name__)

# resemblyzer works on 16 kHz audio.
SAMPLE_RATE = 16_000
# Below this much audio after resemblyzer's silence trimming, embed the untrimmed signal instead.
_MIN_TRIMMED_S = 0.5


def _load_encoder():
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # webrtcvad imports the deprecated pkg_resources
            from resemblyzer import VoiceEncoder
    except ImportError as exc:  # pragma: no cover - resemblyzer is a hard dependency
        raise BackendUnavailable(f"resemblyzer is not installed: {exc}") from exc
    return VoiceEncoder(device="cpu", verbose=False)


def encoder():
    """The shared resemblyzer VoiceEncoder (loaded on first use)."""
    return MODELS.get("resemblyzer", _load_encoder)


def speaker_embedding(audio: Audio) -> np.ndarray:
    """256-d L2-normalised speaker embedding of `audio` (any rate, mono or not)."""
    enc = encoder()
    from resemblyzer import preprocess_wav

    mono = audio.mono().resampled(SAMPLE_RATE)
    wav = np.asarray(mono.samples, dtype=np.float32)
    if wav.size < SAMPLE_RATE // 10:
        raise InputError("the audio is too short to measure a voice (under 0.1 s)")
    trimmed = preprocess_wav(wav)  # volume normalisation and silence trimming (16 kHz in and out)
    if trimmed.size >= _MIN_TRIMMED_S * SAMPLE_RATE:
        wav = trimmed
    emb = np.asarray(enc.embed_utterance(wav), dtype=np.float64)
    return emb / (np.linalg.norm(emb) + 1e-12)


def mean_embedding(embeddings: list[np.ndarray]) -> np.ndarray:
    """The L2-normalised mean of several embeddings: a speaker's centroid."""
    if not embeddings:
        raise ValueError("no embeddings to average")
    m = np.mean(np.stack(embeddings), axis=0)
    return m / (np.linalg.norm(m) + 1e-12)


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two embeddings, in [-1, 1]."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))
