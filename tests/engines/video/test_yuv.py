"""Drawing in I420: every piece against the same drawing in RGB converted by cv2 (what the writer sends)."""

from __future__ import annotations

import numpy as np
import pytest

from engines.video import yuv as Y
from engines.video.encode import to_yuv


def smooth_picture(w: int, h: int, seed: int = 0) -> np.ndarray:
    """A smooth colourful picture (chroma subsampling loses nothing visible on it)."""
    import cv2

    rng = np.random.default_rng(seed)
    small = rng.integers(20, 235, (h // 16 + 2, w // 16 + 2, 3), np.uint8)
    return np.ascontiguousarray(cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC))


def err(a: np.ndarray, b: np.ndarray) -> tuple[float, int]:
    d = np.abs(a.astype(np.int16) - b.astype(np.int16))
    return float(d.mean()), int(d.max())


def test_the_coefficients_are_what_cv2_converts_with():
    colours = np.array([[[255, 0, 0], [0, 255, 0]], [[0, 0, 255], [200, 120, 40]]], np.uint8)
    for c in colours.reshape(-1, 3):
        yuv = to_yuv(np.full((2, 2, 3), c, np.uint8)).astype(np.float32)
        want = Y.RGB_TO_YUV @ c.astype(np.float32) + np.array([16, 128, 128])
        assert abs(yuv[0, 0] - want[0]) <= 1 and abs(yuv[2, 0] - want[1]) <= 1 and abs(yuv[2, 1] - want[2]) <= 1


def test_planes_are_views_for_any_even_size_and_bands_need_even_rows():
    frame = Y.i420(854, 482)  # chroma planes that do not fill whole rows of the array
    y, u, v = Y.planes(frame)
    assert y.shape == (482, 854) and u.shape == v.shape == (241, 427)
    u.fill(7)
    v.fill(9)
    assert np.shares_memory(u, frame) and (frame.reshape(-1)[854 * 482:854 * 482 + 241 * 427] == 7).all()
    assert (frame.reshape(-1)[-241 * 427:] == 9).all()
    assert [p.shape for p in Y.band((y, u, v), 40, 100)] == [(100, 854), (50, 427), (50, 427)]
    with pytest.raises(ValueError, match="even rows"):
        Y.band((y, u, v), 41, 100)


def test_pan_zoom_and_warp_of_the_planes_match_the_rgb_ones():
    import cv2

    from engines.video.frames import PanZoom

    pic = smooth_picture(704, 400)
    pz, pzy = PanZoom(pic), Y.PanZoomYuv(pic)
    for angle, zoom, dx, dy in ((0.0, 1.07, 3.3, -2.6), (0.0, 1.21, -11.75, 5.1), (0.5, 1.1, 2.0, 1.0),
                                (0.4, 1.8, -4.2, 3.0), (0.0, 1.8, 5.5, -3.25)):
        m = cv2.getRotationMatrix2D((350.2, 180.7), angle, zoom)
        if angle == 0.0:
            m[0, 1] = m[1, 0] = 0.0
        m[:, 2] += (dx, dy)
        rgb = np.empty((360, 640, 3), np.uint8)
        if not pz.view_affine(m, rgb):
            cv2.warpAffine(pic, m, (640, 360), dst=rgb, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        want = to_yuv(rgb)
        got = Y.i420(640, 360)
        p = Y.planes(got)
        if angle == 0.0:
            assert pzy.view_affine(m, p)
        else:
            assert not pzy.view_affine(m, p)  # rotations are warped
            pzy.warp(m, p)
        mean, worst = err(got[4:356, 4:-4], want[4:356, 4:-4])  # luma, off the border
        assert mean < 0.6 and worst <= 4, (angle, mean, worst)
        mean, worst = err(got[360:], want[360:])  # chroma
        assert mean < (0.5 if angle else 1.0), (angle, zoom, mean)
        if angle == 0.0:  # the cut views' chroma is where the warp puts it (the warp's siting is checked above)
            warped = Y.i420(640, 360)
            pzy.warp(m, Y.planes(warped))
            assert err(got[360:], warped[360:])[0] < 0.9 and err(got[:360], warped[:360])[0] < 0.5


def test_light_adds_as_in_rgb_where_nothing_saturates():
    import cv2

    base = smooth_picture(640, 360, 1) // 2  # dark enough that the light never clips
    light = np.zeros((180, 320, 3), np.float32)
    light[40:120, 60:200] = (90.0, 45.0, 12.0)  # warm light
    light = cv2.GaussianBlur(light, (0, 0), 6)
    want_rgb = cv2.add(base, cv2.resize(cv2.convertScaleAbs(light), (640, 360), interpolation=cv2.INTER_LINEAR))
    got = to_yuv(base)
    Y.Finish((180, 320), (360, 640), None).apply(Y.planes(got), light, 1.0, 0)
    mean, worst = err(got, to_yuv(want_rgb))
    assert mean < 0.5 and worst <= 3, (mean, worst)
    assert got[:360].mean() > to_yuv(base)[:360].mean() + 2  # it did brighten
    # With the vignette and a gain in the same pass, as the RGB steps one after the other.
    from engines.video.grade import vignette_mask

    mask = vignette_mask(640, 360, 0.6, 0.7)
    got = to_yuv(base)
    Y.Finish((180, 320), (360, 640), mask).apply(Y.planes(got), light, 1.1, 0)
    mean, worst = err(got, to_yuv(cv2.multiply(want_rgb, mask, scale=1.1 / 255.0)))
    assert mean < 0.6 and worst <= 3, (mean, worst)


@pytest.mark.parametrize("gain,lift", [(1.0, 0), (0.93, 0), (1.15, 12)])
def test_vignette_gain_and_lift_match_rgb(gain, lift):
    import cv2

    from engines.video.grade import vignette_mask

    pic = smooth_picture(640, 360, 2) // 2 + 40
    mask = vignette_mask(640, 360, 0.6, 0.7)
    rgb = cv2.multiply(pic, mask, scale=gain / 255.0)
    if lift:
        rgb = cv2.add(rgb, (lift, lift, lift, 0))
    got = to_yuv(pic)
    Y.Finish(None, (360, 640), mask).apply(Y.planes(got), None, gain, lift)
    mean, worst = err(got, to_yuv(rgb))
    assert mean < 0.8 and worst <= 3, (mean, worst)
    y = got[:360]
    assert y[:20, :20].mean() < y[170:190, 310:330].mean() - 15  # corners darker than the middle


def test_a_premultiplied_patch_blends_as_in_rgb():
    import cv2

    frame = smooth_picture(320, 180, 3)
    opacity = np.zeros((40, 100), np.float32)
    cv2.rectangle(opacity, (10, 8), (90, 32), 1.0, -1)
    opacity = cv2.GaussianBlur(opacity, (0, 0), 2)[:, :, None]
    colour = np.array([250.0, 200.0, 60.0], np.float32)
    rgb = np.clip(colour * opacity + 0.5, 0, 255).astype(np.uint8)
    clear = np.clip(255 * (1 - opacity) + 0.5, 0, 255).astype(np.uint8).repeat(3, axis=2)
    want = frame.copy()
    roi = want[60:100, 110:210]
    cv2.add(cv2.multiply(roi, clear, scale=1 / 255.0), rgb, dst=roi)
    got = to_yuv(frame)
    premult, clears = Y.patch_yuv(rgb, clear)
    Y.blend_patch(Y.planes(got), 110, 60, premult, clears)
    mean, worst = err(got, to_yuv(want))
    assert mean < 0.3 and worst <= 12, (mean, worst)
    with pytest.raises(ValueError, match="even"):
        Y.blend_patch(Y.planes(got), 111, 60, premult, clears)


@pytest.mark.parametrize("kind", ["crossfade", "fade", "slide", "wipe", "none"])
def test_transitions_in_yuv_are_the_rgb_ones_converted(kind):
    from engines.video import frames as F

    a, b = smooth_picture(320, 180, 4), smooth_picture(320, 180, 5)
    for p in (0.0, 0.2, 0.5, 0.7, 1.0):
        if kind == "slide":  # the YUV frame slides by an even number of pixels (its chroma by half)
            shift = 2 * round(p * p * (3 - 2 * p) * 320 / 2)
            want = to_yuv(F.slide(a, b, shift / 320))
        else:
            want = to_yuv(F.transition(kind, a, b, p))
        got = Y.transition(kind, to_yuv(a), to_yuv(b), p)
        mean, worst = err(got, want)
        assert mean < 0.6 and worst <= 2, (kind, p, mean, worst)
    assert (Y.transition("fade", to_yuv(a), to_yuv(b), 0.5)[:180] == 16).all()  # black half way
