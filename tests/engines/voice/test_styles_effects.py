"""Styles (as data) and the effect chain, measured on real synthesised speech."""

from __future__ import annotations

import numpy as np
import pytest

from core.audio import Audio
from core.errors import InputError
from engines.voice import espeak
from engines.voice.effects import EffectSettings, apply, integrated_loudness, normalise_loudness
from engines.voice.styles import apply_style, get_style, styles

SENTENCE = "The quick brown fox jumps over the lazy dog, and then it runs far away into the forest."


@pytest.fixture(scope="module")
def speech() -> Audio:
    return espeak.synthesize(SENTENCE, "en-us")


def median_f0(audio: Audio) -> float:
    import pyworld

    a = audio.mono()
    f0, _ = pyworld.dio(a.samples.astype(np.float64), a.sample_rate, frame_period=10)
    return float(np.median(f0[f0 > 0])) if np.any(f0 > 0) else 0.0


def voiced_fraction(audio: Audio) -> float:
    import pyworld

    a = audio.mono()
    f0, _ = pyworld.dio(a.samples.astype(np.float64), a.sample_rate, frame_period=10)
    return float(np.mean(f0 > 0))


def test_styles_are_data():
    assert set(styles()) == {"natural", "heroic_male", "soprano", "choir", "whisper"}
    with pytest.raises(InputError, match="choose one of"):
        get_style("opera")


def test_every_style_reaches_speech_loudness_without_clipping(speech):
    for name, style in styles().items():
        out = apply_style(speech, style)
        assert abs(out.duration_s - speech.duration_s) < 0.15, name
        assert integrated_loudness(out) == pytest.approx(-16, abs=0.5), name
        assert np.max(np.abs(out.samples)) <= 10 ** (-1 / 20) + 1e-4, name


def test_styles_change_what_they_say_they_change(speech):
    base_f0 = median_f0(speech)
    heroic = apply_style(speech, get_style("heroic_male"))
    soprano = apply_style(speech, get_style("soprano"))
    assert median_f0(heroic) == pytest.approx(base_f0 * 2 ** (-3 / 12), rel=0.08)
    assert median_f0(soprano) == pytest.approx(base_f0 * 2 ** (9 / 12), rel=0.08)
    whisper = apply_style(speech, get_style("whisper"))
    assert voiced_fraction(speech) > 0.3 and voiced_fraction(whisper) < 0.1
    choir = apply_style(speech, get_style("choir"))
    assert choir.channels == 2
    left, right = choir.samples[:, 0], choir.samples[:, 1]
    assert np.corrcoef(left, right)[0, 1] < 0.98  # voices panned apart, not one copy twice


def test_user_pitch_adds_to_the_style(speech):
    up = apply_style(speech, get_style("natural"), extra_semitones=5)
    assert median_f0(up) == pytest.approx(median_f0(speech) * 2 ** (5 / 12), rel=0.08)


def test_effects_bass_boost_and_reverb_measurably_act(speech):
    def band_energy(a: Audio, lo: float, hi: float) -> float:
        spec = np.abs(np.fft.rfft(a.mono().samples)) ** 2
        f = np.fft.rfftfreq(len(a.mono().samples), 1 / a.sample_rate)
        return float(spec[(f >= lo) & (f < hi)].sum() / spec.sum())

    plain = apply(speech, EffectSettings(loudness_lufs=None))
    boosted = apply(speech, EffectSettings(bass_boost_db=9, loudness_lufs=None))
    assert band_energy(boosted, 0, 200) > 1.5 * band_energy(plain, 0, 200)
    wet = apply(speech, EffectSettings(reverb={"room_size": 0.9, "wet_level": 0.5}, loudness_lufs=None))
    # Reverb fills the pauses: the quietest tenth of the signal gets much louder.
    def floor_db(a: Audio) -> float:
        y = a.mono().samples
        frames = np.lib.stride_tricks.sliding_window_view(y, 512)[::256]
        return float(np.percentile(10 * np.log10((frames ** 2).mean(1) + 1e-12), 10))
    assert floor_db(wet) > floor_db(plain) + 10


def test_loudness_normalisation_hits_the_target_under_the_ceiling():
    rng = np.random.default_rng(1)
    loud = Audio((rng.normal(0, 0.5, 48000 * 3)).clip(-1, 1).astype(np.float32), 48000)
    for target in (-23, -16, -9):
        out = normalise_loudness(loud, target)
        assert integrated_loudness(out) == pytest.approx(target, abs=0.5)
        assert np.max(np.abs(out.samples)) <= 10 ** (-1 / 20) + 1e-4
