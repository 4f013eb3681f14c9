"""Voice cloning on real speakers: the clone must say the words (Whisper word error rate) and
sound closer to its speaker than the base voice does (resemblyzer similarity to the speaker's
utterances that were not references). Also: the German path, bytes round trip, refusals."""

from __future__ import annotations

import numpy as np
import pytest

from core.audio import Audio
from core.errors import InputError
from engines import asr
from engines.voice import clone, espeak, piper
from engines.voice.engine import SpeakRequest, VoiceChoice, speak
from engines.voice.similarity import mean_embedding, similarity, speaker_embedding
from tests.conftest import transcripts, voice_clips
from tests.engines.conftest import cloned_speaker

SPEAKERS = ("librispeech-1688", "librispeech-1998", "vctk-p226")
# New sentences (8-15 words), not in the references.
SENTENCES = (
    "The little boat drifted past the harbor lights as the evening grew cold.",
    "Nobody in the village remembered who had planted the tall oak tree.",
    "Fresh coffee and warm pastries were waiting for the guests in the hall.",
)


def clips(speaker: str) -> list[Audio]:
    return [Audio.read(p) for p in voice_clips(speaker)]


def transcriber(settings):
    return lambda audio, language: asr.transcribe(audio, settings, language=language, word_timestamps=True,
                                                  beam_size=1)


@pytest.fixture
def voices(settings) -> dict:
    """Per speaker: the model from its first three clips, and the centroid of the others."""
    out = {}
    for speaker in SPEAKERS:
        model, centroid = cloned_speaker(speaker, settings)
        out[speaker] = {"model": model, "centroid": centroid}
    return out


def test_clones_say_the_words_and_sound_like_their_speakers(voices, settings, backends):
    base = piper.find_voice()
    rows, wers = [], []
    for speaker in SPEAKERS:
        model = voices[speaker]["model"]
        assert model.base_voice == clone.PIPER_SOURCE and model.language == "en"
        assert len(model.stats["transcripts"]) == 3 and all(len(t.split()) >= 3 for t in model.stats["transcripts"])
        others = [s for s in SPEAKERS if s != speaker]
        # Through the speech engine, as users get it: sentences heard wrongly get one more take.
        spoken = speak(SpeakRequest(" ".join(SENTENCES), VoiceChoice(speaker, language="en", model=model)), settings,
                       backends=backends)
        wers.append(spoken.metrics["word_error_rate"])
        # Babble (the old cloner) scored 0.7-1.4; one wrong word in a sentence is 0.08.
        assert wers[-1] <= 0.2, (speaker, spoken.metrics["words_heard"])
        for take in spoken.takes:
            words = len(take.text.split())
            assert words / 5.0 < take.audio.duration_s < words / 1.2, (take.text, take.audio.duration_s)
            assert np.isfinite(take.audio.samples).all()
            emb = speaker_embedding(take.audio)
            own = similarity(emb, voices[speaker]["centroid"])
            plain = similarity(speaker_embedding(piper.synthesize(take.text, base)), voices[speaker]["centroid"])
            other = max(similarity(emb, voices[o]["centroid"]) for o in others)
            if speaker != "vctk-p226":  # a female reader's clone against the male speaker
                other = similarity(emb, voices["vctk-p226"]["centroid"])
            rows.append((speaker, round(own, 3), round(plain, 3), round(other, 3)))
    assert np.mean(wers) <= 0.10, wers
    for speaker in SPEAKERS:
        mine = [r for r in rows if r[0] == speaker]
        # Closer to its speaker than the base voice is. The male speaker starts close to the male base
        # voice (plain 0.55), so his margin is the smallest: 0.04-0.06 from run to run.
        assert np.mean([r[1] for r in mine]) > np.mean([r[2] for r in mine]) + 0.02, mine
    assert np.mean([r[1] - r[2] for r in rows]) >= 0.05, rows
    assert np.mean([r[1] for r in rows]) >= 0.56, rows
    # The male speaker's clone is closer to him than to either female speaker, and theirs to them.
    # (Between the two female readers, whose pitch and formants are close, the global transforms
    # do not always tell them apart: bench/voice.py reports that figure.)
    male = [r for r in rows if r[0] == "vctk-p226"]
    assert all(r[1] > r[3] for r in male), male


