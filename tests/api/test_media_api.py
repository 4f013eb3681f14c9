"""Music, video and slides endpoints through gradio_client against the running app: names and
parameters are a public contract; outputs are checked as real media."""

from __future__ import annotations

import json
import re
import subprocess
import zipfile
from pathlib import Path

import pytest
import soundfile as sf
from gradio_client import handle_file

CONTRACT = {
    "/write_lyrics": {"theme": None, "title": "", "music_style": "epic", "mood": ""},
    "/compose_song": {"theme": None, "title": "", "lyrics": "", "music_style": "epic", "voice_style": "heroic_male",
                      "voice": "default", "duration_s": 60, "bpm": 0, "seed": 0, "project_id": None},
    "/mix": {"song_id": None, "settings_json": ""},
    "/image_to_video": {"images": None, "audio": None, "seconds_per_image": 4.0, "size": "1280x720", "fps": 30,
                        "project_id": None},
    "/scene_video": {"audio": None, "template": "epic_battle", "images": None, "captions": "", "size": "1280x720",
                     "fps": 30, "project_id": None},
    "/music_video": {"song_id": None, "template": "epic_battle", "size": "1280x720"},
    "/make_deck": {"outline": None, "voice": "default", "presenter": None, "theme": "dark", "project_id": None,
                   "likeness_consent": False},
    "/narrate_pptx": {"pptx": None, "voice": "default", "presenter": None, "project_id": None,
                      "likeness_consent": False},
}


def ffprobe(path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_chapters", "-show_streams", "-show_format", "-of", "json",
                          str(path)], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def test_media_endpoint_names_and_parameters_are_stable(client):
    named = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    for name, params in CONTRACT.items():
        got = {p["parameter_name"]: p["parameter_default"] for p in named[name]["parameters"]}
        assert list(got) == list(params), name
        assert {k: v for k, v in got.items() if params[k] is not None} == \
               {k: v for k, v in params.items() if v is not None}, name


def test_lyrics_song_mix_and_music_video(client, tmp_path, assert_signed, exported):
    lyrics = client.predict(theme="a lighthouse keeper in a storm", title="The Keeper", api_name="/write_lyrics")
    assert "[Chorus]" in lyrics and len(lyrics.splitlines()) >= 8
    short = "[Verse]\nThe light is burning on the shore\n[Chorus]\nHold on, hold on, the storm will pass"
    p = client.predict(name="Signed songs", api_name="/create_project")
    song, lrc, stems, midi = client.predict(theme="a lighthouse keeper", title="Keeper", lyrics=short,
                                            music_style="pop", voice_style="soprano", duration_s=15, seed=3,
                                            project_id=p["id"], api_name="/compose_song")
    info = sf.info(song)
    assert abs(info.duration - 15) <= 3 and info.samplerate == 44100
    assert re.search(r"^\[00:\d\d\.\d\d\]", lrc, re.M)
    song_gen = assert_signed(song, "song")
    with zipfile.ZipFile(stems) as zf:
        assert "vocals.flac" in zf.namelist() and len(zf.namelist()) >= 3
        zf.extractall(tmp_path / "stems")
    for stem in (tmp_path / "stems").glob("*.flac"):
        assert assert_signed(stem, "song") == song_gen
    assert Path(midi).read_bytes()[:4] == b"MThd"
    song_id = int(re.search(r" - song (\d+)\.wav$", Path(song).name).group(1))
    # The song's text and data files (lyrics, LRC, MIDI) each come with a sidecar, through the project's export.
    files = exported(client, p["id"], tmp_path / "export")
    texts = {n: f for n, f in files.items() if Path(n).suffix in (".txt", ".lrc", ".mid")}
    assert {Path(n).suffix for n in texts} == {".txt", ".lrc", ".mid"}
    assert texts[Path(midi).name].read_bytes() == Path(midi).read_bytes()
    assert next(f for n, f in texts.items() if n.endswith(".lrc")).read_text(encoding="utf-8") == lrc
    for name, path in texts.items():
        assert assert_signed(path, "song", files[f"{name}.c2pa"]) == song_gen
    lyrics_txt = next(n for n in texts if n.endswith("lyrics.txt"))
    verified = client.predict(file=handle_file(str(texts[lyrics_txt])),
                              sidecar=handle_file(str(files[f"{lyrics_txt}.c2pa"])), api_name="/verify_media")
    assert verified["made_here"] and verified["generation_id"] == song_gen
    assert verified["content_credentials"]["content"] == "matches"
    alone = client.predict(file=handle_file(str(files[f"{lyrics_txt}.c2pa"])), api_name="/verify_media")
    assert alone["made_here"] and alone["content_credentials"]["content"] == "not given"

    quiet = client.predict(song_id=song_id, settings_json='{"tracks": {"vocals": {"mute": true}}}', api_name="/mix")
    assert abs(sf.info(quiet).duration - info.duration) < 0.05
    assert_signed(quiet, "mix")
    with pytest.raises(Exception, match="not valid JSON"):
        client.predict(song_id=song_id, settings_json="{oops", api_name="/mix")

    video = client.predict(song_id=song_id, template="sacred_temple", size="320x180", api_name="/music_video")
    v = ffprobe(video)
    streams = {s["codec_type"]: s for s in v["streams"]}
    assert streams["video"]["width"] == 320 and streams["audio"]["codec_name"] == "aac"
    assert abs(float(v["format"]["duration"]) - info.duration) < 0.1
    assert_signed(video, "music_video")


