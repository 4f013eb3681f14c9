"""Scene and music videos end to end: real audio, a real portrait, decoded output checked with ffprobe."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.audio import Audio
from core.errors import Cancelled, InputError
from core.probe import probe_media
from core.progress import CancelToken
from engines.video.decode import read_frames
from engines.video.scene_video import (
    MusicVideoRequest,
    SceneVideoRequest,
    check_request,
    render_music_video,
    render_scene_video,
)
from tests.engines.video.test_beats import click_track

FPS = 30
LRC = "[00:00.40]Rise <00:00.80>up <00:01.20>again\n[00:01.60]hold the line\n"


def speech_clip(samples: Path, seconds: float) -> Audio:
    path = sorted((samples / "voices" / "librispeech-1998").glob("*.flac"))[0]
    a = Audio.read(path)
    return Audio(a.samples[: int(seconds * a.sample_rate)], a.sample_rate)


def assert_mp4_matches_audio(info: dict, audio: Audio, w: int, h: int) -> None:
    assert info["video_codec"] == "h264" and info["pix_fmt"] == "yuv420p" and info["audio_codec"] == "aac"
    assert (info["width"], info["height"]) == (w, h)
    assert info["fps"] == pytest.approx(FPS)
    assert abs(info["video_duration_s"] - audio.duration_s) <= 1.0 / FPS
    assert abs(info["audio_duration_s"] - audio.duration_s) <= 1.0 / FPS
    assert info["frames"] == int(round(audio.duration_s * FPS))
    assert info["faststart"]


# tests/data (the `samples` fixture is per test; this render is shared by the module).
SAMPLES = Path(__file__).resolve().parents[2] / "data"


@pytest.fixture(scope="module")
def scene_video(tmp_path_factory):
    if not SAMPLES.exists():
        pytest.skip(f"shared samples not found at {SAMPLES}")
    samples = SAMPLES
    audio = speech_clip(samples, 2.37)
    out = tmp_path_factory.mktemp("scene") / "scene.mp4"
    steps = []
    res = render_scene_video(SceneVideoRequest(audio=audio, template="emotional_closeup",
                                               images=[samples / "portraits" / "art_0.png"],
                                               captions="A quiet word. Then another one.", size="320x180", fps=FPS,
                                               visualiser="waveform", title="Portrait", seed=3),
                             out, progress=lambda d, t, m="": steps.append(d / t))
    return audio, res, steps


def test_scene_video_over_a_portrait(scene_video):
    audio, res, steps = scene_video
    info = probe_media(res.path, count_frames=True)
    assert_mp4_matches_audio(info, audio, 320, 180)
    assert res.frames == info["frames"] and res.duration_s == pytest.approx(res.frames / FPS)
    assert steps[-1] == 1.0 and all(a <= b for a, b in zip(steps, steps[1:]))
    frames = list(read_frames(res.path))
    assert len(frames) == res.frames
    # The portrait is there (a detailed centre) and the picture moves.
    assert frames[30][40:140, 110:210].std() > 15
    diffs = [np.abs(frames[k].astype(int) - frames[k + 10].astype(int)).mean() for k in range(0, len(frames) - 10, 10)]
    assert min(diffs) > 0.5
    # The poster is a JPEG still of the video's size.
    from PIL import Image

    with Image.open(res.poster_path) as im:
        assert im.format == "JPEG" and im.size == (320, 180)
    assert res.metrics["template"] == "emotional_closeup" and res.metrics["draw_ms_per_frame"] > 0


def test_scene_video_drawn_in_yuv_is_the_scene_with_its_captions(tmp_path, samples):
    """No title and no presenter: every frame is drawn straight into YUV. Decoded, the video is the
    scene the renderer draws (letterbox bars black), with the caption on at its time and off before."""
    from engines.video.beats import analyse_audio
    from engines.video.captions import CaptionRenderer, parse_captions
    from engines.video.scenes import SceneRenderer

    audio = speech_clip(samples, 2.0)
    portrait = samples / "portraits" / "art_0.png"
    res = render_scene_video(SceneVideoRequest(audio=audio, template="epic_battle", images=[portrait], captions=LRC,
                                               size="640x360", fps=FPS, seed=5), tmp_path / "yuv.mp4")
    info = probe_media(res.path, count_frames=True)
    assert_mp4_matches_audio(info, audio, 640, 360)
    frames = list(read_frames(res.path))
    scene = SceneRenderer("epic_battle", "640x360", FPS, analyse_audio(audio, FPS), images=[portrait], seed=5)
    assert scene.draws_yuv and scene.bar > 0
    caps = CaptionRenderer(scene.size, None, parse_captions(LRC, audio.duration_s))
    x, y, w, h = caps.box(1.0)
    for k in (3, 20, 40):
        want = scene.frame(k).astype(np.int16)
        got = frames[k].astype(np.int16)
        outside = np.ones((360, 640), bool)
        outside[y:y + h, x:x + w] = False
        assert np.abs(want - got)[outside].mean() < 4.0, k  # encoding loss plus the grain
        bars = np.zeros((360, 640), bool)
        bars[:scene.bar] = bars[360 - scene.bar:] = True
        assert got[bars & outside].max() < 24  # black bars (the caption may sit over the lower one)
    before, during = frames[6][y:y + h, x:x + w], frames[30][y:y + h, x:x + w]  # 0.2 s and 1.0 s
    plain = scene.frame(30)[y:y + h, x:x + w]
    assert np.abs(during.astype(int) - plain.astype(int)).mean() > 10  # the caption is on
    assert np.abs(before.astype(int) - scene.frame(6)[y:y + h, x:x + w].astype(int)).mean() < 5  # not yet


def test_scene_video_is_deterministic_for_a_seed(scene_video, tmp_path, samples):
    audio, res, _ = scene_video
    again = render_scene_video(SceneVideoRequest(audio=audio, template="emotional_closeup",
                                                 images=[samples / "portraits" / "art_0.png"],
                                                 captions="A quiet word. Then another one.", size="320x180",
                                                 fps=FPS, visualiser="waveform", title="Portrait", seed=3),
                               tmp_path / "again.mp4")
    a, b = list(read_frames(res.path)), list(read_frames(again.path))
    assert len(a) == len(b)
    assert max(np.abs(x.astype(int) - y.astype(int)).mean() for x, y in zip(a, b)) < 0.01


def test_music_video_title_card_then_scene_with_lyrics(tmp_path):
    song = click_track(120, 2.6)
    res = render_music_video(MusicVideoRequest(audio=song, lrc=LRC, title="Fire Song", template="epic_battle",
                                               size="320x180", fps=FPS, visualiser="bars", title_s=1.0),
                             tmp_path / "mv.mp4")
    info = probe_media(res.path, count_frames=True)
    assert_mp4_matches_audio(info, song, 320, 180)
    frames = list(read_frames(res.path))
    card, scene = frames[int(0.4 * FPS)], frames[int(2.2 * FPS)]
    # The card: the gold title in the middle on a dark ground.
    mid = card[60:120, 60:260].astype(int)
    gold = (mid[..., 0] > 120) & (mid[..., 1] > 90) & (mid[..., 2] < 90) & (mid[..., 0] - mid[..., 2] > 60)
    assert gold.sum() > 30
    # Later: the scene with its letterbox bars (epic_battle) and the visualiser bars in the bottom bar.
    assert scene[:10].max() < 30
    assert not np.array_equal(card, scene)
    # Lyrics: the caption box darkens and its text lights the lower part while a line is on (1.6..2.6 s).
    lyric = frames[int(1.9 * FPS)][120:170].astype(int)
    assert (lyric.max(axis=2) > 200).sum() > 40


def test_bad_requests_are_input_errors(tmp_path, samples):
    audio = Audio.silence(1.0, 16000)
    bad = [
        SceneVideoRequest(audio=audio, template="space_opera"),
        SceneVideoRequest(audio=Audio(np.zeros(0, np.float32), 16000)),
        SceneVideoRequest(audio=Audio(np.zeros(3601 * 10, np.float32), 10)),  # over an hour
        SceneVideoRequest(audio=audio, fps=60),
        SceneVideoRequest(audio=audio, size="10x10"),
        SceneVideoRequest(audio=audio, visualiser="lasers"),
        SceneVideoRequest(audio=audio, images=[samples / "portraits" / "missing.png"]),
        SceneVideoRequest(audio=audio, title="x" * 500),
    ]
    for req in bad:
        with pytest.raises(InputError):
            render_scene_video(req, tmp_path / "bad.mp4")
        assert not (tmp_path / "bad.mp4").exists()
    with pytest.raises(InputError) as e:
        check_request(SceneVideoRequest(audio=None, template="space_opera"))
    assert "epic_battle" in str(e.value) and "emotional_closeup" in str(e.value)
    with pytest.raises(InputError):
        render_music_video(MusicVideoRequest(audio=None, lrc="", title=""), tmp_path / "bad.mp4")
    # A workflow checks a request before loading its audio.
    checked = check_request(SceneVideoRequest(audio=None, size="321x180"))
    size, fps, notes = checked.plan.size, checked.plan.fps, checked.notes
    assert (size.width_px, fps) == (320, 30) and notes


def test_cancel_stops_and_leaves_no_file(tmp_path):
    token = CancelToken()
    calls = []

    def progress(done, total, message=""):
        calls.append(done)
        if len(calls) == 3:
            token.cancel()

    with pytest.raises(Cancelled):
        render_scene_video(SceneVideoRequest(audio=click_track(100, 3.0), template="sacred_temple", size="320x180"),
                           tmp_path / "c.mp4", progress, token)
    assert not (tmp_path / "c.mp4").exists()


@pytest.mark.parametrize("position", ["top-right", "bottom-left"])
def test_title_and_captions_go_beside_a_presenter_never_under_it(tmp_path, samples, position):
    """The same scene with a presenter, with and without its title and captions: what they add lies
    wholly outside the presenter's box."""
    from engines.video.composite import HeadOverlay
    from tests.engines.video.conftest import decode_frames, make_head_video

    head = make_head_video(tmp_path / "head.mp4", 2.0)
    audio = speech_clip(samples, 2.0)
    words = "[00:00.10]Every word of this long caption line stays beside the presenter"
    common = {"audio": audio, "template": "plain_dark", "size": "640x360", "fps": FPS, "presenter_video": head,
              "presenter_position": position}
    with_text = render_scene_video(SceneVideoRequest(**common, title="A long title that would reach the corner",
                                                     captions=words), tmp_path / "a.mp4")
    plain = render_scene_video(SceneVideoRequest(**common), tmp_path / "b.mp4")
    a, b = decode_frames(with_text.path), decode_frames(plain.path)
    x, y, w, h = HeadOverlay(head, (640, 360), FPS, position).box
    diff = np.abs(a.astype(np.int16) - b.astype(np.int16)).max(axis=-1)
    inside = diff[:, y:y + h, x:x + w]
    outside = diff.copy()
    outside[:, y:y + h, x:x + w] = 0
    assert (outside[:30] > 60).sum() > 500  # the title and the caption are drawn ...
    # ... and nothing of them under the presenter (the encoder's own noise there stays below 80 levels).
    assert (inside > 80).sum() == 0 and (inside > 40).sum() < 100, ((inside > 80).sum(), (inside > 40).sum())
