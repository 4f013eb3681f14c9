"""Composition: arrangement fitted to the length, melody on the syllables, chords and a beat in every style."""

from __future__ import annotations

import io

import numpy as np
import pytest

from engines.music.compose import STEPS_PER_BAR, compose
from engines.music.lyrics import line_syllables, parse_lyrics
from engines.music.styles import get_style

STYLES = ["epic", "pop", "dark", "gregorian", "fantasy", "gladiator", "emotional"]
LYRICS = parse_lyrics("""[Verse]
Under the mountain the embers glow
Riding at dawn through the silent snow
[Chorus]
Rise and hear the banners fly
Thunder rolling in the sky
[Verse]
Over the river the lanterns burn
Home is the road where the brave return
[Chorus]
Rise and hear the banners fly
Thunder rolling in the sky
""")


@pytest.mark.parametrize("style", STYLES)
def test_every_style_fits_the_length_and_keeps_a_beat(style):
    s = get_style(style)
    comp = compose(LYRICS, style, 40.0, s.bpm, seed=3)
    assert comp.length_s == 40.0
    assert abs(comp.midi.get_end_time() - 40.0) < 1.0
    # The arrangement covers the song without gaps: intro first, outro last.
    assert comp.sections[0].start_s == 0 and comp.sections[-1].end_s == pytest.approx(40.0)
    for a, b in zip(comp.sections, comp.sections[1:]):
        assert a.end_s == pytest.approx(b.start_s)
    assert comp.sections[0].kind == "intro"
    # A pulse on every beat of every full bar: drums or timpani.
    beat_s = 60.0 / s.bpm
    onsets = np.array(sorted(n.start for i in comp.midi.instruments if i.is_drum or i.program == 47 for n in i.notes))
    bars = int(40.0 // (4 * beat_s))
    for beat in range((bars - 1) * 4):
        assert np.min(np.abs(onsets - beat * beat_s)) < 1e-3, f"no pulse on beat {beat}"
    # Stems index real instruments; the vocal line is the last track and in no stem.
    used = sorted(i for idx in comp.stems.values() for i in idx)
    assert used == list(range(len(comp.midi.instruments) - 1))
    assert comp.midi.instruments[-1].name == "vocal melody"


def test_melody_sings_every_syllable_in_range_and_resolves():
    comp = compose(LYRICS, "epic", 60.0, 100, seed=1, vocal_style="heroic_male")
    low, high = comp.vocal_range
    assert (low, high) == (48, 67) or low < high
    sung_lines = {n.line_index for n in comp.melody}
    assert len(comp.lines) == len(sung_lines) >= 4
    for line in comp.lines:
        notes = [n for n in comp.melody if n.line_index == line.index]
        syllables = [n.syllable for n in notes if not n.continues]
        assert syllables == [s for s, _, _ in line_syllables(line.text)]
        assert notes[-1].phrase_end and sum(n.phrase_end for n in notes) == 1
        assert line.start_s == notes[0].start_s
        # Notes in order, not overlapping.
        for a, b in zip(notes, notes[1:]):
            assert a.start_s + a.duration_s <= b.start_s + 1e-6
    assert all(low <= n.pitch_midi <= high for n in comp.melody)
    style = get_style("epic")
    bar_s = 240.0 / 100
    assert len(comp.chords) == int(60 // bar_s)
    for line in comp.lines:
        last = [n for n in comp.melody if n.line_index == line.index][-1]
        chord = comp.chords[int(last.start_s // bar_s)]
        assert last.pitch_midi % 12 in chord  # the phrase ends on a tone of the chord under it
    # Sections end on the tonic wherever the chord holds it.
    endings = 0
    for s in comp.sections:
        notes = [n for n in comp.melody if s.start_s <= n.start_s < s.end_s]
        if notes and style.tonic_pc in comp.chords[int(notes[-1].start_s // bar_s)]:
            assert notes[-1].pitch_midi % 12 == style.tonic_pc
            endings += 1
    assert endings >= 1


def test_same_seed_same_song_other_seed_other_melody():
    a = compose(LYRICS, "pop", 30, 118, seed=5)
    b = compose(LYRICS, "pop", 30, 118, seed=5)
    c = compose(LYRICS, "pop", 30, 118, seed=6)
    assert a.melody == b.melody
    buf_a, buf_b = io.BytesIO(), io.BytesIO()
    a.midi.write(buf_a)
    b.midi.write(buf_b)
    assert buf_a.getvalue() == buf_b.getvalue()
    assert [n.pitch_midi for n in a.melody] != [n.pitch_midi for n in c.melody]


def test_repeated_chorus_has_the_same_melody():
    comp = compose(LYRICS, "epic", 90, 100, seed=2)
    choruses = [s for s in comp.sections if s.kind == "chorus"]
    assert len(choruses) >= 2
    tunes = [[(round(n.start_s - s.start_s, 3), n.pitch_midi) for n in comp.melody if s.start_s <= n.start_s < s.end_s]
             for s in choruses[:2]]
    assert tunes[0] == tunes[1] and tunes[0]


def test_short_song_drops_sections_and_says_so():
    comp = compose(LYRICS, "epic", 12, 100, seed=0)
    assert comp.length_s == 12
    assert comp.notes and "did not fit" in " ".join(comp.notes)
    assert all(n.start_s + n.duration_s <= 12 for n in comp.melody)


def test_long_song_brings_the_chorus_back():
    comp = compose(LYRICS, "pop", 120, 118, seed=0)
    kinds = [s.kind for s in comp.sections]
    assert kinds.count("chorus") > 2
    assert comp.sections[-1].end_s == pytest.approx(120)
    # Whole bars, then the held last bar.
    bar_s = 240 / 118
    for s in comp.sections[:-1]:
        assert (s.end_s / bar_s) == pytest.approx(round(s.end_s / bar_s), abs=1e-3)


def test_bars_are_16_steps():
    assert STEPS_PER_BAR == 16


def test_a_short_song_still_sings_its_lyrics():
    """15 s with a one-line verse and chorus: intro and outro shrink so both are sung."""
    from engines.music.compose import compose
    from engines.music.lyrics import parse_lyrics

    lyrics = parse_lyrics("[Verse]\nThe harbour lights are calling me\n[Chorus]\nSail on, sail on across the sea")
    comp = compose(lyrics, "pop", 15, 118, seed=2)
    kinds = [s.kind for s in comp.sections]
    assert "verse" in kinds and "chorus" in kinds and not comp.notes
    assert abs(comp.length_s - 15) < 1
    assert {n.line_index for n in comp.melody} == {0, 1}
