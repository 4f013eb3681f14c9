"""Audio features for scenes and visualisers: beats on click tracks, bands on tones, speech and silence."""

from __future__ import annotations

import numpy as np
import pytest

from core.audio import Audio
from core.errors import InputError
from engines.video.beats import analyse_audio

SR = 44100


def click_track(bpm: float, seconds: float, sr: int = SR, first_s: float = 0.25) -> Audio:
    y = np.zeros(int(seconds * sr), np.float32)
    t = np.arange(int(0.03 * sr)) / sr
    click = (np.sin(2 * np.pi * 1500 * t) * np.exp(-t * 150)).astype(np.float32)
    for b in np.arange(first_s, seconds, 60.0 / bpm):
        i = int(round(b * sr))
        n = min(len(click), len(y) - i)
        y[i:i + n] += click[:n]
    return Audio(0.8 * y, sr)


def tone(hz: float, seconds: float = 2.0, level: float = 0.5, sr: int = SR) -> Audio:
    t = np.arange(int(seconds * sr)) / sr
    return Audio((level * np.sin(2 * np.pi * hz * t)).astype(np.float32), sr)


@pytest.mark.parametrize("bpm", [90, 128])
def test_click_track_tempo_and_beat_times(bpm):
    f = analyse_audio(click_track(bpm, 8.0), 30)
    assert f.tempo_bpm == pytest.approx(bpm, rel=0.02)
    period = 60.0 / bpm
    assert f.beat_times_s.size >= int(8.0 / period) - 3
    # Every detected beat sits on a click (within 20 ms).
    phase = (f.beat_times_s - 0.25) / period
    assert np.max(np.abs(phase - np.round(phase))) * period < 0.02
    # Beat frames are the nearest video frames and the pulse peaks there.
    assert np.all(np.abs(f.beat_frames / 30.0 - f.beat_times_s) <= 0.5 / 30 + 1e-6)
    assert np.all(f.beat_pulse[f.beat_frames] > 0.99)
    between = np.clip(f.beat_frames[:-1] + int(0.5 * period * 30), 0, f.n_frames - 1)
    assert np.all(f.beat_pulse[between] < 0.4)


def test_shapes_follow_the_video_frame_grid():
    audio = click_track(120, 2.51)
    f = analyse_audio(audio, 25)
    n = int(round(2.51 * 25))
    assert f.n_frames == n
    for arr in (f.beat_pulse, f.onset, f.rms_db, f.loudness):
        assert arr.shape == (n,) and arr.dtype == np.float32
    assert f.bands.shape == (n, 3)
    assert f.spectrum.shape[0] == n and f.waveform.shape[0] == n
    assert f.onset.min() >= 0 and f.onset.max() <= 1


def test_silence_has_no_beats_and_no_level():
    f = analyse_audio(Audio.silence(2.0, 16000), 30)
    assert f.tempo_bpm == 0.0
    assert f.beat_times_s.size == 0 and f.beat_frames.size == 0
    assert float(f.beat_pulse.max()) == 0.0
    assert float(f.loudness.max()) == 0.0 and float(f.bands.max()) == 0.0 and float(f.spectrum.max()) == 0.0


def test_speech_is_analysed(samples):
    path = sorted((samples / "voices" / "librispeech-1688").glob("*.flac"))[0]
    audio = Audio.read(path)
    f = analyse_audio(audio, 30)
    assert f.n_frames == int(round(audio.duration_s * 30))
    assert f.loudness.max() > 0.9 and f.loudness.min() < 0.5  # words and pauses
    assert f.bands[:, 1].mean() > f.bands[:, 2].mean()  # speech energy sits in the mid band


def test_tones_light_their_band_and_spectrum_bin():
    low = analyse_audio(tone(100), 30)
    high = analyse_audio(tone(5000), 30)
    mid = slice(10, 50)
    assert low.bands[mid, 0].mean() > 0.8 and low.bands[mid, 2].mean() < 0.1
    assert high.bands[mid, 2].mean() > 0.8 and high.bands[mid, 0].mean() < 0.1
    peak_low = low.spectrum_hz[np.argmax(low.spectrum[30])]
    peak_high = high.spectrum_hz[np.argmax(high.spectrum[30])]
    assert low.beat_times_s.size == 0 and low.tempo_bpm == 0.0  # a held tone has no beat
    assert 80 < peak_low < 125
    assert 4300 < peak_high < 5700
    # 20 dB quieter -> a third lower on the 60 dB scale.
    quiet = analyse_audio(tone(100, level=0.05), 30)
    assert low.bands[30, 0] - quiet.bands[30, 0] == pytest.approx(20 / 60, abs=0.03)


def test_empty_audio_is_an_input_error():
    with pytest.raises(InputError):
        analyse_audio(Audio(np.zeros(0, np.float32), 16000), 30)
