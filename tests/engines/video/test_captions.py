"""Captions: LRC and plain-text timing, exact SRT/WebVTT, and the karaoke renderer checked on frames
decoded from a real encode (gold/white pixels exactly while a line is active)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.errors import InputError
from engines.video.captions import (
    CaptionLine,
    CaptionRenderer,
    CaptionWord,
    parse_captions,
    parse_lrc,
    plain_text_captions,
    to_srt,
    to_vtt,
)
from engines.video.encode import VideoWriter
from tests.engines.video.conftest import decode_frames, gold_pixels, speech, white_pixels

LRC = """[ti:Test song]
[ar:Studio]
[length: 00:10]
[00:00.50]Hello <00:00.90>bright <00:01.20>world
[00:01.80][00:03.00]Sing it again

[00:02.60]
"""


def test_parse_lrc_times_words_and_metadata():
    lines = parse_lrc(LRC)
    assert [(l.start_s, l.end_s, l.text) for l in lines] == [
        (0.5, 1.8, "Hello bright world"),
        (1.8, 2.6, "Sing it again"),  # ended by the empty stamped line
        (3.0, 7.0, "Sing it again"),  # repeated stamp; the last line lasts 4 s
    ]
    assert lines[0].words == [CaptionWord(0.5, 0.9, "Hello"), CaptionWord(0.9, 1.2, "bright"),
                              CaptionWord(1.2, 1.8, "world")]
    # Without word stamps, words share the line by length and cover it exactly.
    w = lines[1].words
    assert [x.text for x in w] == ["Sing", "it", "again"] and w[0].start_s == 1.8 and w[-1].end_s == 2.6
    assert all(a.end_s == b.start_s for a, b in zip(w, w[1:])) and w[1].end_s - w[1].start_s < w[2].end_s - w[2].start_s
    assert parse_lrc("[01:02.5]late")[0].start_s == 62.5


def test_plain_text_spreads_over_the_duration_by_length():
    lines = plain_text_captions("Short one. This second sentence is a good deal longer than the first!", 10.0)
    assert [l.text for l in lines] == ["Short one.", "This second sentence is a good deal longer than the first!"]
    assert lines[0].start_s == 0.0 and lines[-1].end_s == pytest.approx(10.0) and lines[0].end_s == lines[1].start_s
    assert lines[1].end_s - lines[1].start_s > 2 * (lines[0].end_s - lines[0].start_s)
    multi = plain_text_captions("first line\nsecond line\n\nthird", 6.0)
    assert [l.text for l in multi] == ["first line", "second line", "third"]


def test_parse_captions_picks_the_format_and_clips_to_the_duration():
    assert [l.text for l in parse_captions(LRC, 2.0)] == ["Hello bright world", "Sing it again"]
    assert parse_captions(LRC, 2.0)[-1].end_s == 2.0
    assert parse_captions("no stamps here", 3.0)[0].end_s == pytest.approx(3.0)
    assert parse_captions("   ", 3.0) == []
    with pytest.raises(InputError, match="at most"):
        parse_captions("x" * 20_001, 3.0)


def test_srt_and_vtt_are_exact():
    lines = [CaptionLine(0.5, 1.8, "Hello bright world"), CaptionLine(61.25, 3725.0049, "Second, line")]
    assert to_srt(lines) == ("1\n00:00:00,500 --> 00:00:01,800\nHello bright world\n\n"
                             "2\n00:01:01,250 --> 01:02:05,005\nSecond, line\n\n")
    assert to_vtt(lines) == ("WEBVTT\n\n00:00:00.500 --> 00:00:01.800\nHello bright world\n\n"
                             "00:01:01.250 --> 01:02:05.005\nSecond, line\n\n")


def test_renderer_highlights_sung_words_and_rasterises_each_line_once():
    lines = parse_lrc(LRC)
    r = CaptionRenderer((320, 180), None, lines)
    frame = np.full((180, 320, 3), 70, np.uint8)
    assert r.active_line(0.4) is None and r.draw(frame, 0.4) is frame
    assert r.active_line(0.5).text == "Hello bright world" and r.active_line(1.79).text == "Hello bright world"
    assert r.active_line(2.7) is None and r.active_line(3.0).start_s == 3.0
    x, y, w, h = r.box(0.5)
    assert y + h <= 180 and y > 180 * 0.6 and abs((x + w / 2) - 160) <= 2  # centred near the bottom
    early, middle, late = (r.draw(frame, t)[y:y + h, x:x + w] for t in (0.5, 1.0, 1.79))
    assert gold_pixels(early) == 0 and white_pixels(early) > 40
    assert gold_pixels(middle) > 0 and white_pixels(middle) > 20
    assert gold_pixels(late) > 40 and white_pixels(late) < gold_pixels(late) / 10  # all but the last sliver sung
    assert frame.max() == 70  # the input frame is not touched
    for t in np.arange(0, 8, 1 / 30):
        r.draw(frame, float(t))
    assert r.rasterised == 3  # once per line, however many frames
    assert r.timeline() == [(0.5, 1.8, "Hello bright world"), (1.8, 2.6, "Sing it again"), (3.0, 7.0, "Sing it again")]


@pytest.mark.parametrize("size", [(320, 180), (426, 238), (1080, 1920)])
def test_captions_drawn_in_yuv_are_the_rgb_ones_converted(size):
    """draw_yuv (the scene video's path) blends the same caption, karaoke included, into an I420 frame:
    within a level or two of converting the RGB-drawn frame, on any even size (odd patch corners are
    padded)."""
    from engines.video.encode import to_yuv
    from engines.video.yuv import to_rgb

    w, h = size
    r = CaptionRenderer(size, None, parse_lrc(LRC))
    rng = np.random.default_rng(0)
    frame = (rng.random((h, w, 3)) * 160 + 30).astype(np.uint8)
    for t in (0.4, 0.5, 1.0, 1.79, 3.2):
        want = to_yuv(r.draw(frame, t))
        got = r.draw_yuv(to_yuv(frame), t)
        d = np.abs(want.astype(int) - got.astype(int))
        assert d[:h].max() <= 2 and d[h:].mean() < 0.1 and d[h:].max() <= 3, (t, d[:h].max(), d[h:].max())
    x, y, bw, bh = r.box(1.0)
    middle = to_rgb(r.draw_yuv(to_yuv(frame), 1.0))[y:y + bh, x:x + bw]
    assert gold_pixels(middle) > 0 and white_pixels(middle) > 10  # half sung
    with pytest.raises(ValueError, match="I420"):
        r.draw_yuv(np.zeros((h, w), np.uint8), 1.0)


def test_captions_in_an_encoded_video_show_exactly_while_active(tmp_path: Path):
    fps = 25
    lines = parse_lrc("[00:00.40]Gold words <00:00.80>show <00:01.00>here\n[00:01.60]\n[00:02.00]Second line")
    r = CaptionRenderer((320, 180), lines=lines)
    x, y, w, h = r.box(0.5)
    bg = np.full((180, 320, 3), 40, np.uint8)
    out = tmp_path / "cap.mp4"
    audio = speech(2.4)
    with VideoWriter(out, 320, 180, fps, audio) as writer:
        for k in range(writer.n_frames):
            writer.write(r.draw(bg, k / fps))
    frames = decode_frames(out)
    assert len(frames) == 60
    for k, f in enumerate(frames):
        t = k / fps
        area = f[y:y + h, x:x + w]
        shown = white_pixels(area) + gold_pixels(area)
        active = r.active_line(t) is not None
        assert (shown > 20) == active, (k, t, shown)
        if not active:
            assert np.abs(area.astype(int) - 40).max() < 12  # untouched background
    sung = gold_pixels(frames[int(1.5 * fps)][y:y + h, x:x + w])
    assert sung > 30  # the first line fully sung
    # Just started: a sliver of the first word is gold, the rest still white.
    started = frames[int(0.45 * fps)][y:y + h, x:x + w]
    assert gold_pixels(started) < sung / 5 and white_pixels(started) > 4 * gold_pixels(started), (
        gold_pixels(started), white_pixels(started), sung)
