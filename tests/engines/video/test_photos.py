"""Photos to video: real renders decoded back. Ken Burns zooms toward the face (feature matching
between frames and an independent face detection), crossfades are blends, durations follow the audio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.audio import Audio
from core.errors import Cancelled, InputError
from core.progress import CancelToken
from engines.video.photos import ImageToVideoRequest, image_to_video
from tests.engines.video.conftest import (
    assert_mp4_basics,
    decode_frames,
    ffprobe,
    pattern_image,
    portrait,
    solid_image,
    speech,
    stream,
)

FPS = 30


def _faces(frame: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Faces found by OpenCV's Haar cascade, configured here independently of the engine."""
    import cv2

    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    found = cascade.detectMultiScale(gray, 1.1, 4, minSize=(20, 20))
    return sorted((tuple(int(v) for v in f) for f in found), key=lambda b: -b[2] * b[3])


def _scale_between(a: np.ndarray, b: np.ndarray) -> tuple[float, np.ndarray]:
    """Scale and 2x3 similarity transform mapping frame a onto frame b (ORB matches + RANSAC)."""
    import cv2

    orb = cv2.ORB_create(800)
    k1, d1 = orb.detectAndCompute(a, None)
    k2, d2 = orb.detectAndCompute(b, None)
    matches = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True).match(d1, d2)
    p1 = np.float32([k1[m.queryIdx].pt for m in matches])
    p2 = np.float32([k2[m.trainIdx].pt for m in matches])
    m, inliers = cv2.estimateAffinePartial2D(p1, p2)
    assert m is not None and inliers.sum() >= 20
    return float(np.hypot(m[0, 0], m[0, 1])), m


@pytest.fixture(scope="module")
def kb_video(tmp_path_factory):
    """A face small and off-centre (top right) on a textured photo, then the art_0 portrait; 3 s of speech."""
    tmp = tmp_path_factory.mktemp("photos")
    canvas = np.asarray(Image.open(pattern_image(tmp / "bg.png", 960, 540, 3))).copy()
    face = np.asarray(Image.open(portrait("art_1.png")).convert("RGB").resize((220, 220)))
    canvas[60:280, 640:860] = face
    Image.fromarray(canvas).save(tmp / "face_right.png")
    audio = speech(3.0)
    progress: list[tuple[float, float]] = []
    res = image_to_video(ImageToVideoRequest([tmp / "face_right.png", portrait("art_0.png")], audio,
                                             size="320x180", fps=FPS, transition="crossfade", transition_s=0.6),
                         tmp / "kb.mp4", lambda d, t, m="": progress.append((d, t)))
    return res, decode_frames(res.path), audio, progress


def test_photo_video_is_h264_aac_timed_to_the_audio(kb_video):
    res, frames, audio, progress = kb_video
    assert_mp4_basics(res.path, 320, 180, audio.duration_s, FPS)
    assert res.frames == len(frames) == 90 and res.duration_s == 3.0
    assert res.metrics["starts_s"] == [0.0, 1.5]  # the audio split evenly over two photos
    assert res.poster_path is not None and res.poster_path.is_file()
    assert progress[-1] == (90, 90) and all(b[0] >= a[0] for a, b in zip(progress, progress[1:]))


def test_ken_burns_zooms_toward_the_face_and_keeps_it_in_frame(kb_video):
    res, frames, _, _ = kb_video
    assert res.metrics["focus"][0] == "face"
    # Photo 1 is alone on screen until the crossfade starts at 1.2 s (frame 36).
    checkpoints = [0, 12, 24, 35]
    scales = [_scale_between(frames[0], frames[k])[0] for k in checkpoints[1:]]
    assert scales[0] < scales[1] < scales[2], scales  # zooming in, steadily
    assert 1.06 < scales[2] < 1.2, scales
    boxes = [_faces(frames[k]) for k in checkpoints]
    assert all(boxes), boxes
    first, last = boxes[0][0], boxes[-1][0]
    for x, y, w, h in (first, last):  # the whole face is inside the frame
        assert x >= 0 and y >= 0 and x + w <= 320 and y + h <= 180
    assert last[2] > first[2]  # the face grows ...
    centre = np.array([160, 90])
    dist = lambda b: np.hypot(b[0] + b[2] / 2 - centre[0], b[1] + b[3] / 2 - centre[1])  # noqa: E731
    assert dist(last) < dist(first)  # ... and the view pans toward it
    # The second photo pulls back out: its frames shrink over time.
    s2, _ = _scale_between(frames[50], frames[89])
    assert s2 < 0.97, s2


