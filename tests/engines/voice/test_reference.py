"""Reference clips: real speech is accepted and cleaned; silence, noise, music, too short and too long are refused."""

from __future__ import annotations

import numpy as np
import pytest

from core.audio import Audio
from core.errors import InputError
from engines.voice.effects import integrated_loudness
from engines.voice.reference import REFERENCE_LUFS, SAMPLE_RATE, prepare, prepare_all
from tests.conftest import SAMPLES


def speaker_clips(samples, speaker: str) -> list:
    return sorted((samples / "voices" / speaker).glob("*.flac"))


SPEAKERS = ("librispeech-1688", "librispeech-1998", "vctk-p226", "thorsten-de")


def test_every_real_utterance_is_accepted_and_normalised(samples):
    """Read speech of every speaker we have, voiced up to 95 % of the time, at 16-24 kHz, English
    and German, is accepted; each clip is cleaned to the reference loudness."""
    for speaker in SPEAKERS:
        for path in speaker_clips(samples, speaker):
            src = Audio.read(path)
            out, report = prepare(src, path.name)
            assert out.sample_rate == SAMPLE_RATE and out.channels == 1
            assert 0.5 * src.duration_s <= out.duration_s <= src.duration_s + 0.01
            assert integrated_loudness(out) == pytest.approx(REFERENCE_LUFS, abs=1.0)
            assert report.speech_check["speech"], (path.name, report.speech_check)


def test_telephone_quality_is_refused_with_what_to_do(samples):
    """Spoken digits recorded at 8 kHz: refused as telephone quality, as such, or re-sampled to
    16 kHz (nothing above 4 kHz); the message says how to record instead. Ten of them in one
    recording are still judged as speech by the speech check."""
    from engines.voice.speechcheck import classify

    digits = sorted((samples / "voices" / "fsdd-nicolas").glob("*.wav"))
    one = Audio.read(digits[0])
    assert one.sample_rate == 8000
    with pytest.raises(InputError, match="8 kHz .telephone quality.*16 kHz or more"):
        prepare(Audio(np.tile(one.samples, 4), 8000), "digits.wav")
    parts = []
    for path in digits[::3]:
        a = Audio.read(path).resampled(SAMPLE_RATE)
        parts += [a.samples, np.zeros(int(0.3 * SAMPLE_RATE), np.float32)]
    joined = np.concatenate(parts)
    with pytest.raises(InputError, match="no sound above 4 kHz"):
        prepare(Audio(joined, SAMPLE_RATE), "digits-16k.wav")
    check = classify(joined, SAMPLE_RATE)
    assert check["judged"] and check["speech"], check


@pytest.mark.parametrize("clip", sorted(p.name for p in (SAMPLES / "nonspeech").glob("*.flac")))
def test_real_music_and_singing_are_refused_with_what_was_measured(clip):
    """Refused as music (saying what was measured against what speech shows), or, for distorted
    metal with no steady voice pitch at all, as having no voiced speech."""
    with pytest.raises(InputError, match="does not sound like speech|no voiced speech") as err:
        prepare(Audio.read(SAMPLES / "nonspeech" / clip), clip)
    message = str(err.value)
    assert "no voiced speech" in message or ("speech" in message and any(
        unit in message for unit in ("%", " dB", "regularity")))


def test_long_pauses_are_shortened(samples):
    src = Audio.read(speaker_clips(samples, "librispeech-1688")[0])
    gap = np.zeros(int(2.0 * src.sample_rate), np.float32)
    padded = Audio(np.concatenate([src.samples, gap, src.samples]), src.sample_rate)
    out, _ = prepare(padded, "with a pause")
    assert out.duration_s < padded.duration_s - 1.5


def music(seconds: float = 10.0, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Chords with a melody: sustained harmonic tones, as in music."""
    notes = [220, 247, 262, 294, 330, 349, 392, 440]
    out = []
    for i in range(int(seconds / 0.5)):
        t = np.arange(int(sr * 0.5)) / sr
        f = notes[i % 8]
        out.append(sum(np.sin(2 * np.pi * f * k * t) / k + 0.5 * np.sin(2 * np.pi * f * 1.5 * k * t) / k
                       for k in range(1, 6)))
    y = np.concatenate(out)
    return (0.3 * y / np.abs(y).max()).astype(np.float32)


@pytest.mark.parametrize("make, message", [
    (lambda s: np.zeros(SAMPLE_RATE * 5, np.float32), "is silent"),
    (lambda s: Audio.read(speaker_clips(s, "librispeech-1688")[0]).samples[:SAMPLE_RATE // 2], "0.5 s long"),
    (lambda s: np.tile(Audio.read(speaker_clips(s, "librispeech-1688")[0]).samples, 240), "at most 2 min"),
    (lambda s: music(), "does not sound like speech"),
    (lambda s: np.random.default_rng(0).normal(0, 0.1, SAMPLE_RATE * 5).astype(np.float32), "no voiced speech"),
])
def test_bad_references_are_refused(samples, make, message):
    with pytest.raises(InputError, match=message):
        prepare(Audio(make(samples), SAMPLE_RATE), "clip.wav")


def test_too_little_speech_in_all_clips(samples):
    y = Audio.read(speaker_clips(samples, "librispeech-1688")[0]).samples[: int(1.5 * SAMPLE_RATE)]
    with pytest.raises(InputError, match="at least 3 s"):
        prepare_all([(Audio(y, SAMPLE_RATE), "short.wav")])
    with pytest.raises(InputError, match="no reference audio"):
        prepare_all([])
