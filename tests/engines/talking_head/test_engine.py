"""The embedded engine's options and its answers to bad input: crop, sizes, fps, silent audio,
no face, several faces, small faces, oversized or unreadable photos, progress and cancelling."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.audio import Audio
from core.errors import Cancelled, InputError
from core.progress import CancelToken
from engines.talking_head import TalkingHeadRequest, render_talking_head
from tests.engines.talking_head.measure import SAMPLES, decode, probe

pytest.importorskip("mediapipe")
pytest.importorskip("cv2")

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def speech() -> Audio:
    path = SAMPLES / "voices" / "librispeech-1998" / "1998-15444-0000.flac"
    if not path.exists():
        pytest.skip(f"shared samples not found at {SAMPLES}")
    a = Audio.read(path).mono()
    return Audio(a.samples[: int(1.6 * a.sample_rate)], a.sample_rate)


@pytest.fixture(scope="module")
def photos() -> dict[str, np.ndarray]:
    import cv2

    out = {}
    for name in ("art_0", "art_1"):
        p = SAMPLES / "portraits" / f"{name}.png"
        if not p.exists():
            pytest.skip(f"shared samples not found at {SAMPLES}")
        out[name] = cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB)
    return out


def _render(tmp_path: Path, portrait, audio: Audio, **kw):
    return render_talking_head(TalkingHeadRequest(portrait, audio, output_path=tmp_path / "out.mp4", **kw))


# ----------------------------------------------------------------------------- options


def test_face_crop_at_256_and_30_fps(tmp_path, speech):
    r = _render(tmp_path, SAMPLES / "portraits" / "art_0.png", speech, size=256, fps=30, crop=True)
    assert (r.width, r.height) == (256, 256)
    assert r.frames == round(speech.duration_s * 30) and r.fps == 30
    v = next(s for s in probe(r.video_path)["streams"] if s["codec_type"] == "video")
    assert (int(v["width"]), int(v["height"])) == (256, 256)
    assert abs(float(probe(r.video_path)["format"]["duration"]) - speech.duration_s) <= 1 / 30
    # The crop holds the face: its box lies inside the photo and is what was animated.
    assert r.face_box.width > 200 and 0 <= r.face_box.x < 640


def test_original_size_keeps_the_photo_size(tmp_path, speech, photos):
    r = _render(tmp_path, photos["art_0"], speech, size="original", still=True, blinks=False)
    assert (r.width, r.height) == (640, 896)
    frames = decode(r.video_path)
    # The first frame, before the speech starts, is the photo itself (up to H.264 loss).
    assert np.abs(frames[0].astype(int) - photos["art_0"]).mean() < 3.0


def test_full_photo_is_fitted_to_the_size_with_even_sides(tmp_path, speech):
    r = _render(tmp_path, SAMPLES / "portraits" / "art_0.png", speech, size=256)
    assert (r.width, r.height) == (182, 256)  # 640x896 scaled to 256 on the longer side, even


def test_expression_zero_keeps_the_mouth_still(tmp_path, speech, photos):
    r = _render(tmp_path, photos["art_1"], speech, expression=0.0, still=True, blinks=False)
    frames = decode(r.video_path).astype(int)
    assert np.abs(frames - photos["art_1"]).max(axis=(1, 2, 3)).max() < 40  # only H.264 loss


def test_silent_audio_renders_an_idle_face_with_a_note(tmp_path, photos):
    silent = Audio.silence(1.2, 16_000)
    r = _render(tmp_path, photos["art_1"], silent, still=True, blinks=False)
    assert any("silent" in n for n in r.notes)
    frames = decode(r.video_path).astype(int)
    assert len(frames) == 30
    assert np.abs(frames - photos["art_1"]).mean(axis=(1, 2, 3)).max() < 3.0


def test_ten_minutes_of_speech_make_a_ten_minute_video_and_longer_is_refused(tmp_path, speech, photos):
    """The longest speech taken (10 minutes) renders whole, as long as the audio, the mouth still moving at
    the end; a second more is refused with the limit."""
    from engines.talking_head.types import MAX_AUDIO_SECONDS

    reps = int(np.ceil(MAX_AUDIO_SECONDS / speech.duration_s))
    long = Audio(np.tile(speech.samples, reps)[: int(MAX_AUDIO_SECONDS * speech.sample_rate)], speech.sample_rate)
    assert long.duration_s == pytest.approx(600.0)
    r = _render(tmp_path, photos["art_1"], long, size=256, fps=25)
    info = probe(r.video_path)
    video = next(s for s in info["streams"] if s["codec_type"] == "video")
    assert r.frames == 15000 and abs(float(video["duration"]) - 600.0) <= 1 / 25 + 0.01
    tail = subprocess.run(["ffmpeg", "-v", "error", "-sseof", "-3", "-i", str(r.video_path), "-f", "rawvideo",
                           "-pix_fmt", "gray", "-"], capture_output=True, check=True).stdout
    frames = np.frombuffer(tail, np.uint8).reshape(-1, r.height, r.width).astype(np.int16)
    assert len(frames) >= 70 and np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2)).max() > 0.5  # still talking
    over = Audio(np.zeros(int((MAX_AUDIO_SECONDS + 1) * 16_000), np.float32), 16_000)
    with pytest.raises(InputError, match="at most 600 s"):
        _render(tmp_path, photos["art_1"], over)


def test_progress_reaches_the_end_and_cancel_stops_cleanly(tmp_path, speech, photos):
    seen: list[float] = []
    r = render_talking_head(TalkingHeadRequest(photos["art_1"], speech, output_path=tmp_path / "p.mp4"),
                            progress=lambda d, t, m="": seen.append(d / t))
    assert seen and seen[-1] == pytest.approx(1.0) and all(b >= a - 1e-9 for a, b in zip(seen, seen[1:]))
    assert r.video_path.exists()

    token = CancelToken()
    calls = []

    def progress(done, total, message=""):
        calls.append(done)
        if done / total > 0.3:
            token.cancel()

    target = tmp_path / "cancelled.mp4"
    with pytest.raises(Cancelled):
        render_talking_head(TalkingHeadRequest(photos["art_1"], speech, output_path=target),
                            progress=progress, cancel=token)
    assert not target.exists(), "a cancelled render leaves no partial file"


# ----------------------------------------------------------------------------- bad input


def test_no_face_is_refused_clearly(tmp_path, speech, photos):
    background = np.ascontiguousarray(np.repeat(photos["art_1"][:, :90], 5, axis=1))
    with pytest.raises(InputError, match="no face found"):
        _render(tmp_path, background, speech)
    noise = np.random.default_rng(0).integers(0, 255, (300, 300, 3), dtype=np.uint8)
    with pytest.raises(InputError, match="no face found"):
        _render(tmp_path, noise, speech)


def test_several_faces_animate_the_largest_and_say_so(tmp_path, speech, photos):
    import cv2

    canvas = np.full((600, 1000, 3), 90, np.uint8)
    canvas[44:556, 0:512] = photos["art_1"]
    canvas[100:458, 650:906] = cv2.resize(photos["art_0"], (256, 358), interpolation=cv2.INTER_AREA)
    r = _render(tmp_path, canvas, speech, still=True)
    assert any("2 faces found" in n and "largest" in n for n in r.notes), r.notes
    assert r.face_box.x < 512 and r.face_box.width > 200  # the big face on the left


def test_small_faces_are_refused_with_what_to_do(tmp_path, speech, photos):
    import cv2

    def placed(face_px: int) -> np.ndarray:
        s = face_px / 257.0  # art_1's face is ~257 px wide
        small = cv2.resize(photos["art_1"], None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        canvas = np.full((800, 800, 3), 90, np.uint8)
        canvas[300:300 + small.shape[0], 300:300 + small.shape[1]] = small
        return canvas

    with pytest.raises(InputError, match="face is too small"):
        _render(tmp_path, placed(45), speech)
    # Big enough in the photo, but too small in a 256 px frame of the whole photo: use the crop.
    with pytest.raises(InputError, match="choose the face crop"):
        _render(tmp_path, placed(100), speech, size=256)
    r = _render(tmp_path, placed(100), speech, size=512, crop=True, still=True)
    assert (r.width, r.height) == (512, 512) and any("enlarged" in n for n in r.notes)


def test_oversized_and_unreadable_photos_are_refused(tmp_path, speech, photos):
    with pytest.raises(InputError, match="too large"):
        _render(tmp_path, SAMPLES / "portraits" / "art_1.png", speech, max_image_pixels=200_000)
    with pytest.raises(InputError, match="too large"):
        _render(tmp_path, photos["art_1"], speech, max_image_pixels=200_000)
    fake = tmp_path / "photo.png"
    fake.write_text("not an image")
    with pytest.raises(InputError, match="cannot read"):
        _render(tmp_path, fake, speech)
    with pytest.raises(InputError, match="does not exist"):
        _render(tmp_path, tmp_path / "missing.png", speech)
    with pytest.raises(InputError, match="too small"):
        _render(tmp_path, np.zeros((40, 40, 3), np.uint8), speech)


def test_a_huge_photo_at_original_size_is_capped(tmp_path, speech, photos):
    import cv2

    big = cv2.resize(photos["art_1"], (2400, 2400), interpolation=cv2.INTER_LINEAR)
    short = Audio(speech.samples[: speech.sample_rate // 4], speech.sample_rate)
    r = _render(tmp_path, big, short, size="original", still=True)
    assert (r.width, r.height) == (1920, 1920)
    assert any("scaled down to 1920" in n for n in r.notes)


@pytest.mark.parametrize("change, message", [
    ({"size": 1024}, "size must be"),
    ({"size": "huge"}, "size must be"),
    ({"fps": 24}, "fps must be"),
    ({"expression": 3.0}, "expression must be"),
    ({"head_motion": -1.0}, "head_motion must be"),
    ({"audio": None}, "speech audio is needed"),
    ({"audio": Audio(np.zeros(0, np.float32), 16_000)}, "empty"),
    ({"audio": Audio(np.zeros(800, np.float32), 16_000)}, "too short"),
])
def test_bad_options_are_refused(tmp_path, speech, photos, change, message):
    kw = {"audio": speech, **change}
    audio = kw.pop("audio")
    with pytest.raises(InputError, match=message):
        render_talking_head(TalkingHeadRequest(photos["art_1"], audio, output_path=tmp_path / "x.mp4", **kw))


def test_importing_the_engine_is_light():
    code = ("import sys; import engines.talking_head as t; "
            "heavy = [m for m in ('mediapipe', 'cv2', 'gradio', 'torch', 'scipy', 'skimage') if m in sys.modules]; "
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"imported at start-up: {out.stdout.strip()}"


def test_grayscale_and_transparent_portraits_are_animated(tmp_path, speech, photos):
    """A grey photo stays grey; a PNG with alpha is flattened; both give a talking video of the face."""
    from PIL import Image

    short = Audio(speech.samples[: speech.sample_rate // 2], speech.sample_rate)
    grey = tmp_path / "grey.png"
    Image.fromarray(photos["art_1"]).convert("L").save(grey)
    r = _render(tmp_path, grey, short, size=256, still=True)
    frames = decode(r.video_path)
    assert frames.shape[1:] == (256, 256, 3)
    spread = np.abs(frames.astype(int) - frames.astype(int).mean(axis=3, keepdims=True)).max()
    assert spread <= 12, f"a grey portrait came out coloured (channel spread {spread})"

    rgba = tmp_path / "alpha.png"
    img = Image.fromarray(photos["art_0"]).convert("RGBA")
    alpha = np.full(img.size[::-1], 255, np.uint8)
    alpha[:, :40] = 0  # a transparent strip at the left edge
    img.putalpha(Image.fromarray(alpha))
    img.save(rgba)
    r = _render(tmp_path, rgba, short, size=256, still=True)
    assert r.frames == len(decode(r.video_path)) and r.face_box.width > 0


@pytest.mark.parametrize("turn", [0.45, 0.85])
def test_a_turned_face_gives_a_video_or_a_clear_message(tmp_path, speech, photos, turn):
    """A face turned away (the portrait warped in perspective, its far side squeezed to 1 - turn of its
    height): either it is animated, with the face found in the output, or refused with a message."""
    import cv2

    img = photos["art_1"]
    h, w = img.shape[:2]
    squeeze = turn * h / 2
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    dst = np.float32([[0, 0], [w * (1 - turn / 2), squeeze], [w * (1 - turn / 2), h - squeeze], [0, h]])
    turned = cv2.warpPerspective(img, cv2.getPerspectiveTransform(src, dst), (w, h), borderValue=(90, 90, 90))
    short = Audio(speech.samples[: speech.sample_rate // 2], speech.sample_rate)
    try:
        r = _render(tmp_path, turned, short, size=256, still=True)
    except InputError as e:
        assert "face" in str(e)
        return
    frames = decode(r.video_path)
    assert len(frames) == r.frames and r.face_box.width > 20
