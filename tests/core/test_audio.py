"""MP3 files (core/audio.py): the song download and slide narration are encoded by the same function."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.audio import Audio, encode_mp3
from core.errors import InputError
from core.probe import probe_media


def test_encode_mp3_at_the_asked_rate_and_copies_an_mp3(tmp_path: Path):
    t = np.arange(48000 * 2) / 48000.0
    wav = Audio(np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 660 * t)], 1).astype(np.float32) * 0.3,
                48000).write(tmp_path / "song.wav")
    mp3 = encode_mp3(wav, tmp_path / "song.mp3", 128)
    info = probe_media(mp3)
    assert (info["audio_codec"], info["audio_channels"], info["audio_sample_rate"]) == ("mp3", 2, 48000)
    assert abs(info["duration_s"] - 2.0) < 0.1
    again = encode_mp3(mp3, tmp_path / "copy.mp3", 64)
    assert again.read_bytes() == mp3.read_bytes()  # not encoded twice
    (tmp_path / "notes.wav").write_text("not audio")
    with pytest.raises(InputError, match="notes.wav"):
        encode_mp3(tmp_path / "notes.wav", tmp_path / "x.mp3", 128)
    with pytest.raises(InputError, match="does not exist"):
        encode_mp3(tmp_path / "missing.wav", tmp_path / "x.mp3", 128)
