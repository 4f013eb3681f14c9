"""Narrated slideshows: chapters equal the slides (ffprobe -show_chapters), slides letterboxed not
cropped, crossfades between slides, the presenter overlaid, the narration length enforced."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.audio import Audio
from core.errors import InputError
from engines.video.slideshow import Slide, SlideshowRequest, render_slideshow
from tests.engines.video.conftest import (
    assert_mp4_basics,
    decode_frames,
    ffprobe,
    make_head_video,
    solid_image,
    speech,
)

FPS = 25


@pytest.fixture(scope="module")
def deck(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("deck")
    slides = [
        Slide(solid_image(tmp / "s1.png", 400, 300, (200, 40, 40)), 1.0, "Welcome"),  # 4:3: bars left and right
        Slide(solid_image(tmp / "s2.png", 640, 360, (40, 40, 200)), 0.8, "The plan"),  # 16:9: fills the frame
        Slide(solid_image(tmp / "s3.png", 640, 200, (40, 180, 40)), 1.2, ""),  # wide: bars top and bottom
    ]
    audio = speech(3.0)
    head = make_head_video(tmp / "presenter.mp4", 3.0)
    req = SlideshowRequest(slides, audio, size="320x180", fps=FPS, transition="crossfade", transition_s=0.4,
                           presenter_video=head, presenter_position="bottom-right", presenter_panel=False)
    res = render_slideshow(req, tmp / "deck.mp4")
    return res, decode_frames(res.path), audio


def test_deck_is_h264_aac_with_one_chapter_per_slide(deck):
    res, frames, audio = deck
    assert_mp4_basics(res.path, 320, 180, audio.duration_s, FPS)
    assert len(frames) == 75
    chapters = ffprobe(res.path)["chapters"]
    assert [c["tags"]["title"] for c in chapters] == ["Welcome", "The plan", "Slide 3"]
    assert [round(float(c["start_time"]), 3) for c in chapters] == [0.0, 1.0, 1.8]
    assert [round(float(c["end_time"]), 3) for c in chapters] == [1.0, 1.8, 3.0]
    assert [(c.start_s, c.title) for c in res.chapters] == [(0.0, "Welcome"), (1.0, "The plan"), (1.8, "Slide 3")]


def test_slides_are_letterboxed_not_cropped(deck):
    _, frames, _ = deck
    f1, f2, f3 = frames[10], frames[35], frames[65]  # away from transitions and the presenter corner
    # 4:3 slide: 240 px wide in the middle, black bars of 40 px each side.
    assert f1[40, :36].max() < 16 and f1[40, 284:].max() < 16 and f1[120, :36].max() < 16
    assert np.abs(f1[20:160, 44:200].reshape(-1, 3).mean(axis=0) - [200, 40, 40]).max() < 8
    assert np.abs(f2[5:80, 5:315].reshape(-1, 3).mean(axis=0) - [40, 40, 200]).max() < 8
    # 640x200 slide: 320x100 band in the middle, bars of 40 px above and below.
    assert f3[:36, 20:200].max() < 16
    assert np.abs(f3[45:135, 10:150].reshape(-1, 3).mean(axis=0) - [40, 180, 40]).max() < 8


def test_slide_changes_crossfade(deck):
    _, frames, _ = deck
    red = frames[:, 90, 150, 0].astype(int)  # the first slide's red channel in the middle of the frame
    # Transition centred on 1.0 s (0.8 .. 1.2 s = frames 20 .. 30): red falls steadily, half way at the cut.
    assert red[19] > 190 and red[31] < 50
    assert np.all(np.diff(red[21:30]) < 0) and abs(red[25] - 120) < 15


def test_presenter_is_overlaid(deck):
    _, frames, _ = deck
    corner = frames[35, 120:170, 240:310].astype(int)  # bottom right over the blue slide
    assert np.abs(corner - [40, 40, 200]).max(axis=-1).mean() > 40  # not the slide there
    assert np.abs(frames[35, 10:60, 10:80].astype(int) - [40, 40, 200]).max() < 12  # the slide elsewhere


def test_a_deck_drawn_in_segments_and_joined_is_the_deck_drawn_whole(deck, tmp_path):
    """Each slide drawn alone with its neighbours SEGMENT-long on each side (for the transitions), then joined
    without encoding again: the same frames (to the encoder's noise), captions timed from each segment's start,
    the narration and one chapter per slide."""
    from engines.trust.video_watermark import psnr
    from engines.video.captions import CaptionLine
    from engines.video.encode import join_segments
    from engines.video.types import Chapter

    res, _, audio = deck
    slides = _deck_slides(res)
    lines = [CaptionLine(0.2, 0.9, "first words"), CaptionLine(1.1, 1.7, "on the plan"), CaptionLine(2.0, 2.9, "end")]
    whole = render_slideshow(SlideshowRequest(slides, audio, size="320x180", fps=FPS, transition_s=0.4,
                                              caption_lines=lines), tmp_path / "whole.mp4")
    lead = 1.0
    starts = np.concatenate([[0.0], np.cumsum([s.duration_s for s in slides])])
    segments = []
    for j, s in enumerate(slides):
        mini = ([Slide(slides[j - 1].image_path, lead)] if j else []) + [s] + (
            [Slide(slides[j + 1].image_path, lead)] if j + 1 < len(slides) else [])
        first = round(lead * FPS) if j else 0
        own = [CaptionLine(round(ln.start_s - starts[j], 3), round(ln.end_s - starts[j], 3), ln.text) for ln in lines
               if starts[j] <= ln.start_s < starts[j + 1]]
        seg = render_slideshow(SlideshowRequest(mini, None, size="320x180", fps=FPS, transition_s=0.4,
                                                caption_lines=own, segment=(first, first + round(s.duration_s * FPS))),
                               tmp_path / f"seg{j}.mp4")
        assert seg.frames == round(s.duration_s * FPS) and not ffprobe(seg.path).get("chapters")
        assert not [x for x in ffprobe(seg.path)["streams"] if x["codec_type"] == "audio"]  # picture only
        segments.append(seg.path)
    chapters = [Chapter(float(t), f"part {k}") for k, t in enumerate(starts[:-1], 1)]
    joined = tmp_path / "joined.mp4"
    assert join_segments(segments, joined, FPS, audio, chapters) == 75
    assert_mp4_basics(joined, 320, 180, audio.duration_s, FPS)
    assert [c["tags"]["title"] for c in ffprobe(joined)["chapters"]] == ["part 1", "part 2", "part 3"]
    a, b = decode_frames(whole.path), decode_frames(joined)
    assert a.shape == b.shape == (75, 180, 320, 3)
    worst = min(psnr(x, y) for x, y in zip(a, b))
    assert worst > 38, worst  # the crossfades and captions across the joins drawn as in the whole deck
    with pytest.raises(InputError, match="picture only"):
        render_slideshow(SlideshowRequest(slides, audio, size="320x180", fps=FPS, segment=(0, 10)), tmp_path / "x.mp4")
    with pytest.raises(InputError, match="not within"):
        render_slideshow(SlideshowRequest(slides, None, size="320x180", fps=FPS, segment=(70, 90)), tmp_path / "x.mp4")


def test_a_segment_cut_into_pieces_as_it_is_drawn_joins_into_the_deck(deck, tmp_path):
    """One drawing pass written as a file a piece (render_slideshow_pieces): each piece a picture-only segment
    of its frames with a poster of its first frame, the presenter and captions running on across the cuts, and
    the pieces joined equal to the deck drawn whole. Cuts out of order are refused; a cancel leaves no piece."""
    from core.progress import Cancelled, CancelToken
    from engines.trust.video_watermark import psnr
    from engines.video.captions import CaptionLine
    from engines.video.encode import join_segments
    from engines.video.slideshow import render_slideshow_pieces

    res, _, audio = deck
    slides = _deck_slides(res)
    head = res.path.parent / "presenter.mp4"
    lines = [CaptionLine(0.2, 0.9, "first words"), CaptionLine(1.1, 1.7, "on the plan"), CaptionLine(2.0, 2.9, "end")]
    common = dict(size="320x180", fps=FPS, transition_s=0.4, caption_lines=lines, presenter_video=head)
    whole = render_slideshow(SlideshowRequest(slides, audio, **common), tmp_path / "whole.mp4")
    outs = [tmp_path / f"piece{k}.mp4" for k in range(3)]
    pieces = render_slideshow_pieces(SlideshowRequest(slides, None, segment=(0, 75), cuts=(25, 45), **common), outs)
    assert [p.frames for p in pieces] == [25, 20, 30]
    for p, out in zip(pieces, outs):
        assert p.path == out and p.poster_path == out.with_suffix(".jpg") and p.poster_path.is_file()
        assert [x["codec_type"] for x in ffprobe(out)["streams"]] == ["video"]  # picture only, no chapters
        assert len(decode_frames(out)) == p.frames  # each piece plays alone
    joined = tmp_path / "joined.mp4"
    assert join_segments(outs, joined, FPS, audio) == 75
    a, b = decode_frames(whole.path), decode_frames(joined)
    assert a.shape == b.shape == (75, 180, 320, 3)
    worst = min(psnr(x, y) for x, y in zip(a, b))
    assert worst > 38, worst  # presenter, captions and crossfades go on across the cuts as in the whole deck

    for cuts in ((45, 25), (0, 30), (30, 75)):
        with pytest.raises(InputError, match="do not divide"):
            render_slideshow_pieces(SlideshowRequest(slides, None, segment=(0, 75), cuts=cuts, **common),
                                    [tmp_path / "x.mp4"] * 3)
    with pytest.raises(InputError, match="render_slideshow_pieces"):
        render_slideshow(SlideshowRequest(slides, None, segment=(0, 75), cuts=(30,), **common), tmp_path / "x.mp4")
    with pytest.raises(InputError, match="cuts divide a segment"):
        render_slideshow_pieces(SlideshowRequest(slides, audio, cuts=(30,), **common), [tmp_path / "x.mp4"] * 2)

    cancel = CancelToken()

    def stop_in_the_second_piece(done, total, message=""):
        if done > 30:
            cancel.cancel()

    gone = [tmp_path / f"cancelled{k}.mp4" for k in range(3)]
    with pytest.raises(Cancelled):
        render_slideshow_pieces(SlideshowRequest(slides, None, segment=(0, 75), cuts=(25, 45), **common), gone,
                                stop_in_the_second_piece, cancel)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("cancelled")]


def _deck_slides(res):
    """The deck fixture's slide images (beside its video) with their durations."""
    folder = res.path.parent
    return [Slide(folder / "s1.png", 1.0), Slide(folder / "s2.png", 0.8), Slide(folder / "s3.png", 1.2)]


@pytest.mark.parametrize("position", ["bottom-right", "top-left"])
def test_a_presenter_panel_keeps_the_slide_clear(tmp_path, position):
    """With a side panel (the default), the whole slide fits beside the presenter: every slide pixel is
    outside the presenter's box, the slide is whole (letterboxed in the narrower area), the panel's
    inner margin is background."""
    slide = solid_image(tmp_path / "s.png", 640, 360, (40, 40, 200))
    head = make_head_video(tmp_path / "presenter.mp4", 2.0)
    res = render_slideshow(SlideshowRequest([Slide(slide, 2.0, "Chart")], speech(2.0), size="320x180", fps=FPS,
                                            presenter_video=head, presenter_position=position), tmp_path / "d.mp4")
    x, y, w, h = res.metrics["presenter_box"]
    a0, a1 = res.metrics["slide_columns"]
    assert a1 <= x or a0 >= x + w  # the slide's columns and the presenter's box do not meet
    frame = decode_frames(res.path)[25].astype(int)
    blue = np.abs(frame - [40, 40, 200]).max(axis=-1) < 40
    rows, cols = np.nonzero(blue)
    assert blue.sum() > 0.5 * (a1 - a0) * 180 * 9 / 16  # the slide is shown, 16:9 in its area
    assert cols.min() >= a0 - 1 and cols.max() <= a1  # and only there
    assert not blue[y:y + h, x:x + w].any()  # nothing of the slide under the presenter
    gap = frame[:, a1 + 1:x - 1] if position == "bottom-right" else frame[:, x + w + 1:a0 - 1]
    assert gap.size and gap.max() < 20  # the panel's inner margin is background
    assert np.abs(frame[y + 4:y + h - 4, x + 4:x + w - 4] - [40, 40, 200]).max(axis=-1).mean() > 40  # the head


def test_bad_decks_are_refused(tmp_path: Path):
    img = solid_image(tmp_path / "s.png", 64, 64, (1, 2, 3))
    audio = speech(2.0)
    with pytest.raises(InputError, match="slides last 1.50 s.*narration is 2.00 s.*0.1 s"):
        render_slideshow(SlideshowRequest([Slide(img, 1.5)], audio, size="320x180"), tmp_path / "x.mp4")
    with pytest.raises(InputError, match="at least one slide"):
        render_slideshow(SlideshowRequest([], audio), tmp_path / "x.mp4")
    with pytest.raises(InputError, match="slide 2.*does not exist"):
        render_slideshow(SlideshowRequest([Slide(img, 1.0), Slide(tmp_path / "gone.png", 1.0)], audio),
                         tmp_path / "x.mp4")
    with pytest.raises(InputError, match="empty"):
        render_slideshow(SlideshowRequest([Slide(img, 1.0)], Audio(np.zeros(0, np.float32), 16000)), tmp_path / "x.mp4")
    (tmp_path / "notes.png").write_text("text, not pixels")
    with pytest.raises(InputError, match="notes.png"):
        render_slideshow(SlideshowRequest([Slide(tmp_path / "notes.png", 2.0)], audio, size="320x180"),
                         tmp_path / "x.mp4")
    assert not (tmp_path / "x.mp4").exists() and not (tmp_path / "x.jpg").exists()
    # Within 0.1 s is accepted: the video follows the narration.
    res = render_slideshow(SlideshowRequest([Slide(img, 1.95)], audio, size="320x180", fps=FPS), tmp_path / "ok.mp4")
    assert res.frames == 50
