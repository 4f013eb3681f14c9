"""Visualisers drawn from audio features: tones light the right bars, louder is taller; previews."""

from __future__ import annotations

import numpy as np
import pytest

from core.audio import Audio
from core.errors import InputError
from engines.video.beats import analyse_audio
from engines.video.visualiser import VISUALISER_KINDS, Visualiser, check_kind, preview_image
from tests.engines.video.test_beats import tone

W, H = 320, 180


@pytest.fixture(scope="module")
def tones():
    return {name: analyse_audio(a, 30) for name, a in {
        "low": tone(100), "high": tone(5000), "low_quiet": tone(100, level=0.02),
        "silence": Audio.silence(2.0, 44100)}.items()}


def lit(frame: np.ndarray) -> np.ndarray:
    return frame.max(axis=2) > 40


def draw(features, kind: str = "bars", i: int = 30) -> np.ndarray:
    return Visualiser(kind, (W, H), features).draw(np.zeros((H, W, 3), np.uint8), i)


def test_low_tone_lights_low_bars_high_tone_high_bars(tones):
    low, high = lit(draw(tones["low"])), lit(draw(tones["high"]))
    left, right = slice(0, W // 3), slice(2 * W // 3, W)
    assert low[:, left].sum() > 10 * max(1, low[:, right].sum())
    assert high[:, right].sum() > 10 * max(1, high[:, left].sum())
    # Bars stand on the bottom edge.
    assert low[H - 1, left].any() and not low[: H // 2].any()


def test_louder_band_draws_taller_bars(tones):
    loud = Visualiser("bars", (W, H), tones["low"]).bar_heights_px(30)
    quiet = Visualiser("bars", (W, H), tones["low_quiet"]).bar_heights_px(30)
    assert loud.max() > quiet.max() + 10
    col = int(np.argmax(loud))
    frame_loud, frame_quiet = lit(draw(tones["low"])), lit(draw(tones["low_quiet"]))
    assert frame_loud.sum() > 1.3 * frame_quiet.sum()
    assert Visualiser("bars", (W, H), tones["silence"]).bar_heights_px(30).max() == 0
    assert col < 12  # a 100 Hz tone peaks in the lowest quarter of the bars


@pytest.mark.parametrize("kind", ["waveform", "circle"])
def test_other_kinds_follow_the_sound(kind, tones):
    sound, silent = lit(draw(tones["low"], kind)), lit(draw(tones["silence"], kind))
    assert sound.sum() > silent.sum() + 50
    if kind == "waveform":  # a 100 Hz tone swings well above and below the centre line
        rows = np.nonzero(sound.any(axis=1))[0]
        assert rows.max() - rows.min() > 0.1 * H  # level 0.5: half of the full swing


def test_visualiser_over_a_scene_keeps_the_scene(tones):
    base = np.full((H, W, 3), 90, np.uint8)
    out = Visualiser("bars", (W, H), tones["low"]).draw(base.copy(), 30)
    assert np.array_equal(out[: H // 2], base[: H // 2])
    assert not np.array_equal(out, base)


def test_kinds_are_checked():
    assert check_kind(None) is None and check_kind("none") is None
    assert set(VISUALISER_KINDS) == {"bars", "waveform", "circle"}
    with pytest.raises(InputError) as e:
        check_kind("lasers")
    assert "bars" in str(e.value)


def test_preview_images(samples):
    path = sorted((samples / "voices" / "librispeech-1688").glob("*.flac"))[0]
    speech = Audio.read(path)
    wave = preview_image(speech, "waveform", (600, 160))
    assert wave.size == (600, 160) and wave.mode == "RGB"
    arr = np.asarray(wave)
    gold = (arr[..., 0] > 150) & (arr[..., 2] < 120)
    assert 0.05 < gold.mean() < 0.9  # an envelope, not a blank or a solid block
    # Spectrograms: a high tone shows near the top, a low tone near the bottom.
    rows = {}
    for hz in (150, 4000):
        img = np.asarray(preview_image(tone(hz, 1.0), "spectrogram", (300, 200))).astype(np.float32)
        rows[hz] = int(np.argmax(img.sum(axis=(1, 2))))
    assert rows[4000] < rows[150] - 40
    with pytest.raises(InputError):
        preview_image(speech, "hologram")


def test_visualiser_alone_on_the_plain_template(tones):
    from engines.video.scenes import SceneRenderer

    scene = SceneRenderer("plain_dark", (W, H), 30, tones["low"])
    assert np.array_equal(scene.frame(3), scene.frame(50))  # a still backdrop
    vis = Visualiser("circle", (W, H), tones["low"])
    quiet = Visualiser("circle", (W, H), tones["silence"])
    loud_frame, quiet_frame = vis.draw(scene.frame(30), 30), quiet.draw(scene.frame(30), 30)
    gold = lambda f: ((f[..., 0] > 150) & (f[..., 2] < 120)).sum()  # noqa: E731
    assert gold(loud_frame) > gold(quiet_frame) + 50


@pytest.mark.parametrize("kind", ["bars", "waveform", "circle"])
def test_drawn_in_yuv_the_visualiser_is_the_rgb_one_converted(kind, tones):
    """draw_yuv (the music video's path) draws the same shapes on the I420 planes: decoded, the same
    pixels lit, and the same colours but at the antialiased and chroma-subsampled edges."""
    from engines.video.encode import to_yuv
    from engines.video.yuv import to_rgb

    w, h = 640, 360  # lines at least a chroma pixel thick
    v = Visualiser(kind, (w, h), tones["low"])
    background = np.full((h, w, 3), 30, np.uint8)
    want = to_rgb(to_yuv(v.draw(background.copy(), 30)))
    got = to_rgb(v.draw_yuv(to_yuv(background), 30))
    assert lit(want).sum() > 100
    assert abs(int(lit(got).sum()) - int(lit(want).sum())) < 0.15 * lit(want).sum()
    d = np.abs(want.astype(np.int16) - got.astype(np.int16))
    assert d.mean() < 1.5 and np.percentile(d, 98) < 40, (d.mean(), np.percentile(d, 98))
    with pytest.raises(ValueError, match="I420"):
        v.draw_yuv(np.zeros((h, w), np.uint8), 30)
