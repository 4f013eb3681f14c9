"""Grading, vignette, grain and letterbox on real frames."""

from __future__ import annotations

import numpy as np
import pytest

from engines.video.grade import (
    Grade,
    Grain,
    apply_grade,
    apply_letterbox,
    apply_vignette,
    letterbox_bar_px,
    vignette_mask,
)


def grey(w: int = 320, h: int = 180, level: int = 128) -> np.ndarray:
    return np.full((h, w, 3), level, np.uint8)


def test_vignette_darkens_corners_not_the_centre():
    frame = grey()
    apply_vignette(frame, vignette_mask(320, 180, 0.6))
    centre = frame[80:100, 150:170].mean()
    corners = [frame[:6, :6].mean(), frame[:6, -6:].mean(), frame[-6:, :6].mean(), frame[-6:, -6:].mean()]
    assert centre == pytest.approx(128, abs=1)
    for c in corners:
        assert c < 128 * 0.55  # 60 % darker at the very corner, a little less a few pixels in
    # Darkening grows monotonically along the diagonal.
    diag = [frame[int(k * 0.9), int(k * 1.6)].mean() for k in range(0, 100, 10)]
    assert all(a <= b + 1 for a, b in zip(diag, diag[1:]))


@pytest.mark.parametrize("w,h", [(1280, 720), (320, 180), (1080, 1080)])
def test_letterbox_bars_are_black_at_the_cinema_ratio(w, h):
    frame = grey(w, h, 200)
    apply_letterbox(frame)
    bar = letterbox_bar_px(w, h)
    assert np.all(frame[:bar] == 0) and np.all(frame[h - bar:] == 0)
    picture = frame[bar:h - bar]
    assert np.all(picture == 200)
    assert w / picture.shape[0] == pytest.approx(2.39, rel=0.01)


def test_no_letterbox_on_frames_already_wider():
    frame = grey(1280, 500, 90)
    apply_letterbox(frame)
    assert letterbox_bar_px(1280, 500) == 0 and np.all(frame == 90)


def test_warm_grade_warms_and_identity_keeps():
    frame = grey()
    apply_grade(frame, Grade())
    assert np.all(frame == 128)
    warm = Grade(gain=(1.15, 1.0, 0.85), lift=(0.02, 0.0, 0.0))
    frame = apply_grade(grey(), warm)
    r, g, b = frame[..., 0].mean(), frame[..., 1].mean(), frame[..., 2].mean()
    assert r > g + 15 and b < g - 15
    # Saturation 0 makes a colour grey.
    colour = np.zeros((10, 10, 3), np.uint8)
    colour[..., 0] = 200
    out = apply_grade(colour, Grade(saturation=0.0))
    assert np.ptp(out[0, 0].astype(int)) <= 1


def test_grain_is_zero_mean_deterministic_and_changes_per_frame():
    a = Grain(320, 180, 0.04, seed=3).apply(grey(), 5)
    b = Grain(320, 180, 0.04, seed=3).apply(grey(), 5)
    c = Grain(320, 180, 0.04, seed=3).apply(grey(), 6)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.mean() == pytest.approx(128, abs=1.0)
    assert 6 < a.astype(np.float32).std() < 14  # sigma 0.04 * 255 ~ 10
    # Monochrome grain: the three channels move together.
    assert np.array_equal(a[..., 0], a[..., 2])


def test_grain_on_luma_is_the_rgb_grain_seen_in_yuv():
    """The writer-side path: grain added to an I420 frame's luma matches the luma of the RGB-grained
    frame (BT.601 studio range) to within a level, and touches no chroma."""
    from engines.video.encode import to_yuv

    frame = grey(320, 180, 100)
    grain = Grain(320, 180, 0.04, seed=3)
    via_rgb = to_yuv(grain.apply(frame.copy(), 5))
    via_luma = to_yuv(frame)
    grain.apply_luma(via_luma[:180], 5)
    y_rgb, y_luma = via_rgb[:180].astype(int), via_luma[:180].astype(int)
    assert y_luma.std() > 5  # grain, ~0.04 * 219 levels
    assert np.abs(y_rgb - y_luma).max() <= 2 and np.abs(y_rgb - y_luma).mean() < 0.7
    assert np.array_equal(via_luma[180:], to_yuv(frame)[180:])
