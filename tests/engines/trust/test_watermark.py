"""The audio watermark (engines/trust/watermark.py) on real and generated audio: it stays 30 dB
below the signal, its payload is read back from a 10 s excerpt after MP3 and AAC at 128 kb/s,
resampling to 16 kHz, mono downmix and -6 dB, and it is not found in audio that does not carry it
(or with another key)."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from core.audio import Audio
from engines.trust import watermark

KEY = b"studio key for the tests"
PAYLOAD = 0xA5_12_34_56  # 32 bits: a studio byte and a 24-bit generation id


def snr_db(clean: Audio, marked: Audio) -> float:
    x, y = clean.samples.astype(np.float64), marked.samples.astype(np.float64)
    return float(10 * np.log10(np.sum(x ** 2) / np.sum((y - x) ** 2)))


def through_ffmpeg(audio: Audio, tmp_path, args: list[str], ext: str) -> Audio:
    src, coded, back = tmp_path / "in.wav", tmp_path / f"coded{ext}", tmp_path / "back.wav"
    audio.write(src)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(src), *args, str(coded)], check=True)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(coded), str(back)], check=True)
    return Audio.read(back)


def excerpt(audio: Audio, start_s: float, length_s: float = 10.0) -> Audio:
    i = int(start_s * audio.sample_rate)
    return Audio(np.ascontiguousarray(audio.samples[i:i + int(length_s * audio.sample_rate)]), audio.sample_rate)


@pytest.fixture(scope="module")
def hosts():
    """Generated speech (the Piper voice), real read speech and real stereo music, each over 12 s."""
    from engines.voice import piper
    from tests.conftest import SAMPLES

    voice = piper.find_voice()
    assert voice is not None
    speech = piper.synthesize("The harbour lights came on one by one as the fishing boats returned. "
                              "Nobody on the pier said a word while the last boat turned toward the lamp. "
                              "Then the bell rang twice, and the whole town seemed to breathe again. "
                              "By morning the storm had passed, and the gulls were back on the harbour wall.", voice)
    read = Audio.concat([Audio.read(p).mono() for p in sorted((SAMPLES / "voices" / "librispeech-1998")
                                                               .glob("*.flac"))[:4]])
    music = Audio.read(SAMPLES / "nonspeech" / "music_fiddle_gcompris-ireland.flac")
    if music.channels == 1:
        music = Audio(np.stack([music.samples, np.roll(music.samples, 7)], axis=1), music.sample_rate)
    assert speech.duration_s > 12 and read.duration_s > 12 and music.duration_s > 12
    return {"generated speech": speech, "read speech": read, "stereo music": music}


TRANSFORMS = {
    "mp3 128k": lambda a, tmp: through_ffmpeg(a, tmp, ["-b:a", "128k"], ".mp3"),
    "aac 128k": lambda a, tmp: through_ffmpeg(a, tmp, ["-c:a", "aac", "-b:a", "128k"], ".m4a"),
    "16 kHz": lambda a, tmp: a.resampled(16_000),
    "mono": lambda a, tmp: a.mono(),
    "-6 dB": lambda a, tmp: Audio((a.samples * 0.5).astype(np.float32), a.sample_rate),
}


def test_the_payload_survives_every_transformation_in_a_10_s_excerpt(hosts, tmp_path):
    rng = np.random.default_rng(7)
    for name, host in hosts.items():
        marked = watermark.embed(host, PAYLOAD, KEY)
        assert marked.samples.shape == host.samples.shape and marked.sample_rate == host.sample_rate
        assert snr_db(host, marked) >= 30.0, name
        for label, transform in TRANSFORMS.items():
            start = float(rng.uniform(0.0, host.duration_s - 10.0))
            got = watermark.detect(excerpt(transform(marked, tmp_path), start), KEY)
            assert got.found and got.payload == PAYLOAD, (name, label, got)
        # The same excerpt without the watermark, or with another key: nothing found.
        assert not watermark.detect(excerpt(host, 1.0), KEY).found, name
        assert not watermark.detect(excerpt(marked, 1.0), b"another studio").found, name


def test_real_recordings_without_the_mark_are_not_taken_for_marked(tmp_path):
    from tests.conftest import SAMPLES

    files = sorted((SAMPLES / "voices").glob("*/*.flac")) + sorted((SAMPLES / "nonspeech").glob("*.flac"))
    checked = 0
    for f in files:
        a = Audio.read(f)
        if a.duration_s < 5.0:
            continue
        got = watermark.detect(a, KEY)
        assert not got.found and got.confidence < watermark.MIN_PILOT_Z, (f.name, got)
        checked += 1
    assert checked >= 10


def test_payload_must_fit_and_short_or_silent_audio_is_left_alone():
    with pytest.raises(ValueError, match="32 bits"):
        watermark.embed(Audio(np.zeros(48_000, np.float32), 48_000), 2 ** 32, KEY)
    silent = Audio(np.zeros(48_000, np.float32), 48_000)
    assert watermark.embed(silent, 1, KEY) is silent
