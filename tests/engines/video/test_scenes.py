"""Scene templates: each renders, moves, is deterministic, reacts to beats and loudness, works over a photo."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from core.errors import InputError
from engines.video.beats import analyse_audio
from engines.video.scenes import TEMPLATES_PATH, SceneRenderer, get_template, template_names
from tests.engines.video.test_beats import click_track

SIZE = "320x180"
BPM = 120


@pytest.fixture(scope="module")
def features():
    return analyse_audio(click_track(BPM, 3.0), 30)


def diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def test_templates_are_data_with_their_parameters():
    data = json.loads(TEMPLATES_PATH.read_text())
    for name in ("epic_battle", "sacred_temple", "emotional_closeup"):
        assert name in template_names()
        kinds = {layer["kind"] for layer in data[name]["layers"]}
        assert {"grade", "vignette", "grain", "camera"} <= set(data[name])
        assert kinds
    assert {"embers", "smoke"} <= {l["kind"] for l in data["epic_battle"]["layers"]}
    assert data["epic_battle"]["camera"]["shake_px"] > 0
    assert {"rays", "dust"} <= {l["kind"] for l in data["sacred_temple"]["layers"]}
    assert data["sacred_temple"]["camera"]["push_in_per_s"] > 0
    assert "bokeh" in {l["kind"] for l in data["emotional_closeup"]["layers"]}
    assert data["emotional_closeup"]["photo"]["soft_focus"] > 0


@pytest.mark.parametrize("name", ["epic_battle", "sacred_temple", "emotional_closeup"])
def test_each_template_renders_moves_and_is_deterministic(name, features):
    r = SceneRenderer(name, SIZE, 30, features, seed=4)
    first = r.frame(5)
    assert first.shape == (180, 320, 3) and first.dtype == np.uint8
    assert first.std() > 4  # a picture, not a flat fill
    later = r.frame(70)
    assert diff(first, later) > 1.0  # things moved
    assert np.array_equal(r.frame(5), first)  # same frame twice
    again = SceneRenderer(name, SIZE, 30, features, seed=4).frame(70)
    assert np.array_equal(again, later)  # same seed, same picture
    other = SceneRenderer(name, SIZE, 30, features, seed=5).frame(70)
    assert not np.array_equal(other, later)


def test_frames_render_into_a_reused_buffer(features):
    r = SceneRenderer("epic_battle", SIZE, 30, features)
    buf = np.zeros((180, 320, 3), np.uint8)
    out = r.frame(12, buf)
    assert out is buf and np.array_equal(buf, r.frame(12))


@pytest.mark.parametrize("name,size,photos", [("epic_battle", "1280x720", 1), ("sacred_temple", "640x360", 0),
                                               ("emotional_closeup", "1080x1920", 2)])
def test_frames_drawn_in_yuv_are_the_rgb_frames_converted(name, size, photos, samples, features):
    """frame_yuv (the video's path: half the samples, no conversion) draws what frame() draws: over
    camera kicks, crossfades, light and letterbox, the I420 frames stay within a level or two of the
    RGB frames converted (only saturated highlights differ more: there YUV keeps what RGB clips)."""
    from engines.video.encode import to_yuv
    from engines.video.yuv import to_rgb

    images = [samples / "portraits" / p for p in ("art_0.png", "art_1.png")][:photos] or None
    r = SceneRenderer(name, size, 30, features, images=images, seed=2)
    assert r.draws_yuv
    h = r.height_px
    strong = int(np.argmax(features.beat_pulse))
    psnrs = []
    for i in (0, strong, strong + 2, 44, 45, 46, 89):  # 44-46: the crossfade with two photos
        want_yuv, got_yuv = to_yuv(r.frame(i, grain=False)), r.frame_yuv(i, grain=False)
        d = np.abs(want_yuv.astype(np.int16) - got_yuv.astype(np.int16))
        assert d[:h].mean() < 1.5 and d[h:].mean() < 1.5, (i, d[:h].mean(), d[h:].mean())
        # What a player shows (decoded, clipped to RGB): as close as the encoder's own rounding allows.
        want, got = to_rgb(want_yuv).astype(np.float32), to_rgb(got_yuv).astype(np.float32)
        psnr = 10 * np.log10(255 ** 2 / max(float(((want - got) ** 2).mean()), 1e-6))
        psnrs.append(psnr)
    # Beat flashes brighten past full scale, where the two clip differently (RGB per channel, YUV on luma).
    assert min(psnrs) > 34 and np.median(psnrs) > 40, psnrs
    out = np.zeros((h * 3 // 2, r.width_px), np.uint8)
    assert r.frame_yuv(7, out) is out and np.array_equal(out, r.frame_yuv(7))  # into a given buffer, deterministic
    if r.bar:
        assert (out[:r.bar] == 16).all() and (out[h - r.bar:h] == 16).all()  # black bars (studio range)


def test_an_odd_letterbox_band_is_drawn_in_rgb_only(features):
    r = SceneRenderer("epic_battle", "854x480", 30, features)
    assert r.bar % 2 == 1 and not r.draws_yuv
    with pytest.raises(ValueError, match="4:2:0"):
        r.frame_yuv(0)


def test_camera_kick_and_flash_are_larger_on_beats(features):
    r = SceneRenderer("epic_battle", SIZE, 30, features, seed=1)
    beats = [int(b) for b in features.beat_frames if 2 <= b < features.n_frames - 1]
    assert len(beats) >= 4
    half = int(round(0.5 * 30 * 60 / BPM))
    on = [diff(r.frame(b), r.frame(b - 1)) for b in beats]
    off = [diff(r.frame(b - half + 1), r.frame(b - half)) for b in beats]
    assert np.mean(on) > 2.0 * np.mean(off), (on, off)
    # The flash brightens the beat frame.
    assert np.mean([r.frame(b).mean() - r.frame(b - 1).mean() for b in beats]) > 1.0


def test_a_kick_tilts_only_while_strong_and_untilted_frames_match_the_warp(samples, features):
    """The beat kick rotates the frame while its pulse is above TILT_FROM_PULSE, shifting it only after;
    untilted frames are cut by PanZoom and match the affine warp of the same camera."""
    import cv2

    from engines.video.scenes import TILT_FROM_PULSE, TILT_MIN_PX

    r = SceneRenderer("epic_battle", "640x360", 30, features, images=[samples / "portraits" / "art_0.png"], seed=3)
    pulse = features.beat_pulse
    strong = [i for i in range(features.n_frames) if pulse[i] > 0.9]
    weak = [i for i in range(features.n_frames) if 0.01 < pulse[i] < TILT_FROM_PULSE]
    assert strong and weak
    tilted = [abs(r.camera_matrix(i, i / 30, r.centres[0])[0, 1]) for i in strong]
    assert max(tilted) > 1e-4
    # Any tilt left in moves the corners by at least TILT_MIN_PX (smaller ones are dropped).
    half_diagonal = np.hypot(640, r.picture_height_px) / 2
    every = [r.camera_matrix(i, i / 30, r.centres[0]) for i in range(features.n_frames)]
    moved = [abs(m[0, 1]) * half_diagonal for m in every if m[0, 1]]
    assert moved and min(moved) >= TILT_MIN_PX * 0.99
    for i in weak:
        m = r.camera_matrix(i, i / 30, r.centres[0])
        assert m[0, 1] == 0.0 and m[1, 0] == 0.0 and (m[0, 2], m[1, 2]) != (0.0, 0.0)  # shifted, not tilted
    out = np.empty((r.picture_height_px, 640, 3), np.uint8)
    i = weak[len(weak) // 2]
    r._base_into(0, i, i / 30, out)
    m = r.camera_matrix(i, i / 30, r.centres[0])
    ref = cv2.warpAffine(r.bases[0], m, (640, r.picture_height_px), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE)
    assert diff(out[2:-2, 2:-2], ref[2:-2, 2:-2]) < 1.5


def test_louder_audio_lights_more_embers(features):
    quiet = dataclasses.replace(features, loudness=np.zeros_like(features.loudness),
                                beat_pulse=np.zeros_like(features.beat_pulse))
    loud = dataclasses.replace(quiet, loudness=np.ones_like(features.loudness))
    a = SceneRenderer("epic_battle", SIZE, 30, quiet, seed=2).frame(40)
    b = SceneRenderer("epic_battle", SIZE, 30, loud, seed=2).frame(40)
    bright_a = int((a.max(axis=2) > 200).sum())
    bright_b = int((b.max(axis=2) > 200).sum())
    assert b.mean() > a.mean() + 1.0
    assert bright_b > 1.5 * bright_a + 5


def test_scene_over_a_portrait(samples, features):
    portrait = samples / "portraits" / "art_0.png"
    for name in ("emotional_closeup", "sacred_temple"):
        over_photo = SceneRenderer(name, SIZE, 30, features, images=[portrait], seed=1)
        alone = SceneRenderer(name, SIZE, 30, features, seed=1)
        a, b = over_photo.frame(30), alone.frame(30)
        assert diff(a, b) > 10  # the photo is the base layer
        assert a[60:120, 120:200].std() > 15  # a face has detail


def test_two_photos_cross_over(samples, features):
    imgs = [samples / "portraits" / "art_0.png", samples / "portraits" / "art_1.png"]
    r = SceneRenderer("emotional_closeup", SIZE, 30, features, images=imgs, seed=1)
    one = SceneRenderer("emotional_closeup", SIZE, 30, features, images=imgs[:1], seed=1)
    assert diff(r.frame(10), one.frame(10)) < 3  # first half: the first photo
    assert diff(r.frame(85), one.frame(85)) > 10  # second half: the other photo


def test_unknown_template_lists_the_templates():
    with pytest.raises(InputError) as e:
        get_template("space_opera")
    assert "epic_battle" in str(e.value) and "sacred_temple" in str(e.value)


def test_letterbox_draws_the_picture_in_the_band_between_black_bars(samples, features):
    """epic_battle letterboxes: the bars are pure black and the portrait, fitted to the 2.39:1 band,
    keeps its face inside the band (found there by the face detector)."""
    from engines.video.frames import find_focus
    from engines.video.grade import letterbox_bar_px

    r = SceneRenderer("epic_battle", "1280x720", 30, features, images=[samples / "portraits" / "art_0.png"], seed=1)
    bar = letterbox_bar_px(1280, 720)
    assert r.bar == bar > 0 and r.picture_height_px == 720 - 2 * bar
    frame = r.frame(45)
    assert frame[:bar].max() == 0 and frame[720 - bar:].max() == 0
    band = frame[bar:720 - bar]
    assert band.mean() > 20  # a picture, not black
    focus = find_focus(np.ascontiguousarray(band))
    assert focus.source == "face" and 0.2 < focus.y < 0.8, focus
    # Grain added later on the luma (as the video writer's path does) stays in the band too.
    from engines.video.encode import to_yuv

    plain = to_yuv(r.frame(45, grain=False))
    yuv = r.grain_luma(plain.copy(), 45)
    assert np.array_equal(yuv[:bar], plain[:bar]) and np.array_equal(yuv[720 - bar:], plain[720 - bar:])
    assert not np.array_equal(yuv[bar:720 - bar], plain[bar:720 - bar])
    unboxed = SceneRenderer("epic_battle", "1280x720", 30, features, seed=1, letterbox=False)
    assert unboxed.bar == 0 and unboxed.frame(45)[:bar].max() > 0