def test_a_portrait_photo_is_shown_whole_over_a_blurred_backdrop(kb_video):
    _, frames, _, _ = kb_video
    # art_0 is a tall portrait: in a 16:9 video it is not cropped to a strip across the face.
    for k in (50, 89):
        faces = _faces(frames[k])
        assert faces, k
        x, y, w, h = faces[0]
        assert x >= 0 and y >= 0 and x + w <= 320 and y + h <= 180 and h < 120
    last = frames[89].astype(float)
    # The photo sits in the middle; the sides show the darkened, blurred backdrop (smooth, no edges).
    side = last[:, :30]
    middle = last[:, 120:200]
    assert side.mean() < middle.mean()
    assert np.abs(np.diff(side, axis=1)).mean() < np.abs(np.diff(middle, axis=1)).mean()


@pytest.fixture(scope="module")
def solid_video(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("solid")
    red = solid_image(tmp / "red.png", 300, 200, (230, 20, 20))
    blue = solid_image(tmp / "blue.jpg", 200, 150, (20, 20, 230))  # another size and aspect (4:3): fitted too
    res = image_to_video(ImageToVideoRequest([red, blue], None, seconds_per_image=1.0, size="321x181", fps=FPS,
                                             transition="crossfade", transition_s=0.6), tmp / "solid.mp4")
    return res, decode_frames(res.path)


def test_crossfade_frames_are_blends(solid_video):
    res, frames = solid_video
    assert (res.width_px, res.height_px) == (320, 180) and any("rounded to 320x180" in n for n in res.notes)
    info = ffprobe(res.path)
    assert stream(info, "audio") is None and int(stream(info, "video")["nb_frames"]) == 60
    mean = frames[:, 40:140, 60:260].reshape(60, -1, 3).mean(axis=1)
    red, blue = np.array([230, 20, 20]), np.array([20, 20, 230])
    assert np.abs(mean[:20] - red).max() < 8  # before the crossfade (starts at 0.7 s)
    assert np.abs(mean[41:] - blue).max() < 8  # after it (ends at 1.3 s)
    # In the middle, each frame is (1 - a) * red + a * blue with a rising steadily.
    alphas = (mean[22:39, 2] - 20) / 210.0
    assert np.all(np.diff(alphas) > 0) and alphas[0] < 0.1 and alphas[-1] > 0.9
    for k, a in zip(range(22, 39), alphas):
        assert np.abs(mean[k] - ((1 - a) * red + a * blue)).max() < 6
    assert abs(alphas[30 - 22] - 0.5) < 0.06  # half way at the cut (1.0 s)


def test_720p_photo_video(tmp_path: Path):
    audio = speech(1.0, index=1)
    res = image_to_video(ImageToVideoRequest([portrait("art_1.png")], audio, size="720p", fps=25), tmp_path / "hd.mp4")
    assert_mp4_basics(res.path, 1280, 720, audio.duration_s, 25)
    frames = decode_frames(res.path)
    assert len(frames) == 25 and frames[-1].std() > 20  # a real picture, not a blank frame


def test_bad_inputs_are_refused_with_clear_messages(tmp_path: Path):
    img = solid_image(tmp_path / "ok.png", 64, 64, (10, 200, 10))
    with pytest.raises(InputError, match="at least one photo"):
        image_to_video(ImageToVideoRequest([]), tmp_path / "a.mp4")
    with pytest.raises(InputError, match="101 photos.*at most 100"):
        image_to_video(ImageToVideoRequest([img] * 101), tmp_path / "a.mp4")
    (tmp_path / "notes.jpg").write_text("just some text")
    with pytest.raises(InputError, match="notes.jpg"):
        image_to_video(ImageToVideoRequest([img, tmp_path / "notes.jpg"]), tmp_path / "a.mp4")
    with pytest.raises(InputError, match="empty"):
        image_to_video(ImageToVideoRequest([img], Audio(np.zeros(0, np.float32), 16000)), tmp_path / "a.mp4")
    with pytest.raises(InputError, match="1 hour"):
        image_to_video(ImageToVideoRequest([img], Audio(np.zeros(3601 * 100, np.float32), 100)), tmp_path / "a.mp4")
    with pytest.raises(InputError, match="size"):
        image_to_video(ImageToVideoRequest([img], size="big"), tmp_path / "a.mp4")
    with pytest.raises(InputError, match="transition"):
        image_to_video(ImageToVideoRequest([img], transition="spin"), tmp_path / "a.mp4")
    assert not (tmp_path / "a.mp4").exists()
    # A truncated photo passes the header check but fails when its pixels are read, mid-render:
    # the error names it and no partial video or poster is left behind.
    whole = tmp_path / "whole.jpg"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (300, 400, 3), dtype=np.uint8)).save(whole)
    (tmp_path / "half.jpg").write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(InputError, match="half.jpg.*truncated"):
        image_to_video(ImageToVideoRequest([img, tmp_path / "half.jpg"], speech(2.0), size="320x180"),
                       tmp_path / "t.mp4")
    assert not (tmp_path / "t.mp4").exists() and not (tmp_path / "t.jpg").exists()


