"""Songs as recorded jobs: lyrics, a composed song with its stems, MIDI and LRC kept, re-mixes of the
stored stems, the MusicGen instrumental path (tiny local model), and bad input refused up front."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import numpy as np
import pytest
import soundfile as sf

from core.errors import InputError

LYRICS = """[Verse]
The harbour lights are calling me
[Chorus]
Sail on, sail on across the sea
"""


def loudness(path) -> float:
    import pyloudnorm

    y, sr = sf.read(str(path))
    return pyloudnorm.Meter(sr).integrated_loudness(y)


@pytest.fixture(scope="module")
def song_services(tmp_path_factory):
    from services import build_services
    from settings import Settings

    root = tmp_path_factory.mktemp("songs")
    svc = build_services(Settings(data_dir=root / "data", database_url=f"sqlite:///{root / 'songs.db'}"))
    yield svc
    svc.library.engine.dispose()


@pytest.fixture(scope="module")
def song(song_services):
    done, res = song_services.music.compose("a sailor going home", "Harbour", LYRICS, "pop", "soprano",
                                            duration_s=30, seed=2)
    return done, res


def test_lyrics_are_written_and_kept(song_services):
    done, text = song_services.music.write_lyrics("a dragon guarding gold", "Hoard", "fantasy", "proud", seed=1)
    assert done.generation.kind == "lyrics" and done.generation.backend == "embedded"
    assert "[Verse]" in text and "[Chorus]" in text
    asset, sidecar = done.outputs  # the text, then its Content Credentials (workflows.trust)
    assert song_services.library.asset_path(asset).read_text(encoding="utf-8") == text
    assert sidecar.name == f"{asset.name}.c2pa" and sidecar.meta["for"] == asset.name


def test_a_song_keeps_its_parts(song_services, song):
    done, res = song
    lib = song_services.library
    g = done.generation
    assert g.kind == "song" and g.status.value == "succeeded"
    roles = sorted(a.meta.get("role") for a in done.outputs)
    assert roles.count("stem") >= 3 and {"song", "song-mp3", "midi", "lrc", "lyrics"} <= set(roles)
    wav = next(a for a in done.outputs if a.meta.get("role") == "song")
    assert wav.name.endswith(f" - song {g.id}.wav")
    assert abs(sf.info(str(lib.asset_path(wav))).duration - 30) <= 3
    assert loudness(lib.asset_path(wav)) == pytest.approx(-14, abs=1)
    mp3 = next(a for a in done.outputs if a.meta.get("role") == "song-mp3")
    assert mp3.mime == "audio/mpeg" and abs(mp3.duration_s - wav.duration_s) < 0.1
    midi = next(a for a in done.outputs if a.meta.get("role") == "midi")
    assert lib.asset_path(midi).read_bytes()[:4] == b"MThd"
    lrc = lib.asset_path(next(a for a in done.outputs if a.meta.get("role") == "lrc")).read_text(encoding="utf-8")
    assert re.findall(r"^\[\d\d:\d\d\.\d\d\]", lrc, re.M) and lrc == res.lrc
    stems = song_services.music.stems(g.id)
    assert "vocals" in stems and all(s.duration_s == pytest.approx(wav.duration_s, abs=0.01) for s in stems.values())
    assert g.metrics["mix_settings"]["tracks"].keys() == stems.keys()


def test_a_remix_changes_only_what_it_says(song_services, song, tmp_path):
    done, _ = song
    lib = song_services.library
    gid = done.generation.id
    remix = song_services.music.mix(gid, json.dumps({"tracks": {"vocals": {"mute": True}},
                                                     "master": {"target_lufs": -16}}))
    g = remix.generation
    assert g.kind == "mix" and g.params["song_id"] == gid
    assert g.params["settings"]["tracks"]["vocals"]["mute"] is True
    out = lib.asset_path(remix.outputs[0])
    assert loudness(out) == pytest.approx(-16, abs=1)
    # Without vocals, the mix correlates better with the instrumental stems alone than with the vocals.
    mixed, _ = sf.read(str(out))
    vocals, _ = sf.read(str(lib.asset_path(song_services.music.stems(gid)["vocals"])))
    m, v = mixed.mean(axis=1), vocals if vocals.ndim == 1 else vocals.mean(axis=1)
    corr = abs(np.corrcoef(m[: len(v)], v[: len(m)])[0, 1])
    assert corr < 0.1, corr
    zipped = song_services.music.stems_zip(gid, tmp_path / "stems.zip")
    import zipfile

    assert sorted(zipfile.ZipFile(zipped).namelist()) == sorted(f"{s}.flac" for s in song_services.music.stems(gid))

    with pytest.raises(InputError, match="not valid JSON"):
        song_services.music.mix(gid, "{nope")
    with pytest.raises(InputError, match="unknown track 'kazoo'"):
        song_services.music.mix(gid, '{"tracks": {"kazoo": {"gain_db": 3}}}')
    with pytest.raises(InputError, match="no song with id"):
        song_services.music.mix(remix.generation.id, "")


@pytest.mark.parametrize("kwargs, message", [
    ({"theme": ""}, "theme"),
    ({"lyrics": "la " * 4000}, "characters"),
    ({"music_style": "polka"}, "polka"),
    ({"duration_s": 0}, "10"),
    ({"duration_s": 3600}, "600"),
    ({"bpm": 5}, "bpm"),
    ({"bpm": 500}, "bpm"),
    ({"voice": "alloy"}, "voice"),
])
def test_bad_song_requests_are_refused_before_anything_is_stored(song_services, kwargs, message):
    lib = song_services.library
    before = [(p.id, n) for p, n in lib.list_projects()], \
        sum(len(lib.list_generations(p.id)) for p, _ in lib.list_projects())
    args = {"theme": "a theme", **kwargs}
    with pytest.raises(InputError, match=message):
        song_services.music.compose(**args)
    after = [(p.id, n) for p, n in lib.list_projects()], \
        sum(len(lib.list_generations(p.id)) for p, _ in lib.list_projects())
    assert after == before


def test_musicgen_plays_the_instrumental_when_its_weights_exist(song_services, tmp_path):
    pytest.importorskip("transformers")
    from tests.engines.music.tiny_musicgen import build_tiny_musicgen

    folder = build_tiny_musicgen(tmp_path / "tiny-musicgen")
    music = song_services.music
    original = music.settings
    music.settings = replace(original, musicgen_model=str(folder), device="cpu")
    try:
        done, res = music.compose("storm at sea", "", LYRICS, "epic", duration_s=10, backend="musicgen")
    finally:
        music.settings = original
    g = done.generation
    assert g.backend == "musicgen" and "CC-BY-NC" in g.model_licence
    assert set(res.stems) == {"instrumental", "vocals"}
    assert res.mix.duration_s == pytest.approx(10, abs=3)

    # Licence flags: the song may not be used commercially, nor what is made from it; its manifest says so,
    # and exporting or sharing its project warns.
    lib = song_services.library
    (row,) = [r for r in lib.list_generations(g.project_id) if r["id"] == g.id]
    assert row["commercial_use"] == "no" and "not allowed" in row["licence_note"]
    assert "GPL" in g.model_licence  # the vocals: espeak-ng sings for the default voice
    from engines.trust import credentials

    song = next(a for a in done.outputs if a.meta.get("role") == "song")
    assert credentials.read(lib.asset_path(song)).studio["commercial_use"] == "no"
    video = song_services.video.music_video(g.id, "sacred_temple", "320x180")
    assert "CC-BY-NC" in video.generation.model_licence
    (vrow,) = [r for r in lib.list_generations(g.project_id) if r["id"] == video.generation.id]
    assert vrow["commercial_use"] == "no"
    warned = lib.non_commercial(g.project_id)
    assert [w.split(":")[0] for w in warned] == [f"music_video generation {video.generation.id}",
                                                 f"song generation {g.id}"]

    done, _ = music.compose("storm at sea", "", LYRICS, "epic", duration_s=10, backend="musicgen")
    assert done.generation.backend == "embedded"
    assert any("MusicGen is not available" in n for n in done.generation.metrics["notes"])


def test_a_long_song_stops_when_cancelled(song_services):
    """A 5-minute song is cancelled once it is under way: the job ends "cancelled", stores no
    song, and leaves no scratch files."""
    import threading

    from core.errors import Cancelled
    from storage.models import Generation, JobStatus

    svc = song_services
    token = svc.jobs.token("test:compose")
    under_way = threading.Event()
    seen: list[float] = []

    def progress(done, total, message=""):
        seen.append(done / total if total else 0.0)
        if seen[-1] > 0.3:  # past the lyrics and composition: rendering and singing
            under_way.set()

    outcome: list = []

    def run():
        try:
            outcome.append(svc.music.compose("a long voyage", "Voyage", "", "epic", "heroic_male", duration_s=300,
                                             seed=1, progress=progress, cancel=token))
        except Cancelled as e:
            outcome.append(e)

    worker = threading.Thread(target=run)
    worker.start()
    assert under_way.wait(300)
    assert svc.jobs.stop("test:compose")
    worker.join(300)
    assert not worker.is_alive() and isinstance(outcome[0], Cancelled)
    with svc.library.session() as s:
        g = s.exec(__import__("sqlmodel").select(Generation).where(Generation.kind == "song")
                   .order_by(Generation.id.desc())).first()
    assert g.status == JobStatus.cancelled and g.params["duration_s"] == 300 and max(seen) < 1.0
    assert svc.library.get_generation(g.id)[2] == []
    assert list(svc.library.store.scratch.iterdir()) == []
