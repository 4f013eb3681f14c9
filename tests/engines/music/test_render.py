"""Rendering: one exact-length stereo stem per group, the synth loaded once, a clear error without a soundfont."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import BackendUnavailable
from engines.music import render
from engines.music.compose import compose
from engines.music.lyrics import parse_lyrics
from engines.registry import MODELS

LYRICS = parse_lyrics("[Verse]\nUnder the mountain the embers glow\nRiding at dawn through the silent snow\n")


@pytest.fixture(scope="module")
def comp():
    return compose(LYRICS, "epic", 12.3, 100, seed=1)


@pytest.fixture(scope="module")
def stems(comp):
    return render.render_stems(comp)


def test_one_stereo_stem_per_group_exactly_the_song_length(comp, stems):
    assert list(stems) == list(comp.stems) == ["strings", "brass", "choir", "bass", "timpani", "drums"]
    n = int(round(12.3 * 44100))
    for _name, a in stems.items():
        assert a.sample_rate == 44100 and a.samples.shape == (n, 2) and a.samples.dtype == np.float32
        assert np.max(np.abs(a.samples)) < 1.0
    # Stems that play in this short song are audible; the held last chord sounds to the end.
    for name in ("strings", "bass", "timpani", "drums"):
        rms = float(np.sqrt(np.mean(stems[name].samples ** 2)))
        assert rms > 1e-3, name
    tail = stems["strings"].samples[-int(0.6 * 44100):-int(0.1 * 44100)]
    assert np.sqrt(np.mean(tail ** 2)) > 1e-3


def test_drum_stem_hits_on_the_beat(stems):
    y = stems["drums"].samples.mean(axis=1)
    beat = int(0.6 * 44100)  # 100 bpm
    win = int(0.03 * 44100)
    on = [np.sqrt(np.mean(y[k * beat:k * beat + win] ** 2)) for k in range(1, 16)]
    off = [np.sqrt(np.mean(y[k * beat + beat // 2 - win:k * beat + beat // 2] ** 2)) for k in range(1, 16)]
    assert np.median(on) > 2 * np.median(off)


def test_synth_is_loaded_once_and_reused(comp, stems):
    key = f"fluidsynth:{render.find_soundfont()}"
    assert MODELS.is_loaded(key)
    first = render.get_synth()
    again = render.render_stems(comp)
    assert render.get_synth() is first
    # Same input, same output (FluidSynth dithers its 16-bit output by a bit or two).
    assert np.max(np.abs(again["bass"].samples - stems["bass"].samples)) < 2e-4


def test_each_stem_holds_only_its_own_instruments(comp, stems):
    """One pass renders every stem into its own output: each equals its instruments rendered alone."""
    import pretty_midi

    n = int(round(12.3 * 44100))
    for name in ("bass", "drums"):
        alone = pretty_midi.PrettyMIDI(initial_tempo=100)
        alone.instruments = [comp.midi.instruments[k] for k in comp.stems[name]]
        y = render.render_floor(alone).samples
        m = min(len(y), n) - int(0.1 * 44100)  # both fade out at their own ends
        assert np.sqrt(np.mean(y[:m] ** 2)) > 1e-3
        diff = y[:m] - stems[name].samples[:m]
        # Drum hits differ by a few samples' phase between runs: compare energies there.
        assert np.sqrt(np.mean(diff ** 2)) < 0.01 * np.sqrt(np.mean(y[:m] ** 2)), name
        if name == "bass":
            assert np.max(np.abs(diff)) < 2e-4


def test_floor_renders_the_whole_midi(comp):
    floor = render.render_floor(comp.midi)
    assert floor.sample_rate == 44100 and floor.channels == 2
    assert abs(floor.duration_s - comp.midi.get_end_time()) < 0.01
    assert np.sqrt(np.mean(floor.samples ** 2)) > 1e-3


def test_no_soundfont_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(render, "SOUNDFONT_GLOBS", ())
    with pytest.raises(BackendUnavailable, match="soundfont"):
        render.find_soundfont("/nonexistent/none.sf2")
