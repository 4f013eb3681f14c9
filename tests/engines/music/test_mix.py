"""Mixer and master: settings as JSON with clear errors; loudness and true peak on real rendered stems."""

from __future__ import annotations

import json

import numpy as np
import pyloudnorm
import pytest
from scipy.signal import resample_poly

from core.audio import Audio
from core.errors import InputError
from engines.music.compose import compose
from engines.music.lyrics import parse_lyrics
from engines.music.mix import MixSettings, TrackSettings, default_mix, loudness_lufs, master, mix, true_peak_dbtp
from engines.music.render import render_stems


@pytest.fixture(scope="module")
def stems(request):
    comp = compose(parse_lyrics("[Verse]\nRiding at dawn through the silent snow\n"), "gladiator", 12, 120, seed=2)
    out = render_stems(comp)
    from tests.conftest import SAMPLES

    voice = sorted((SAMPLES / "voices" / "librispeech-1688").glob("*.flac"))
    if voice:
        speech = Audio.read(voice[0])  # real speech at 16 kHz mono: the mixer resamples it to 44.1 kHz stereo
        out["vocals"] = Audio(speech.samples[:12 * speech.sample_rate], speech.sample_rate)
    return out


def _true_peak(y):
    return 20 * np.log10(np.max(np.abs(resample_poly(y, 4, 1, axis=0))))


def test_master_meets_loudness_and_true_peak(stems):
    res = mix(stems, default_mix("gladiator", list(stems)))
    y = res.audio.samples
    assert res.audio.sample_rate == 44100 and y.shape == (12 * 44100, 2)
    lufs = pyloudnorm.Meter(44100).integrated_loudness(y)
    assert abs(lufs + 14) <= 0.5 and abs(res.lufs - lufs) < 0.05
    assert _true_peak(y) <= -1.0 + 1e-3 and res.true_peak_dbtp <= -1.0
    assert abs(res.true_peak_dbtp - _true_peak(y)) < 1e-3
    # The limiter is used no more than needed: the peak ends near the ceiling, not far under it.
    assert res.true_peak_dbtp > -2.0


def test_meters_equal_the_reference_ones(stems):
    """The fast meters give pyloudnorm's loudness and the peak of scipy's 4x resample_poly."""
    y = sum(a.samples for k, a in stems.items() if k != "vocals")
    rng = np.random.default_rng(0)
    cases = [y, y[:44100 * 3 + 17], y[:, 0], (rng.standard_normal((5000, 2)) * 0.3).astype(np.float32),
             np.zeros(100, np.float32)]
    for x in cases:
        ref = 20 * np.log10(max(np.max(np.abs(resample_poly(x, 4, 1, axis=0))), 1e-30))
        assert abs(true_peak_dbtp(x) - ref) < 1e-3 or (ref < -500 and true_peak_dbtp(x) == -np.inf)
        if len(x) >= 0.4 * 44100:
            assert abs(loudness_lufs(x) - pyloudnorm.Meter(44100).integrated_loudness(x.astype(np.float64))) < 0.01
    assert loudness_lufs(np.zeros((44100, 2), np.float32)) == -np.inf


def test_master_without_limiting_is_a_plain_gain(stems):
    """A signal whose peaks leave room is only scaled: the waveform keeps its shape."""
    y = stems["strings"].samples
    out, lufs, tp = master(y, target_lufs=-24.0, ceiling_dbtp=-1.0)
    assert abs(pyloudnorm.Meter(44100).integrated_loudness(out) + 24) <= 0.05 and abs(lufs + 24) < 0.01
    ratio = out[np.abs(y) > 1e-3] / y[np.abs(y) > 1e-3]
    assert np.allclose(ratio, ratio[0], rtol=1e-4) and tp <= -1.0


def test_quiet_target_and_mute_and_pan(stems):
    base = default_mix("gladiator", list(stems))
    settings = MixSettings.from_json(json.dumps({"tracks": {"drums": {"mute": True}, "bass": {"pan": -1.0}},
                                                 "master": {"target_lufs": -20}}), list(stems), base=base)
    res = mix(stems, settings)
    assert abs(pyloudnorm.Meter(44100).integrated_loudness(res.audio.samples) + 20) <= 0.5
    bass = res.stems_processed["bass"].samples
    assert np.sqrt(np.mean(bass[:, 1] ** 2)) < 1e-3 * np.sqrt(np.mean(bass[:, 0] ** 2))
    # Muting the drums changes the mix: less energy in the kick's band at the beat.
    loud = mix(stems, base).audio.samples
    assert not np.allclose(loud[:44100] / np.std(loud[:44100]),
                           res.audio.samples[:44100] / np.std(res.audio.samples[:44100]))


def test_settings_json_round_trip_and_errors():
    s = default_mix("epic", ["strings", "drums", "vocals"])
    back = MixSettings.from_json(s.to_json(), ["strings", "drums", "vocals"])
    assert back == s
    changed = MixSettings.from_json('{"tracks": {"vocals": {"gain_db": 4}}}', ["strings", "drums", "vocals"], base=s)
    assert changed.tracks["vocals"].gain_db == 4 and changed.tracks["vocals"].reverb == s.tracks["vocals"].reverb
    with pytest.raises(InputError, match="not valid JSON"):
        MixSettings.from_json("{tracks: ", ["vocals"])
    with pytest.raises(InputError, match="unknown track 'kazoo'.*vocals"):
        MixSettings.from_json('{"tracks": {"kazoo": {"gain_db": 1}}}', ["vocals"])
    with pytest.raises(InputError, match="pan 3.*-1..1"):
        MixSettings.from_json('{"tracks": {"vocals": {"pan": 3}}}', ["vocals"])
    with pytest.raises(InputError, match="reverb"):
        MixSettings.from_json('{"tracks": {"vocals": {"reverb": -0.5}}}', ["vocals"])
    with pytest.raises(InputError, match="unknown setting 'wobble'"):
        MixSettings.from_json('{"tracks": {"vocals": {"wobble": 1}}}', ["vocals"])
    with pytest.raises(InputError, match="target_lufs"):
        MixSettings.from_json('{"master": {"target_lufs": 3}}', ["vocals"])
    assert TrackSettings().mute is False
