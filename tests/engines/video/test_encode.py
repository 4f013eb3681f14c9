"""The encoder and the probe: exact frame counts on the audio's frame grid, chapters, posters and faststart,
checked with ffprobe and decoded frames."""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.audio import Audio
from core.errors import InputError
from core.probe import probe_media, top_level_atoms
from engines.video.decode import read_frames
from engines.video.encode import VideoWriter, chapters_metadata, fit_audio_to_frames, frames_for, write_poster
from engines.video.types import Chapter
from tests.engines.video.conftest import assert_mp4_basics, atoms, decode_frames, ffprobe, speech, stream


def _ramp(k: int, w: int = 160, h: int = 144) -> np.ndarray:
    frame = np.zeros((h, w, 3), np.uint8)
    frame[:, :, 0] = (k * 9) % 256
    frame[:, : w // 2, 1] = 200
    return frame


def test_frame_grid_helpers():
    assert frames_for(2.013, 30) == 60 and frames_for(2.02, 30) == 61 and frames_for(0.001, 30) == 1
    a = Audio(np.ones(16000 * 2 + 208, np.float32), 16000)  # 2.013 s
    fitted = fit_audio_to_frames(a, 61, 30)
    assert len(fitted.samples) == round(61 * 16000 / 30)
    assert np.all(fitted.samples[len(a.samples):] == 0)  # padded with silence
    assert len(fit_audio_to_frames(a, 60, 30).samples) == 32000


@pytest.mark.parametrize("seconds,rate", [(2.013, 16000), (1.49, 44100)])
def test_audio_and_video_end_together(tmp_path: Path, seconds: float, rate: int):
    audio = speech(seconds).resampled(rate)
    audio = Audio(audio.samples[: int(round(seconds * rate))], rate)
    out = tmp_path / "v.mp4"
    with VideoWriter(out, 160, 144, 30, audio) as w:
        assert w.n_frames == round(seconds * 30)
        for k in range(w.n_frames):
            w.write(_ramp(k))
    info = assert_mp4_basics(out, 160, 144, seconds, 30)
    a = stream(info, "audio")
    assert int(a["sample_rate"]) == rate
    frames = decode_frames(out)
    assert len(frames) == round(seconds * 30)
    # Frames come back in order: the red ramp of the last one.
    assert abs(int(frames[-1][70, 120, 0]) - (len(frames) - 1) * 9 % 256) < 8


def test_missing_frames_repeat_the_last_and_extra_frames_are_refused(tmp_path: Path):
    audio = speech(1.0)
    out = tmp_path / "short.mp4"
    with VideoWriter(out, 160, 144, 25, audio) as w:
        for k in range(10):
            w.write(_ramp(k))
    frames = decode_frames(out)
    assert len(frames) == 25
    assert np.abs(frames[-1].astype(int) - frames[9].astype(int)).mean() < 2
    with pytest.raises(ValueError, match="already has its 25 frames"):
        with VideoWriter(tmp_path / "long.mp4", 160, 144, 25, audio) as w:
            for k in range(26):
                w.write(_ramp(k))
    assert not (tmp_path / "long.mp4").exists()  # the partial file is removed


def test_chapters_are_readable_by_ffprobe(tmp_path: Path):
    audio = speech(3.0)
    chapters = [Chapter(0.0, "Intro"), Chapter(1.2, "Part = two; #2"), Chapter(2.5, "End")]
    text = chapters_metadata(chapters, 3.0)
    assert text.startswith(";FFMETADATA1\n") and text.count("[CHAPTER]") == 3 and "TIMEBASE=1/1000" in text
    out = tmp_path / "ch.mp4"
    with VideoWriter(out, 160, 144, 30, audio, chapters=chapters) as w:
        for k in range(w.n_frames):
            w.write(_ramp(k))
    got = ffprobe(out)["chapters"]
    assert [c["tags"]["title"] for c in got] == ["Intro", "Part = two; #2", "End"]
    assert [float(c["start_time"]) for c in got] == [0.0, 1.2, 2.5]
    assert [float(c["end_time"]) for c in got] == [1.2, 2.5, 3.0]
    assert_mp4_basics(out, 160, 144, 3.0, 30)
    assert probe_media(out)["chapters"][1] == {"start_s": 1.2, "end_s": 2.5, "title": "Part = two; #2"}


def test_silent_video_and_poster(tmp_path: Path):
    out = tmp_path / "silent.mp4"
    with VideoWriter(out, 160, 144, 24, None) as w:
        for k in range(12):
            w.write(_ramp(k))
    info = ffprobe(out)
    assert stream(info, "audio") is None and int(stream(info, "video")["nb_frames"]) == 12
    poster = write_poster(_ramp(3), tmp_path / "poster.jpg")
    with Image.open(poster) as im:
        assert im.format == "JPEG" and im.size == (160, 144)
        px = np.asarray(im.convert("RGB"))
    assert abs(int(px[10, 10, 1]) - 200) < 10 and int(px[10, 150, 1]) < 10


def test_error_inside_the_block_removes_the_file(tmp_path: Path):
    out = tmp_path / "broken.mp4"
    with pytest.raises(RuntimeError):
        with VideoWriter(out, 160, 144, 30, speech(1.0)) as w:
            w.write(_ramp(0))
            raise RuntimeError("stop")
    assert not out.exists()


def test_probe_media_matches_ffprobe_and_sees_moov_order(tmp_path: Path):
    out = tmp_path / "p.mp4"
    with VideoWriter(out, 160, 144, 25, speech(1.2)) as w:
        for k in range(w.n_frames):
            w.write(_ramp(k))
    p = probe_media(out, count_frames=True)
    assert (p["video_codec"], p["pix_fmt"], p["width"], p["height"]) == ("h264", "yuv420p", 160, 144)
    assert p["frames"] == 30 and p["fps"] == 25.0 and p["audio_codec"] == "aac"
    assert abs(p["video_duration_s"] - 1.2) < 1e-6 and abs(p["audio_duration_s"] - 1.2) <= 1 / 25
    assert p["faststart"] and top_level_atoms(out) == atoms(out)
    # The same streams remuxed without faststart: moov after mdat.
    late = tmp_path / "late.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(out), "-c", "copy", str(late)], check=True)
    assert probe_media(late)["faststart"] is False
    frames = list(read_frames(out, 80, 72))
    assert len(frames) == 30 and frames[0].shape == (72, 80, 3)
    (tmp_path / "notes.mp4").write_text("not a video")
    with pytest.raises(InputError, match="notes.mp4"):
        probe_media(tmp_path / "notes.mp4")


def test_encoder_profiles_and_colour_tags(tmp_path: Path):
    """"still" keeps B-frames (cheap on a quiet picture), "motion" has none; both are tagged BT.601
    studio range and decode back to the colours written."""
    rng = np.random.default_rng(3)
    base = np.repeat(np.repeat(rng.integers(0, 256, (18, 32, 3), dtype=np.uint8), 10, 0), 10, 1)
    base[:60, :100] = (200, 40, 40)
    types = {}
    for profile in ("still", "motion"):
        out = tmp_path / f"{profile}.mp4"
        with VideoWriter(out, 320, 180, 25, None, profile=profile) as w:
            for k in range(50):
                w.write(np.roll(base, k // 10, axis=1))
        frames = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                                 "frame=pict_type", "-of", "csv=p=0", str(out)], capture_output=True, text=True,
                                check=True).stdout.split()
        types[profile] = set(frames)
        v = stream(ffprobe(out), "video")
        assert (v["color_space"], v["color_range"]) == ("smpte170m", "tv")
        red = decode_frames(out)[0][20:40, 20:60].reshape(-1, 3).mean(axis=0)
        assert np.abs(red - (200, 40, 40)).max() < 6, red
    assert "B" in types["still"] and "B" not in types["motion"], types
    with pytest.raises(ValueError, match="profile"):
        VideoWriter(tmp_path / "x.mp4", 320, 180, 25, None, profile="fast")
    with pytest.raises(ValueError, match="even"):
        VideoWriter(tmp_path / "x.mp4", 321, 180, 25, None)


def test_frames_given_as_yuv_encode_like_rgb_ones(tmp_path: Path):
    """write_yuv takes frames already in I420 (as the benchmarks' floors do); they decode to the same
    picture as the RGB frames they came from, and a wrong shape is refused with the shape it needs."""
    import cv2

    from engines.video.encode import queue_frames

    rgb = [_ramp(k) for k in range(12)]
    for name, feed in (("rgb", lambda w, f: w.write(f)),
                       ("yuv", lambda w, f: w.write_yuv(cv2.cvtColor(f, cv2.COLOR_RGB2YUV_I420)))):
        with VideoWriter(tmp_path / f"{name}.mp4", 160, 144, 25, None) as w:
            for f in rgb:
                feed(w, f)
    a, b = decode_frames(tmp_path / "rgb.mp4"), decode_frames(tmp_path / "yuv.mp4")
    assert len(a) == len(b) == 12 and all(np.array_equal(x, y) for x, y in zip(a, b))
    assert abs(int(b[-1][70, 120, 0]) - 11 * 9) < 8
    with VideoWriter(tmp_path / "bad.mp4", 160, 144, 25, None) as w:
        with pytest.raises(ValueError, match=r"\(216, 160\)"):
            w.write_yuv(np.zeros((144, 160), np.uint8))
        w.write(rgb[0])
    # The queue holds about 32 MiB of frames, at least 4 and at most 32.
    assert queue_frames(1280, 720) == 24 and queue_frames(1920, 1080) == 10
    assert queue_frames(160, 144) == 32 and queue_frames(7680, 4320) == 4


def test_yuv_buffers_are_recycled_and_every_frame_arrives_intact(tmp_path: Path):
    """Frames drawn into yuv_buffer() arrays: the arrays come back once ffmpeg has them (a bounded pool,
    not one new array a frame), and no frame is overwritten before it was sent."""
    from engines.video.encode import queue_frames, to_yuv

    rgb = [_ramp(k) for k in range(60)]
    seen = set()
    with VideoWriter(tmp_path / "pool.mp4", 160, 144, 25, None) as w:
        for f in rgb:
            buf = w.yuv_buffer()
            assert buf.shape == (216, 160) and buf.dtype == np.uint8
            seen.add(id(buf))
            buf[...] = to_yuv(f)
            w.write_yuv(buf)
    assert len(seen) <= queue_frames(160, 144) + 3
    got = decode_frames(tmp_path / "pool.mp4")
    assert len(got) == 60
    for k in (0, 17, 33, 59):  # each frame is its own ramp, not a later one drawn into a reused array
        assert abs(int(got[k][70, 120, 0]) - k * 9 % 256) < 8, k


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("ending", ["close", "error"])
def test_the_encoders_files_lie_in_the_scratch_folder_given_and_go_with_the_video(tmp_path: Path, monkeypatch,
                                                                                   ending: str):
    """The audio WAV, chapters and ffmpeg's log live in a folder inside `scratch` while the video is
    encoded, never in the system temp folder, and are gone once it is closed or aborted."""
    import tempfile

    system_tmp = tmp_path / "system-tmp"
    system_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system_tmp))
    monkeypatch.setenv("TMPDIR", str(system_tmp))
    scratch, out = tmp_path / "job" / "tmp", tmp_path / "job" / "video.mp4"
    seen = []
    with pytest.raises(RuntimeError) if ending == "error" else contextlib.nullcontext():
        with VideoWriter(out, 160, 144, 25, speech(1.0), chapters=[Chapter(0.0, "One")], scratch=scratch) as w:
            w.write(_ramp(0))
            seen = _listing(scratch)
            if ending == "error":
                raise RuntimeError("stop")
    (folder,) = [s for s in seen if "/" not in s]
    assert {f"{folder}/audio.wav", f"{folder}/chapters.txt", f"{folder}/ffmpeg.log"} <= set(seen)
    assert _listing(scratch) == [] and _listing(system_tmp) == []
    assert out.exists() == (ending == "close")


def test_without_a_scratch_folder_the_encoders_files_stay_beside_the_video(tmp_path: Path):
    out = tmp_path / "out" / "video.mp4"
    with VideoWriter(out, 160, 144, 25, speech(0.5)) as w:
        w.write(_ramp(0))
        (folder,) = [p for p in out.parent.iterdir() if p.is_dir()]
        assert (folder / "audio.wav").is_file()
    assert _listing(out.parent) == ["video.mp4"]
