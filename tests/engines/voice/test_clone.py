"""Voice cloning (espeak-ng + WORLD), the acceptance bar of the issue, on the two real speakers:

clone from 3 reference utterances, speak new sentences, and the clone must score at least 0.70
(resemblyzer cosine to the mean embedding of the speaker's OTHER utterances) and be closer to its own
speaker than to the other one for every sentence. Also: the model round-trips through bytes and
refuses too little speech. Takes ~60 s (the first resemblyzer call JIT-compiles for ~20 s).
"""

from __future__ import annotations

import numpy as np
import pytest

from engines.audio import Audio
from engines.errors import InputError
from engines.voice import clone
from engines.voice.similarity import mean_embedding, similarity, speaker_embedding

SPEAKERS = ("librispeech-1688", "librispeech-1998")
# New sentences (8-15 words), not in the references and not used while tuning the method.
SENTENCES = (
    "The little boat drifted past the harbor lights as the evening grew cold.",
    "Nobody in the village remembered who had planted the tall oak tree.",
    "Fresh coffee and warm pastries were waiting for the guests in the hall.",
)


def utterances(samples, speaker: str) -> list[Audio]:
    return [Audio.read(p) for p in sorted((samples / "voices" / speaker).glob("*.flac"))]


@pytest.fixture(scope="module")
def encoder():
    """The resemblyzer encoder, loaded and warmed up (numba JIT) once for the module."""
    from engines.voice.similarity import encoder as load

    enc = load()
    speaker_embedding(Audio(np.random.default_rng(0).normal(0, 0.05, 16_000).astype(np.float32), 16_000))
    return enc


_VOICES: dict = {}


@pytest.fixture
def voices(samples, encoder) -> dict:
    """Per speaker: the voice model (from utterances 0-2) and the centroid of utterances 3-9.
    Built once for the module (analysis takes ~15 s per speaker)."""
    if not _VOICES:
        for speaker in SPEAKERS:
            clips = utterances(samples, speaker)
            assert len(clips) >= 10
            _VOICES[speaker] = {
                "model": clone.analyse(clips[:3]),
                "centroid": mean_embedding([speaker_embedding(a) for a in clips[3:]]),
            }
    return _VOICES


@pytest.mark.parametrize("speaker", SPEAKERS)
def test_clone_sounds_like_its_speaker(voices, speaker):
    other = next(s for s in SPEAKERS if s != speaker)
    model = voices[speaker]["model"]
    assert model.stats["reference_seconds"] > 20 and model.stats["n_frames"] == len(model.voiced)
    own, rows = [], []
    for text in SENTENCES:
        audio = clone.speak_as(text, model)
        words = len(text.split())
        # A plausible reading: 1.5-5 words per second.
        assert words / 5.0 < audio.duration_s < words / 1.5, (text, audio.duration_s)
        assert audio.sample_rate == clone.SAMPLE_RATE and np.isfinite(audio.samples).all()
        assert 0.05 < float(np.max(np.abs(audio.samples))) <= 1.0
        emb = speaker_embedding(audio)
        s_own, s_other = similarity(emb, voices[speaker]["centroid"]), similarity(emb, voices[other]["centroid"])
        own.append(s_own)
        rows.append((round(s_own, 3), round(s_other, 3), text))
        assert s_own > s_other, f"closer to {other} than to {speaker}: {rows[-1]}"
    assert np.mean(own) >= 0.70, rows


def test_model_round_trips_through_bytes(voices):
    model = voices["librispeech-1998"]["model"]
    data = model.to_bytes()
    assert isinstance(data, bytes) and len(data) < 5_000_000
    back = clone.VoiceModel.from_bytes(data)
    assert (back.base_voice, back.rate, back.stats, back.pitch_offset) == \
        (model.base_voice, model.rate, model.stats, model.pitch_offset)
    text = "A short sentence to compare both models."
    a, b = clone.speak_as(text, model), clone.speak_as(text, back)
    assert np.array_equal(a.samples, b.samples)
    # speed and pitch reach the output
    assert clone.speak_as(text, back, speed=1.5).duration_s < 0.8 * a.duration_s
    assert median_f0(clone.speak_as(text, back, pitch_semitones=4.0)) > 1.15 * median_f0(a)


def median_f0(audio: Audio) -> float:
    import pyworld

    x = audio.samples.astype(np.float64)
    f0, _ = pyworld.dio(x, audio.sample_rate, f0_floor=60.0, f0_ceil=600.0)
    return float(np.median(f0[f0 > 0]))


def test_corrupt_model_bytes_are_refused():
    with pytest.raises(InputError, match="cannot be read"):
        clone.VoiceModel.from_bytes(b"not a voice model")


def test_too_little_speech_is_refused(samples):
    clip = utterances(samples, "librispeech-1688")[2]  # 2.8 s, about 2 s of it voiced
    with pytest.raises(InputError, match="not enough voiced speech"):
        clone.analyse([clip], candidates=("en-us+f2",))
    with pytest.raises(InputError, match="not enough voiced speech"):
        clone.analyse([Audio.silence(5.0, 16_000)], candidates=("en-us+f2",))
    with pytest.raises(InputError):
        clone.analyse([])
