"""Captions from recognised words: line breaking (sentence ends, pauses, length, even lines), word times
kept exactly, line times that never overlap, enhanced LRC out and back; then end to end on real speech
made by the Piper voice, recognised by Whisper, drawn into a scene video and read back from its pixels."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import InputError
from engines.asr import Word
from engines.video.captions import CaptionLine, CaptionRenderer, CaptionWord, parse_lrc, to_lrc, to_srt
from engines.video.scene_video import SceneVideoRequest, check_request, render_scene_video
from engines.video.word_captions import LineBreaking, lines_from_words
from tests.engines.video.conftest import (
    caption_area_changes,
    decode_frames,
    gold_pixels,
    piper_speech,
    recogniser_settings,
    white_pixels,
)


def timed(text: str, start_s: float = 0.0, word_s: float = 0.3, gap_s: float = 0.05,
          pauses: dict[int, float] | None = None) -> list[Word]:
    """Words of `text` one after another (a pause of pauses[i] seconds before word i)."""
    out, t = [], start_s
    for i, w in enumerate(text.split()):
        t += (pauses or {}).get(i, 0.0)
        out.append(Word(w, round(t, 3), round(t + word_s, 3), 0.9))
        t += word_s + gap_s
    return out


def texts(lines: list[CaptionLine]) -> list[str]:
    return [line.text for line in lines]


def test_lines_end_at_sentence_ends_and_pauses_and_words_keep_their_times():
    words = timed("Hello there. How are you today? I am fine thank you", pauses={8: 1.0})
    lines = lines_from_words(words)
    assert texts(lines) == ["Hello there.", "How are you today?", "I am", "fine thank you"]
    got = [w for line in lines for w in line.words]
    assert got == [CaptionWord(w.start_s, w.end_s, w.text) for w in words]  # every word, its own times
    for line in lines:
        assert line.start_s <= line.words[0].start_s and line.end_s >= line.words[-1].end_s
        assert line.text == " ".join(w.text for w in line.words)


def test_long_sentences_are_cut_evenly_within_the_line_length():
    sentence = ("The lighthouse keeper climbed the stairs at dusk, he lit the lamp, and the ships came home "
                "safely through the storm that had raged all night")
    lines = lines_from_words(timed(sentence, word_s=0.2, gap_s=0.02))
    assert " ".join(texts(lines)) == sentence
    lengths = [len(t) for t in texts(lines)]
    assert max(lengths) <= 42 and len(lines) == -(-len(sentence) // 42)  # as few lines as fit
    assert max(lengths) - min(lengths) <= 16, texts(lines)  # even, not full lines and a scrap
    assert not any(t.split()[-1] in ("the", "at", "and") for t in texts(lines)[:-1]), texts(lines)
    # A clause end with a pause after it is where the cut goes.
    lamp = timed("he lit the lamp, and the ships came home safely", pauses={4: 0.4})
    assert texts(lines_from_words(lamp, breaking=LineBreaking(max_chars=40)))[0] == "he lit the lamp,"
    # Long stretches are cut by time too; a word longer than a line stands alone.
    slow = lines_from_words(timed("one two three four five six seven", word_s=1.2, gap_s=0.0))
    assert all(line.words[-1].end_s - line.words[0].start_s <= 6.0 for line in slow) and len(slow) == 2
    assert texts(lines_from_words(timed("a " + "x" * 60 + " b"))) == ["a", "x" * 60, "b"]


def test_line_times_lead_hold_and_never_overlap():
    words = timed("First words here. Then more.", pauses={3: 2.0})
    first, second = lines_from_words(words)
    assert first.start_s == 0.0  # no lead before the audio starts
    assert first.end_s == pytest.approx(first.words[-1].end_s + 0.6)  # held a moment
    assert second.start_s == pytest.approx(second.words[0].start_s - 0.2)  # shown just before it is spoken
    # Close lines: the next one waits for the last word of the one before; none overlap.
    close = lines_from_words(timed("One. Two. Three. Four.", word_s=0.25, gap_s=0.05))
    assert texts(close) == ["One.", "Two.", "Three.", "Four."]
    for a, b in zip(close, close[1:]):
        assert a.end_s <= b.start_s and b.start_s >= a.words[-1].end_s
    renderer = CaptionRenderer((320, 180), None, close)
    for w in (x for line in close for x in line.words):
        assert renderer.active_line((w.start_s + w.end_s) / 2).text == w.text  # each word on screen as spoken


def test_recognised_words_are_cleaned_and_kept_within_the_audio():
    words = [Word("♪", 0.0, 0.4), Word(" Hello", 0.5, 0.8), Word(",", 0.8, 0.9), Word("", 1.0, 1.1),
             Word("world", 0.7, 0.6), Word("again.", 1.2, 1.6), Word("late", 3.5, 3.9)]
    (line,) = lines_from_words(words, duration_s=2.0)
    assert line.text == "Hello, world again."
    assert [(w.start_s, w.end_s) for w in line.words] == [(0.5, 0.8), (0.7, 0.7), (1.2, 1.6)]  # starts never go back
    assert line.end_s <= 2.0
    assert lines_from_words([]) == [] and lines_from_words([Word("♪", 0, 1)]) == []
    with pytest.raises(ValueError):
        lines_from_words(words, breaking=LineBreaking(max_chars=3))


def test_enhanced_lrc_reads_back_with_the_word_times():
    lines = lines_from_words(timed("Hello there. How are you today?", start_s=61.0, pauses={2: 1.5}))
    lrc = to_lrc(lines)
    assert lrc.startswith("[01:00.80]<01:01.00>Hello <01:01.35>there.\n[01:02.25]\n[01:03.00]<01:03.20>How ")
    back = parse_lrc(lrc)
    assert texts(back) == texts(lines)
    for a, b in zip(lines, back):
        assert abs(a.start_s - b.start_s) <= 0.005 and abs(a.end_s - b.end_s) <= 0.005
        assert [w.text for w in a.words] == [w.text for w in b.words]
        assert all(abs(x.start_s - y.start_s) <= 0.005 for x, y in zip(a.words, b.words))
    assert to_lrc([]) == ""


def test_a_scene_takes_timed_lines_or_text_not_both():
    line = CaptionLine(0.0, 1.0, "hi", [CaptionWord(0.0, 1.0, "hi")])
    with pytest.raises(InputError, match="not both"):
        check_request(SceneVideoRequest(audio=None, captions="hello", caption_lines=[line]))
    check_request(SceneVideoRequest(audio=None, caption_lines=[line]))


# ------------------------------------------------------------------ real speech, recognised and drawn

SPOKEN = "The keeper climbed the stairs at dusk. He lit the lamp, and the ships came home."
FPS = 25


@pytest.fixture(scope="module")
def spoken_captions(tmp_path_factory):
    """Piper speaks SPOKEN; Whisper recognises it; the words become caption lines; a scene video is
    rendered with them and once without (same seed, so the only difference is the captions)."""
    from engines.asr import transcribe

    folder = tmp_path_factory.mktemp("word-captions")
    settings = recogniser_settings(folder / "data")
    audio = piper_speech(SPOKEN)
    transcript = transcribe(audio, settings, word_timestamps=True, vad=True)
    lines = lines_from_words(transcript.words(), audio.duration_s)
    videos = {}
    for name, lines_ in (("with", lines), ("without", None)):
        res = render_scene_video(SceneVideoRequest(audio=audio, template="sacred_temple", caption_lines=lines_,
                                                   size="640x360", fps=FPS, seed=2), folder / f"{name}.mp4")
        videos[name] = decode_frames(res.path)
    return audio, lines, videos


def test_recognised_captions_are_the_spoken_words_at_their_times(spoken_captions):
    from engines.asr import word_error_rate

    audio, lines, _ = spoken_captions
    words = [w for line in lines for w in line.words]
    assert word_error_rate(SPOKEN, " ".join(w.text for w in words)) <= 0.2, texts(lines)
    assert all(0.0 <= w.start_s < audio.duration_s and w.start_s <= w.end_s <= audio.duration_s for w in words)
    assert all(a.start_s <= b.start_s for a, b in zip(words, words[1:])) and words[0].start_s < words[-1].start_s
    assert words[0].start_s < 0.5 and words[-1].end_s > audio.duration_s - 1.0  # they cover the speech
    # Each word sits on the voice (Piper's pauses are near silent): the sound within 50 ms of the word's
    # span is at least a third of the clip's RMS level.
    y, sr = audio.mono().samples, audio.sample_rate

    def level(a_s: float, b_s: float) -> float:
        seg = y[max(0, int(a_s * sr)):int(b_s * sr)]
        return float(np.sqrt(np.mean(seg ** 2))) if seg.size else 0.0

    clip = level(0.0, audio.duration_s)
    loud = [level(w.start_s - 0.05, w.end_s + 0.05) / clip for w in words]
    assert min(loud) > 0.33, [round(v, 2) for v in loud]
    assert all(len(line.text) <= 42 for line in lines)
    assert to_srt(lines).count(" --> ") == len(lines)


def test_recognised_captions_show_in_the_video_at_their_time(spoken_captions):
    audio, lines, videos = spoken_captions
    renderer = CaptionRenderer((640, 360), None, lines)
    lamp = next(w for line in lines for w in line.words if w.text.lower().startswith("lamp"))
    k = int(round((lamp.start_s + lamp.end_s) / 2 * FPS))  # a frame while "lamp" is spoken
    t = k / FPS
    shown = renderer.active_line(t)
    assert shown is not None and "lamp" in shown.text.lower() and lamp in shown.words
    assert [w.text for w in shown.words if w.start_s <= t][-1] == lamp.text  # the word being spoken
    # The decoded frame: the caption over the scene inside its box, the scene untouched around it.
    box = renderer.box(t)
    with_, without = videos["with"][k], videos["without"][k]
    inside, outside = caption_area_changes(with_, without, box)
    assert inside > 10 and outside < 2, (inside, outside)
    x, y, w, h = box
    area = with_[y:y + h, x:x + w]
    assert gold_pixels(area) > 100 and white_pixels(area) > 100  # words sung (gold) and still to come (white)
    assert gold_pixels(without[y:y + h, x:x + w]) + white_pixels(without[y:y + h, x:x + w]) < 20
    # Karaoke order: the gold (spoken) words are left of the white (coming) ones.
    gold_x = np.nonzero((np.abs(area.astype(int) - [0xD4, 0xAF, 0x37]).max(axis=-1) < 40).any(axis=0))[0]
    white_x = np.nonzero((area.min(axis=-1) >= 215).any(axis=0))[0]
    assert np.median(gold_x) < np.median(white_x)
    # Before the first word there is no caption yet.
    first = lines[0].start_s
    if first >= 2 / FPS:
        assert caption_area_changes(videos["with"][0], videos["without"][0], box)[0] < 2
