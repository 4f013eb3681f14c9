"""Talking head over a background: the overlay region shows the head (not the background), the rest
shows the background, the gold border is there, audio and length follow the head's speech."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.errors import InputError
from engines.video.cards import end_card, render_card, title_card
from engines.video.composite import HeadOverlay, composite_talking_head
from tests.engines.video.conftest import (
    GOLD_RGB,
    assert_mp4_basics,
    decode_frames,
    ffprobe,
    make_head_video,
    portrait,
    stream,
)

FPS = 25


@pytest.fixture(scope="module")
def head_video(tmp_path_factory) -> Path:
    return make_head_video(tmp_path_factory.mktemp("head") / "head.mp4", 2.0)


@pytest.fixture(scope="module")
def pip(head_video, tmp_path_factory):
    background = np.zeros((180, 320, 3), np.uint8)
    background[:, :, 1] = np.linspace(30, 120, 320, dtype=np.uint8)[None, :]
    out = tmp_path_factory.mktemp("pip") / "pip.mp4"
    res = composite_talking_head(lambda t: background, head_video, None, "320x180", FPS, "bottom-right", 0.3, out)
    return res, decode_frames(res.path), background


def test_pip_uses_the_heads_audio_and_length(pip, head_video):
    res, frames, _ = pip
    head_audio_s = float(stream(ffprobe(head_video), "audio")["duration"])
    assert abs(head_audio_s - 2.0) < 1e-3
    assert_mp4_basics(res.path, 320, 180, head_audio_s, FPS)
    assert len(frames) == res.frames == 50


def test_pip_region_differs_from_the_background_and_the_rest_does_not(pip):
    res, frames, background = pip
    x, y, w, h = res.metrics["overlay_box"]
    assert x + w < 320 and y + h < 180 and x > 160 and y > 60  # bottom right, inside the frame
    assert abs(w - 96) <= 2  # 0.3 of the width
    for k in (0, 25, 49):
        f = frames[k].astype(int)
        inside = np.abs(f[y + 6:y + h - 6, x + 6:x + w - 6] - background[y + 6:y + h - 6, x + 6:x + w - 6]).mean()
        outside = np.abs(f[:, :x - 4] - background[:, :x - 4]).mean()
        assert inside > 40 and outside < 3, (k, inside, outside)
    # The gold border along the box's left edge, half way down.
    edge = frames[25][y + h // 2, x:x + 3].astype(int)
    assert (np.abs(edge - GOLD_RGB).max(axis=1) < 60).any(), edge
    # Rounded corners: the very corner pixel is background, not head or border.
    assert np.abs(frames[25][y, x].astype(int) - background[y, x]).max() < 12
    # The head moves (its sweeping bar): overlay frames differ over time.
    assert np.abs(frames[5][y:y + h, x:x + w].astype(int) - frames[40][y:y + h, x:x + w]).mean() > 5


def test_head_overlay_frame_api(head_video):
    bg = np.full((180, 320, 3), 50, np.uint8)
    with HeadOverlay(head_video, (320, 180), FPS, "top-left", 0.25) as ov:
        x, y, w, h = ov.box
        assert x < 20 and y < 20 and abs(w - 80) <= 2
        a = ov.draw(bg, 0.0)
        late = ov.draw(bg, 10.0)  # past the end: the last frame stays
        again = ov.draw(bg, 0.0)  # back in time: the reader restarts
        assert np.array_equal(a, again) and not np.array_equal(a, late)
        assert np.array_equal(a[:, x + w + 2:], bg[:, x + w + 2:])
        assert np.array_equal(a[y + h // 2, x + 1], GOLD_RGB)  # the border, before any encoding
    with HeadOverlay(head_video, (320, 180), FPS, "full") as ov:
        full = ov.draw(bg, 0.5)
        assert full.shape == (180, 320, 3) and np.abs(full.astype(int) - 50).mean() > 30


def test_photo_background_and_bad_inputs(tmp_path: Path, head_video):
    res = composite_talking_head(portrait("art_0.png"), head_video, None, (320, 180), FPS, "bottom-left", 0.3,
                                 tmp_path / "photo.mp4")
    frames = decode_frames(res.path)
    assert frames[0].std() > 20 and res.poster_path.is_file()
    with pytest.raises(InputError, match="does not exist"):
        composite_talking_head(portrait(), tmp_path / "missing.mp4", None, "320x180", FPS, out_path=tmp_path / "x.mp4")
    (tmp_path / "fake.mp4").write_text("not a video")
    with pytest.raises(InputError, match="fake.mp4"):
        composite_talking_head(portrait(), tmp_path / "fake.mp4", None, "320x180", FPS, out_path=tmp_path / "x.mp4")
    with pytest.raises(InputError, match="position"):
        composite_talking_head(portrait(), head_video, None, "320x180", FPS, position="middle",
                               out_path=tmp_path / "x.mp4")
    assert not (tmp_path / "x.mp4").exists()


def test_cards_are_dark_with_gold_and_fade():
    card = render_card(320, 180, "My Project", "A narrated deck")
    assert card.shape == (180, 320, 3) and card.mean() < 60  # dark
    gold = (np.abs(card.astype(int) - GOLD_RGB).max(axis=-1) < 40).sum()
    assert gold > 150  # gold title and rules
    c = title_card(320, 180, "Hello", duration_s=2.0, fade_s=0.5)
    assert c.frame(0.0).max() == 0 and np.array_equal(c.frame(1.0), c.still)
    assert 0 < c.frame(0.25).mean() < c.still.mean() and c.frame(2.0).max() == 0
    assert end_card(320, 180).frame(1.5).mean() > 0


@pytest.mark.parametrize("position", ["bottom-right", "top-left", "full"])
def test_the_overlay_drawn_in_yuv_matches_the_rgb_one(head_video, position):
    """Decks draw the presenter straight into the encoder's YUV frames: the same picture as drawing in RGB
    and converting (odd box corners included)."""
    from engines.video.encode import to_yuv
    from engines.video.yuv import to_rgb

    rng = np.random.default_rng(0)
    frame = (rng.random((720, 1280, 3)) * 80 + 60).astype(np.uint8)
    with HeadOverlay(head_video, (1280, 720), 25, position, 0.26) as a, \
            HeadOverlay(head_video, (1280, 720), 25, position, 0.26) as b:
        rgb = to_rgb(to_yuv(a.draw(frame, 0.5)))
        yuv = to_rgb(b.draw_yuv(to_yuv(frame), 0.5))
    err = np.mean((rgb.astype(np.float64) - yuv) ** 2)
    assert 10 * np.log10(255 ** 2 / max(err, 1e-9)) > 38
    x, y, w, h = a.box
    centre = yuv[y + h // 2, x + w // 2].astype(int) - frame[y + h // 2, x + w // 2]
    assert position == "full" or np.abs(centre).sum() > 0  # the head is there