def test_photos_and_scene_videos(client, samples, tmp_path, assert_signed, exported):
    portraits = [handle_file(str(p)) for p in sorted((samples / "portraits").glob("*.png"))]
    video = client.predict(images=portraits, seconds_per_image=1.5, size="320x180", fps=24,
                           api_name="/image_to_video")
    v = ffprobe(video)
    assert {s["codec_name"] for s in v["streams"]} >= {"h264"} and abs(float(v["format"]["duration"]) - 3.0) < 0.1
    assert_signed(video, "image_to_video")

    flac = sorted((samples / "voices" / "librispeech-1688").glob("*.flac"))[0]
    y, sr = sf.read(str(flac))
    wav = tmp_path / "speech.wav"
    sf.write(wav, y[: int(2.5 * sr)], sr)
    p = client.predict(name="Signed scenes", api_name="/create_project")
    scene = client.predict(audio=handle_file(str(wav)), template="emotional_closeup", captions="[00:00.50]Hello there",
                           size="321x181", fps=25, project_id=p["id"], api_name="/scene_video")
    v = ffprobe(scene)
    streams = {s["codec_type"]: s for s in v["streams"]}
    assert (streams["video"]["width"], streams["video"]["height"]) == (320, 180)
    assert abs(float(streams["audio"]["duration"]) - 2.5) < 0.1
    scene_gen = assert_signed(scene, "scene_video")
    # Its subtitles (.srt, .vtt) carry theirs in sidecars.
    files = exported(client, p["id"], tmp_path / "export")
    subtitles = {n: f for n, f in files.items() if Path(n).suffix in (".srt", ".vtt")}
    assert {Path(n).suffix for n in subtitles} == {".srt", ".vtt"}
    for name, path in subtitles.items():
        assert assert_signed(path, "scene_video", files[f"{name}.c2pa"]) == scene_gen

    with pytest.raises(Exception, match="at least one photo"):
        client.predict(images=[], api_name="/image_to_video")
    with pytest.raises(Exception, match="template"):
        client.predict(audio=handle_file(str(wav)), template="disco", api_name="/scene_video")


def test_deck_from_outline_and_narrated_upload(client, tmp_path, assert_signed):
    outline = "# Launch plan\n\n## Why\n- Customers asked\n\n## When\n- In spring\n"
    deck, video = client.predict(outline=outline, api_name="/make_deck")
    from pptx import Presentation

    assert [s.shapes.title.text for s in Presentation(deck).slides] == ["Launch plan", "Why", "When"]
    v = ffprobe(video)
    assert [c["tags"]["title"] for c in v["chapters"]] == ["Launch plan", "Why", "When"]
    assert assert_signed(deck, "deck") == assert_signed(video, "deck")

    deck2, video2 = client.predict(pptx=handle_file(deck), api_name="/narrate_pptx")
    assert len(Presentation(deck2).slides) == 3 and ffprobe(video2)["chapters"]
    assert assert_signed(deck2, "narrated_deck") == assert_signed(video2, "narrated_deck")
    with pytest.raises(Exception, match="outline is empty"):
        client.predict(outline="", api_name="/make_deck")


def _once_running(client, project_id: int, kind: str, past: float) -> dict:
    """The project's generation of `kind` once it runs and has done `past` of its work."""
    import time

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        running = [g for g in client.predict(project_id=project_id, api_name="/list_generations")
                   if g["kind"] == kind and g["status"] == "running" and g["progress"] > past]
        if running:
            return running[0]
        time.sleep(0.3)
    raise AssertionError(f"the {kind} never showed as running")


def test_a_running_song_is_cancelled_through_the_api(client):
    """/list_generations shows the song running; /cancel stops it: the client's job ends with the
    message, and the generation is recorded "cancelled" with no outputs."""
    p = client.predict(name="Cancel me", api_name="/create_project")
    job = client.submit(theme="a very long voyage", title="Voyage", lyrics="", music_style="epic",
                        voice_style="heroic_male", voice="default", duration_s=300, bpm=0, seed=1,
                        project_id=p["id"], api_name="/compose_song")
    running = [_once_running(client, p["id"], "song", 0.2)]
    answer = client.predict(generation_id=running[0]["id"], api_name="/cancel")
    assert answer == {"generation_id": running[0]["id"], "stopping": True, "status": "running"}
    with pytest.raises(Exception, match="cancelled"):
        job.result(timeout=120)
    (g,) = [g for g in client.predict(project_id=p["id"], api_name="/list_generations") if g["kind"] == "song"]
    assert g["status"] == "cancelled" and g["outputs"] == []
    again = client.predict(generation_id=g["id"], api_name="/cancel")
    assert again["stopping"] is False and again["status"] == "cancelled"
    with pytest.raises(Exception, match="no generation"):
        client.predict(generation_id=999999, api_name="/cancel")


def test_a_long_video_is_cancelled_through_the_api(client, tmp_path):
    """A 4-minute scene video stops part way: cancelled, no file kept, the project still usable."""
    import numpy as np
    import soundfile as sf

    rate = 22_050
    t = np.arange(240 * rate) / rate
    wav = tmp_path / "long.wav"
    sf.write(wav, (0.3 * np.sin(2 * np.pi * 220 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 2 * t))).astype(np.float32),
             rate)
    p = client.predict(name="Long video", api_name="/create_project")
    job = client.submit(audio=handle_file(str(wav)), template="epic_battle", images=None, captions="",
                        size="1280x720", fps=30, project_id=p["id"], api_name="/scene_video")
    g = _once_running(client, p["id"], "scene_video", 0.05)
    assert client.predict(generation_id=g["id"], api_name="/cancel")["stopping"] is True
    with pytest.raises(Exception, match="cancelled"):
        job.result(timeout=120)
    (g,) = [x for x in client.predict(project_id=p["id"], api_name="/list_generations") if x["id"] == g["id"]]
    assert g["status"] == "cancelled" and g["outputs"] == []
