"""Whole songs: request checks with clear messages, and the acceptance test over every style at 60 s."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from scipy.signal import resample_poly

from core.errors import InputError
from engines.music.song import SongRequest, check_song_request, make_song

STYLES = ["epic", "pop", "dark", "gregorian", "fantasy", "gladiator", "emotional"]
LRC_LINE = re.compile(r"^\[(\d+):(\d+\.\d+)\](.*)$")


@pytest.mark.parametrize("change, message", [
    ({"theme": "  "}, "theme"),
    ({"lyrics": "la la la " * 1200}, "4000"),
    ({"music_style": "polka"}, "epic, pop, dark, gregorian, fantasy, gladiator, emotional"),
    ({"duration_s": 0}, "10..600"),
    ({"duration_s": 3600}, "10..600"),
    ({"bpm": 5}, "40..240"),
    ({"bpm": 500}, "40..240"),
    ({"vocal_style": "yodel"}, "heroic_male"),
])
def test_bad_requests_are_refused_clearly(change, message):
    req = SongRequest(**{"theme": "a knight returning home", **change})
    with pytest.raises(InputError, match=re.escape(message)):
        check_song_request(req)


def test_defaults_are_filled_in():
    req, notes = check_song_request(SongRequest(theme="x", music_style="Gregorian", bpm=0))
    assert req.bpm == 72 and req.vocal_style == "choir" and req.music_style == "gregorian" and notes == []
    req, notes = check_song_request(SongRequest(theme="x", music_style="gregorian", bpm=200))
    assert req.bpm == 200 and notes and "unusual" in notes[0]


def _lrc_times(lrc: str) -> list[tuple[float, str]]:
    out = []
    for line in lrc.splitlines():
        m = LRC_LINE.match(line)
        if m:
            out.append((int(m.group(1)) * 60 + float(m.group(2)), m.group(3)))
    return out


def _song(style: str):
    return make_song(SongRequest(theme="a knight returning home", title="Homecoming", music_style=style,
                                 duration_s=60, seed=1))


@pytest.fixture(scope="module")
def songs(request):
    """style -> its 60 s song. Songs are made one at a time in a worker thread, the next selected style's
    while the current one is checked (each song is made once)."""
    pytest.importorskip("engines.music.sing")
    wanted = [item.callspec.params["style"] for item in request.session.items
              if item.originalname == "test_sixty_second_song_in_every_style" and hasattr(item, "callspec")]
    pool = ThreadPoolExecutor(1)
    futures = {}

    def get(style: str):
        if style not in futures:
            futures[style] = pool.submit(_song, style)
        if style in wanted and wanted.index(style) + 1 < len(wanted):
            following = wanted[wanted.index(style) + 1]
            if following not in futures:
                futures[following] = pool.submit(_song, following)
        return futures.pop(style).result()

    yield get
    pool.shutdown(wait=True, cancel_futures=True)


@pytest.mark.parametrize("style", STYLES)
def test_sixty_second_song_in_every_style(songs, style):
    import librosa

    res = songs(style)
    y = res.mix.samples
    # Length, loudness, true peak.
    assert res.mix.sample_rate == 44100 and res.mix.channels == 2
    assert abs(res.mix.duration_s - 60) <= 3
    import pyloudnorm

    lufs = pyloudnorm.Meter(44100).integrated_loudness(y)
    assert abs(lufs + 14) <= 1.0
    assert 20 * np.log10(np.max(np.abs(resample_poly(y, 4, 1, axis=0)))) <= -1.0 + 1e-3
    # Tempo found by librosa's beat tracker (half or double time accepted).
    mono = librosa.resample(res.mix.mono().samples, orig_sr=44100, target_sr=22050)
    _, beats = librosa.beat.beat_track(y=mono, sr=22050, hop_length=256, units="time")
    assert len(beats) > 20
    tempo = 60.0 / np.polyfit(np.arange(len(beats)), beats, 1)[0]
    assert min(abs(tempo * k / res.bpm - 1) for k in (0.5, 1, 2)) <= 0.02, (tempo, res.bpm)
    # Stems: every one the song's length; vocals sound at every LRC line.
    assert "vocals" in res.stems
    for name, stem in res.stems.items():
        assert abs(stem.duration_s - 60) < 0.01, name
    voc = res.stems["vocals"].mono().samples
    rate = res.stems["vocals"].sample_rate
    overall = np.sqrt(np.mean(voc ** 2))
    times = _lrc_times(res.lrc)
    assert times
    for t, _ in times:
        seg = voc[int(t * rate):int((t + 0.5) * rate)]
        assert np.sqrt(np.mean(seg ** 2)) > 0.1 * overall, t
    # One LRC line per sung phrase, each a line of the lyrics.
    assert len(times) == res.metrics["lyric_lines"] >= 4
    lyric_lines = {re.sub(r"[^a-z ]", "", line.lower()).strip() for line in res.lyrics_text.splitlines()}
    for _, body in times:
        words = re.sub(r"<[^>]*>", "", body).lower()
        assert re.sub(r"[^a-z ]", "", words).strip() in lyric_lines
    # Everything needed to make it again.
    assert res.parameters["seed"] == 1 and res.parameters["music_style"] == style
    assert res.midi_bytes[:4] == b"MThd" and res.sections[0]["name"] == "intro"
    print(style, res.metrics)