def test_cancel_removes_the_partial_file(tmp_path: Path):
    img = solid_image(tmp_path / "ok.png", 64, 64, (10, 200, 10))
    token = CancelToken()

    def progress(done, total, message=""):
        if done > 10:
            token.cancel()

    with pytest.raises(Cancelled):
        image_to_video(ImageToVideoRequest([img], speech(2.0), size="320x180"), tmp_path / "c.mp4", progress, token)
    assert not (tmp_path / "c.mp4").exists() and not (tmp_path / "c.jpg").exists()


@pytest.mark.parametrize("kind", ["fade", "slide", "wipe"])
def test_other_transitions_in_a_rendered_video(kind, tmp_path):
    """At the cut (1.0 s, frame 30) of a red -> blue slideshow: fade is black, slide shows red leaving
    on the left and blue entering on the right, wipe has revealed blue on the left; before and after,
    the photos themselves."""
    red = solid_image(tmp_path / "red.png", 320, 180, (230, 20, 20))
    blue = solid_image(tmp_path / "blue.png", 320, 180, (20, 20, 230))
    res = image_to_video(ImageToVideoRequest([red, blue], None, seconds_per_image=1.0, size="320x180", fps=FPS,
                                             transition=kind, transition_s=0.6), tmp_path / f"{kind}.mp4")
    frames = decode_frames(res.path).astype(np.float32)
    assert len(frames) == 60
    assert np.abs(frames[5].mean(axis=(0, 1)) - (230, 20, 20)).max() < 8
    assert np.abs(frames[55].mean(axis=(0, 1)) - (20, 20, 230)).max() < 8
    cut = frames[30]
    if kind == "fade":
        assert cut.max() < 30
    else:
        left, right = cut[:, 20:120].mean(axis=(0, 1)), cut[:, 200:300].mean(axis=(0, 1))
        if kind == "wipe":
            left, right = right, left
        assert left[0] > 150 and left[2] < 80 and right[2] > 150 and right[0] < 80, (left, right)


def test_transition_helpers():
    from engines.video import frames as F

    a = np.zeros((20, 40, 3), np.uint8)
    a[:, :20] = 100  # left half grey, right half black
    b = np.full((20, 40, 3), 200, np.uint8)
    assert F.transition("fade", a, b, 0.5).max() == 0  # through black half way
    assert np.array_equal(F.transition("fade", a, b, 1.0), b)
    s = F.transition("slide", a, b, 0.5)  # a pushed half out to the left, b entering from the right
    assert np.array_equal(s[:, :20], a[:, 20:]) and np.array_equal(s[:, 20:], b[:, :20])
    w = F.wipe(a, b, 0.5, soft_px=2)
    assert w[0, 0, 0] == 200 and w[0, 39, 0] == 0
    assert F.crossfade(a, b, 0.25)[0, 0, 0] == 125 and F.fade_black(b, 0.5)[0, 0, 0] == 100
    fitted = F.fit(np.full((100, 50, 3), 255, np.uint8), 80, 40)
    assert fitted[:, 30:50].min() == 255 and fitted[:, :29].max() == 0  # tall image: bars left and right
    assert F.cover(np.full((100, 50, 3), 255, np.uint8), 80, 40).shape == (40, 80, 3)
    zoomed = F.crop_zoom(np.tile(np.arange(64, dtype=np.uint8)[None, :, None] * 4, (36, 1, 3)), 64, 36, (32, 18), 2.0)
    assert zoomed[18, 0, 0] >= 60 and zoomed[18, 63, 0] <= 196  # the middle half, magnified


