"""Music beds under speech: the bed ducks under the voice and comes back in its pauses."""

from __future__ import annotations

import numpy as np
import pytest

from core.audio import Audio
from engines.music.bed import DUCK_DB, BedRequest, duck, fit_bed, make_bed, speech_mask, under_voice
from tests.conftest import voice_clips


def _band_db(y: np.ndarray, rate: int, lo=300.0, hi=3400.0) -> float:
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y)))) ** 2
    f = np.fft.rfftfreq(len(y), 1 / rate)
    return 10 * np.log10(spec[(f >= lo) & (f <= hi)].sum() + 1e-20)


@pytest.fixture(scope="module")
def speech_with_pause():
    a = Audio.read(voice_clips("librispeech-1998")[0]).mono().resampled(44_100)
    gap = Audio.silence(3.0, 44_100)
    return Audio.concat([a, gap, a])


@pytest.fixture(scope="module")
def bed(speech_with_pause):
    return make_bed(BedRequest("emotional", speech_with_pause.duration_s))


def test_a_bed_is_the_styles_music_exactly_as_long_fading_out(bed, speech_with_pause):
    assert abs(bed.duration_s - speech_with_pause.duration_s) < 1e-3
    y = bed.samples.mean(axis=1)
    rms = lambda x: float(np.sqrt(np.mean(x ** 2)))  # noqa: E731
    assert rms(y[:44_100 * 5]) > 0.02  # music plays
    assert rms(y[-2205:]) < 0.1 * rms(y[:44_100 * 5])  # and fades out at the end
    assert fit_bed(bed, 2.0).duration_s == pytest.approx(2.0, abs=1e-4)


def test_the_bed_goes_down_18_db_while_the_voice_speaks_and_back_up_in_its_pause(bed, speech_with_pause):
    ducked = duck(bed, speech_with_pause)
    active, frame_s = speech_mask(speech_with_pause)
    first = len(Audio.read(voice_clips("librispeech-1998")[0]).samples) / Audio.read(
        voice_clips("librispeech-1998")[0]).sample_rate
    rate = bed.sample_rate

    def ratio_db(t0, t1):
        a, b = (x.samples[int(t0 * rate):int(t1 * rate)] for x in (bed, ducked))
        return 20 * np.log10(np.sqrt(np.mean(b ** 2)) / np.sqrt(np.mean(a ** 2)))

    assert ratio_db(1.0, first - 0.5) == pytest.approx(-DUCK_DB, abs=2.5)  # speaking
    assert ratio_db(first + 1.2, first + 2.8) > -1.0  # the pause: back up
    assert active.any() and not active.all()


def test_under_voice_keeps_the_voice_12_db_over_the_music_while_speaking(bed, speech_with_pause):
    over = under_voice(speech_with_pause, bed)
    from engines.music.mix import loudness_lufs

    assert loudness_lufs(over.mix.samples) == pytest.approx(-16.0, abs=0.7)
    active, frame_s = speech_mask(speech_with_pause)
    rate, hop = over.mix.sample_rate, int(0.5 * over.mix.sample_rate)
    margins = []
    for k in range(0, len(over.voice.samples) - hop, hop):
        frames = active[int(k / rate / frame_s):int((k + hop) / rate / frame_s)]
        if frames.mean() > 0.8:
            v = over.voice.samples[k:k + hop].mean(axis=1)
            m = over.music.samples[k:k + hop].mean(axis=1)
            margins.append(_band_db(v, rate) - _band_db(m, rate))
    assert len(margins) >= 10 and min(margins) >= 12.0, margins
    # The parts add up to the mix (the limiter only shaves peaks).
    diff = over.mix.samples - (over.voice.samples + over.music.samples)
    assert np.sqrt(np.mean(diff ** 2)) < 0.1 * np.sqrt(np.mean(over.mix.samples ** 2))