def test_model_round_trips_through_bytes(voices):
    model = voices["librispeech-1998"]["model"]
    data = model.to_bytes()
    assert isinstance(data, bytes) and len(data) < 2_000_000
    back = clone.VoiceModel.from_bytes(data)
    assert (back.base_voice, back.language, back.warp, back.stats) == \
        (model.base_voice, model.language, model.warp, model.stats)
    source = espeak.synthesize("A short sentence to compare both models.", model.espeak_voice)
    a, b = clone.convert(source, model), clone.convert(source, back)
    assert np.array_equal(a.samples, b.samples)
    text = "A short sentence to compare both models."
    normal = clone.speak_as(text, back)
    assert clone.speak_as(text, back, speed=1.5).duration_s < 0.8 * normal.duration_s
    # four semitones up is 1.26 times the pitch (the same source converted twice)
    ratio = median_f0(clone.convert(source, back, pitch_semitones=4.0)) / median_f0(a)
    assert 1.18 < ratio < 1.34, ratio


def median_f0(audio: Audio) -> float:
    import pyworld

    x = audio.samples.astype(np.float64)
    f0, _ = pyworld.harvest(x, audio.sample_rate, f0_floor=60.0, f0_ceil=600.0)
    return float(np.median(f0[f0 > 0]))


GERMAN = (
    "Der alte Leuchtturm steht seit vielen Jahren am Rand der Klippe.",
    "Am Morgen kaufen wir frisches Brot und warten auf den Zug.",
    "Sie öffnete die schwere Tür und fand einen Garten voller Rosen.",
)


def test_german_speaker_clones_through_espeak_and_speaks_german(settings):
    """The German base voice is espeak-ng, which Whisper base itself hears with a WER of about 0.5:
    the clone must keep what the base voice says (no worse than it by more than 0.15) and sound
    closer to the speaker."""
    audio = clips("thorsten-de")
    model = clone.analyse(audio[:4], transcribe=transcriber(settings))
    assert model.language == "de" and model.base_voice.startswith("de+")
    texts = transcripts("thorsten-de")
    heard_refs = " ".join(model.stats["transcripts"])
    assert asr.word_error_rate(" ".join(texts[p.name] for p in voice_clips("thorsten-de")[:4]), heard_refs) <= 0.3
    centroid = mean_embedding([speaker_embedding(a) for a in audio[4:]])
    cloned, plain, own, base = [], [], [], []
    for sentence in GERMAN:
        out = clone.speak_as(sentence, model)
        ref = espeak.synthesize(sentence, model.base_voice)
        cloned.append(asr.word_error_rate(sentence, asr.transcribe(out, settings, language="de").text))
        plain.append(asr.word_error_rate(sentence, asr.transcribe(ref, settings, language="de").text))
        own.append(similarity(speaker_embedding(out), centroid))
        base.append(similarity(speaker_embedding(ref), centroid))
    assert np.mean(cloned) <= np.mean(plain) + 0.15, (cloned, plain)
    assert np.mean(own) > np.mean(base) + 0.05, (own, base)


def test_without_a_recogniser_the_voice_is_english_and_still_clear(settings):
    audio = clips("librispeech-1688")
    model = clone.analyse(audio[:2])
    assert model.stats["transcripts"] == ["", ""] and model.language == "en" and model.base_voice == "piper"
    text = "It still speaks clearly when nobody listened to the references."
    heard = asr.transcribe(clone.speak_as(text, model), settings, language="en").text
    assert asr.word_error_rate(text, heard) <= 0.3, heard


def test_outdated_and_corrupt_models_are_refused():
    with pytest.raises(InputError, match="cannot be read"):
        clone.VoiceModel.from_bytes(b"not a voice model")
    import io
    import json

    buf = io.BytesIO()
    np.savez_compressed(buf, meta=np.frombuffer(json.dumps({"format": 1, "sample_rate": 16000}).encode(), np.uint8))
    with pytest.raises(clone.OutdatedModel, match="earlier version"):
        clone.VoiceModel.from_bytes(buf.getvalue())


def test_too_little_speech_is_refused():
    tone = Audio(np.zeros(16_000 * 5, np.float32), 16_000)
    with pytest.raises(InputError, match="not enough voiced speech"):
        clone.analyse([tone])
    with pytest.raises(InputError):
        clone.analyse([])
