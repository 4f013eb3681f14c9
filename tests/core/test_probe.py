"""The media probe (core/probe.py) on what intake and the engines both meet: audio with cover art is audio,
and a file that is no media is refused by name. The MP4 fields are checked against the encoder's output
in tests/engines/video/test_encode.py."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from PIL import Image

from core.probe import NotMedia, probe_media


def test_cover_art_is_not_a_video_stream(tmp_path: Path):
    Image.new("RGB", (64, 64), (200, 0, 0)).save(tmp_path / "cover.png")
    song = tmp_path / "song.mp3"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=440:duration=1",
                    "-i", str(tmp_path / "cover.png"), "-map", "0:a", "-map", "1:v", "-c:a", "libmp3lame",
                    "-c:v", "png", "-disposition:v", "attached_pic", "-id3v2_version", "3", str(song)], check=True)
    info = probe_media(song)
    assert info["format_name"] == "mp3" and info["audio_codec"] == "mp3" and info["audio_channels"] == 1
    assert info["video_codec"] is None and info["width"] is None
    assert abs(info["duration_s"] - 1.0) < 0.1 and info["atoms"] == [] and info["faststart"] is False


def test_a_file_that_is_no_media_is_refused_by_name(tmp_path: Path):
    (tmp_path / "notes.wav").write_text("not audio at all")
    with pytest.raises(NotMedia, match="notes.wav"):
        probe_media(tmp_path / "notes.wav")
