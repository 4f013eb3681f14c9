"""Speech recognition with the real Whisper base model (shipped by the registry packages)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from core.audio import Audio
from core.errors import BackendUnavailable, InputError
from engines import asr
from engines.asr import whisper
from tests.conftest import transcripts, voice_clips

LIGHTHOUSE = ("A lighthouse keeper once wrote that the sea has no memory, "
              "but every storm leaves a mark on the rocks below the lamp.")


@pytest.fixture(scope="module")
def spoken():
    from engines.voice import piper

    return piper.synthesize(LIGHTHOUSE, piper.find_voice())


def test_packaged_model_is_found_and_unpacked_once(settings):
    a = asr.available(settings)
    assert a.available, a.reason
    t = asr.transcribe(Audio.silence(1.0, 16_000), settings)
    assert whisper.locate(settings) is not None
    assert (whisper.locate(settings) / "SHA256").read_text().split()[0] == whisper.PACKAGED_SHA256
    assert t.words() == []


def test_hears_the_words_with_times(settings, spoken):
    t = asr.transcribe(spoken, settings, word_timestamps=True)
    assert t.language == "en" and t.duration_s == pytest.approx(spoken.duration_s, abs=0.01)
    assert asr.word_error_rate(LIGHTHOUSE, t.text) <= 0.15, t.text
    words = t.words()
    assert len(words) >= 15
    starts = [w.start_s for w in words]
    assert starts == sorted(starts) and starts[0] >= 0 and words[-1].end_s <= spoken.duration_s + 0.1
    lamp = [w for w in words if "lamp" in w.text.lower() or "land" in w.text.lower()]
    assert lamp and lamp[-1].start_s > 0.7 * spoken.duration_s


def test_real_german_speech_is_recognised_as_german(settings):
    texts = transcripts("thorsten-de")
    clips = voice_clips("thorsten-de")[:2]
    rates = []
    for path in clips:
        t = asr.transcribe(Audio.read(path), settings)
        assert t.language == "de"
        rates.append(asr.word_error_rate(texts[path.name], t.text))
    assert np.mean(rates) <= 0.3, rates


def test_word_error_rate_normalises_spelling():
    assert asr.word_error_rate("In 1998, three men paid $1,000!", "in nineteen ninety-eight three men paid 1000") == 0.0
    assert asr.word_error_rate("the cat sat", "the cat sat down") == pytest.approx(1 / 3)
    assert asr.word_error_rate("the cat sat", "") == 1.0
    assert asr.word_error_rate("", "") == 0.0
    assert asr.normalise_words("Don't STOP, it's 7.") == ["don't", "stop", "it's", "seven"]


def test_missing_model_says_where_to_put_it(settings):
    s = replace(settings, asr_model="large-v3")
    a = asr.available(s)
    assert not a.available and "faster-whisper-large-v3" in a.reason
    with pytest.raises(BackendUnavailable, match="large-v3"):
        asr.transcribe(Audio.silence(1.0, 16_000), s)


def test_a_model_folder_can_be_named(settings):
    folder = whisper.locate(settings) or pytest.skip("model not unpacked")
    s = replace(settings, asr_model=str(folder))
    assert asr.available(s).available and whisper.locate(s) == folder


def test_damaged_parts_are_refused_and_leave_nothing(tmp_path: Path):
    a, b = tmp_path / "model.bin.part1", tmp_path / "model.bin.part2"
    a.write_bytes(b"x" * 100)
    b.write_bytes(b"y" * 100)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        (tmp_path / name).write_text("{}")
    dest = tmp_path / "out" / "faster-whisper-base"
    with pytest.raises(BackendUnavailable, match="damaged"):
        whisper._assemble((a, b), dest)
    assert not dest.exists() and list((tmp_path / "out").iterdir()) == []


def test_too_short_audio_is_an_input_error(settings):
    with pytest.raises(InputError, match="too short"):
        asr.transcribe(Audio.silence(0.05, 16_000), settings)
