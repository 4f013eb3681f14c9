"""The speech engine end to end on the embedded backend: sentences, pauses, styles, fallbacks,
regenerating one sentence, and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import InputError
from engines.voice import espeak
from engines.voice.engine import (
    SAMPLE_RATE,
    SpeakRequest,
    VoiceChoice,
    regenerate,
    speak,
    takes_from_bytes,
    takes_to_bytes,
)
from engines.voice.text import PAUSE_S
from settings import Settings

TEXT = ("Welcome to the studio. Today we will clone a voice, and then we will make it sing!\n\n"
        "Is that not wonderful?")


@pytest.fixture(scope="module")
def result(backends):
    seen = []
    r = speak(SpeakRequest(TEXT, VoiceChoice("default")), Settings(),
              progress=lambda d, t, m="": seen.append((d / t, m)), backends=backends)
    return r, seen


def test_speech_is_joined_sentences_with_pauses(result):
    r, seen = result
    assert r.backend == "piper" and r.notes == [] and "joe" in r.model and "lessac" in r.licence
    # Every speech says what the speech recogniser heard of its words.
    assert r.metrics["word_error_rate"] <= 0.15, r.metrics["words_heard"]
    assert [t.text for t in r.takes] == ["Welcome to the studio.",
                                         "Today we will clone a voice, and then we will make it sing!",
                                         "Is that not wonderful?"]
    assert r.audio.sample_rate == SAMPLE_RATE
    takes_s = sum(t.audio.duration_s for t in r.takes)
    pauses_s = PAUSE_S["sentence"] + PAUSE_S["paragraph"]
    assert r.audio.duration_s == pytest.approx(takes_s + pauses_s + 0.24, abs=0.02)
    # Plausible reading speed for 18 words: 2 to 4 words per second.
    assert 18 / 4 < r.audio.duration_s < 18 / 2
    assert r.metrics["loudness_lufs"] == pytest.approx(-16, abs=0.5)
    fracs = [f for f, _ in seen]
    assert fracs == sorted(fracs) and fracs[-1] == 1.0 and "sentence 2 of 3" in [m for _, m in seen]


def test_pause_between_sentences_is_silent(result):
    r, _ = result
    y = r.audio.samples
    first = int((0.12 + r.takes[0].audio.duration_s) * SAMPLE_RATE)
    gap = y[first + 400: first + int(PAUSE_S["sentence"] * SAMPLE_RATE) - 400]
    assert 20 * np.log10(np.sqrt(np.mean(gap ** 2)) + 1e-9) < -50


def test_regenerating_one_sentence_keeps_the_others(result, backends):
    r, _ = result
    r2 = regenerate(r.takes, 1, SpeakRequest(TEXT, VoiceChoice("default")), Settings(),
                    new_text="Today we will write a song.", backends=backends)
    assert [t.text for t in r2.takes][1] == "Today we will write a song."
    for i in (0, 2):
        assert np.array_equal(r2.takes[i].audio.samples, r.takes[i].audio.samples)
    assert r2.takes[1].audio.duration_s < r.takes[1].audio.duration_s
    again = takes_from_bytes(takes_to_bytes(r2.takes))
    assert [t.text for t in again] == [t.text for t in r2.takes]
    assert np.array_equal(again[1].audio.samples, r2.takes[1].audio.samples)
    with pytest.raises(InputError, match="no sentence 9"):
        regenerate(r.takes, 8, SpeakRequest(TEXT, VoiceChoice("default")), Settings(), backends=backends)


def test_speed_and_language_change_the_speech(backends):
    s = Settings()
    slow = speak(SpeakRequest("One two three four five six seven eight.", VoiceChoice("d")), s, backends=backends)
    fast = speak(SpeakRequest("One two three four five six seven eight.", VoiceChoice("d"), speed=1.8), s,
                 backends=backends)
    assert fast.audio.duration_s < 0.75 * slow.audio.duration_s
    german = speak(SpeakRequest("Guten Morgen, wie geht es dir?", VoiceChoice("de", preset="de", backend="embedded",
                                                                             language="de")), s,
                   backends=backends)
    assert german.backend == "embedded" and german.audio.duration_s > 1.0


def test_missing_backend_falls_back_with_a_note(tmp_path, backends):
    s = Settings(models_dir=tmp_path / "no-models", openai_api_key="")
    for name in ("bark", "openai"):
        r = speak(SpeakRequest("Hello there.", VoiceChoice("default"), backend=name, check_words=False), s,
                  backends=backends)
        assert r.backend == "piper"
        assert len(r.notes) == 1 and r.notes[0].startswith(f"{name} is not available")
        assert r.audio.duration_s > 0.5
    # Piper speaks English only: German asked of it is spoken by espeak-ng, with a note.
    r = speak(SpeakRequest("Guten Morgen.", VoiceChoice("de", language="de"), backend="piper", check_words=False), s,
              backends=backends)
    assert r.backend == "embedded" and "English only" in r.notes[0]


@pytest.mark.parametrize("kwargs, message", [
    ({"text": ""}, "empty"),
    ({"text": "x " * 60_000}, "characters"),
    ({"speed": 5.0}, "speed must be between"),
    ({"pitch_semitones": -30}, "pitch_semitones must be between"),
    ({"style": "opera"}, "unknown voice style"),
    ({"backend": "playht"}, "unknown speech backend"),
])
def test_bad_requests_are_clear(kwargs, message, backends):
    req = SpeakRequest(**{"text": "Hello.", "voice": VoiceChoice("default"), **kwargs})
    with pytest.raises(InputError, match=message):
        speak(req, Settings(), backends=backends)


def test_unsupported_language_is_named():
    with pytest.raises(InputError, match="'xx' is not supported"):
        espeak.check_voice("xx")
    with pytest.raises(InputError, match="variant"):
        espeak.check_voice("en-us+nosuchvoice")


def test_each_sentence_is_heard_and_one_heard_wrongly_is_spoken_again(settings, backends):
    from core.progress import CancelToken
    from engines.voice import engine, piper
    from engines.voice.evaluate import listen

    texts = ["The garden was full of roses.", "Nobody remembered who planted the tall oak tree."]
    voice = piper.find_voice()
    takes = [engine.Take(texts[0], "sentence", piper.synthesize(texts[0], voice)),
             # a take that says other words than its text
             engine.Take(texts[1], "sentence", piper.synthesize("Seven purple kites flew over the river.", voice))]
    rates = listen(takes, "en", settings).take_error_rates()
    assert rates[0] <= 0.2 and rates[1] >= 0.6, rates  # each recognised word went to its own sentence
    req = SpeakRequest(" ".join(texts), VoiceChoice("default"))
    new, figures, _, _ = engine._listen_and_retake(takes, req, backends.get("voice", "piper"), settings, 1.0,
                                                CancelToken())
    assert new[0] is takes[0] and new[1] is not takes[1] and new[1].text == texts[1]
    assert 1 <= figures["retakes"] <= engine.RETAKES and figures["word_error_rate"] <= 0.2, figures
    # espeak says a sentence the same way every time: nothing to gain from another take
    same, figures, _, _ = engine._listen_and_retake(takes, req, backends.get("voice", "embedded"), settings, 1.0,
                                                 CancelToken())
    assert same == takes and "retakes" not in figures and figures["word_error_rate"] >= 0.3


class _Memory:
    """A SentenceMemory in a dict, counting what it is asked and given."""

    def __init__(self):
        self.takes, self.recalled, self.kept = {}, [], []

    def recall(self, backend, rate, text, pause):
        got = self.takes.get((backend, rate, text, pause))
        if got is not None:
            self.recalled.append(text)
        return got

    def keep(self, backend, rate, take, heard):
        self.kept.append(take.text)
        self.takes[(backend, rate, take.text, take.pause)] = (take.audio, heard)


def test_a_memory_speaks_and_checks_only_the_changed_sentence(settings, backends, monkeypatch):
    from engines.voice import engine

    heard_texts = []
    real_listen = engine.listen

    def listening(takes, *args, **kwargs):
        heard_texts.append([t.text for t in takes])
        return real_listen(takes, *args, **kwargs)

    monkeypatch.setattr(engine, "listen", listening)
    memory = _Memory()
    first = speak(SpeakRequest(TEXT, VoiceChoice("default")), settings, backends=backends, memory=memory)
    assert memory.kept == [t.text for t in first.takes] and memory.recalled == []
    assert all(h is not None for _, h in memory.takes.values())  # kept with the words heard in them
    edited = TEXT.replace("clone a voice", "copy a voice")
    heard_texts.clear()
    memory.kept.clear()
    second = speak(SpeakRequest(edited, VoiceChoice("default")), settings, backends=backends, memory=memory)
    # Only the edited sentence was spoken and listened to; the others came back as they were.
    assert memory.kept == ["Today we will copy a voice, and then we will make it sing!"]
    assert memory.recalled == [first.takes[0].text, first.takes[2].text]
    assert heard_texts[0] == memory.kept
    for i in (0, 2):
        assert np.array_equal(second.takes[i].audio.samples, first.takes[i].audio.samples)
    # The word figures still cover every sentence: the recalled ones by what was heard in them before.
    assert second.metrics["word_error_rate"] <= 0.15, second.metrics["words_heard"]
    assert "will copy" in second.metrics["words_heard"].lower()
    assert "welcome" in second.metrics["words_heard"].lower()
    # A sentence kept without its words (made while the recogniser could not run) is heard now, and kept with them.
    welcome = next(k for k in memory.takes if k[2] == first.takes[0].text)
    memory.takes[welcome] = (memory.takes[welcome][0], None)
    heard_texts.clear()
    memory.kept.clear()
    speak(SpeakRequest(edited, VoiceChoice("default")), settings, backends=backends, memory=memory)
    assert heard_texts[0] == [first.takes[0].text] and memory.kept == [first.takes[0].text]
    assert "welcome" in memory.takes[welcome][1].lower()
    # Another rate is another take: nothing recalled.
    memory.recalled.clear()
    speak(SpeakRequest(edited, VoiceChoice("default"), speed=1.2), settings, backends=backends, memory=memory)
    assert memory.recalled == []