def test_pan_zoom_views_land_within_a_quarter_pixel_and_match_the_warp():
    """PanZoom's resize-based views sample where an exact affine warp would: on ramps (value = the
    source coordinate) every output pixel but the outermost rows and columns is within a quarter source pixel,
    the centre pixel exact; on a real portrait the views match cv2.warpAffine's (crop_zoom) closely."""
    import cv2

    from engines.video import frames as F

    w, h = 604, 340
    ramp_x = np.tile(np.arange(w, dtype=np.float32)[None, :, None], (h, 1, 3))
    ramp_y = np.tile(np.arange(h, dtype=np.float32)[:, None, None], (1, w, 3))
    px, py = F.PanZoom(ramp_x), F.PanZoom(ramp_y)
    rng = np.random.default_rng(5)
    worst = 0.0
    # Shrinking (512x288 from the 604x340 picture) and magnifying (800x450 from it, as scenes do).
    for ow, oh in [(512, 288)] * 40 + [(800, 450)] * 40:
        out = np.empty((oh, ow, 3), np.float32)
        zoom, centre = 1.0 + 0.17 * rng.random(), (302 + rng.uniform(-30, 30), 170 + rng.uniform(-20, 20))
        x0, y0, sx, sy = F._zoom_window(w, h, ow, oh, centre, zoom)
        assert px.view(x0, y0, sx, sy, out)
        ex = out[oh // 2, :, 0] - (x0 + np.arange(ow) * sx)
        assert py.view(x0, y0, sx, sy, out)
        ey = out[:, ow // 2, 0] - (y0 + np.arange(oh) * sy)
        # The outermost pixels may sample the window's border pixel (clamped, as resize does).
        worst = max(worst, np.abs(ex[1:-1]).max(), np.abs(ey[1:-1]).max())
        assert abs(ex[(ow - 1) // 2] + ex[ow // 2]) < 0.02 and abs(ey[(oh - 1) // 2] + ey[oh // 2]) < 0.02  # centre
        assert np.abs(ex).max() < 0.75 and np.abs(ey).max() < 0.75
    assert worst <= 0.26, worst  # a quarter pixel, plus the rounding of resize's coefficients
    out = np.empty((288, 512, 3), np.float32)
    # A window past the picture's edge is refused (the caller then warps instead).
    assert not px.view(-10.0, 0.0, 1.0, 1.0, out)

    img = np.asarray(Image.open(portrait("art_0.png")).convert("RGB").resize((w, h)))
    pz, got = F.PanZoom(img), np.empty((288, 512, 3), np.uint8)
    for zoom, centre in ((1.0, (302, 170)), (1.09, (280, 150)), (1.17, (330, 190))):
        ref = F.crop_zoom(img, 512, 288, centre, zoom)
        pz.crop_zoom(512, 288, centre, zoom, got)
        mse = ((ref.astype(float) - got.astype(float)) ** 2).mean()
        assert 10 * np.log10(255 ** 2 / mse) > 40
    m = cv2.getRotationMatrix2D((256, 144), 0.0, 1.05)
    assert pz.view_affine(m, got)
    ref = cv2.warpAffine(img, m, (512, 288), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    assert np.abs(ref[2:-2, 2:-2].astype(int) - got[2:-2, 2:-2].astype(int)).mean() < 1.5
    assert not pz.view_affine(cv2.getRotationMatrix2D((256, 144), 0.5, 1.05), got)  # rotations: warp
