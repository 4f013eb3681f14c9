"""The app with EXECUTOR=ray on a real local cluster (a head and a worker node): the API's main flows give
the same media as the local executor, progress reaches the client, a cancel stops the Ray task, and a
worker dying mid-job ends the job interrupted while the app goes on serving."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest
import soundfile as sf
from gradio_client import Client, handle_file

from tests.api.conftest import signed_check
from tests.conftest import AppProcess, free_port


@pytest.fixture(scope="module")
def ray_app(ray_cluster, tmp_path_factory):
    app = AppProcess(tmp_path_factory.mktemp("ray-app") / "data", free_port(),
                     env={"EXECUTOR": "ray", "RAY_ADDRESS": ray_cluster.address, "RAY_USAGE_STATS_ENABLED": "0"})
    yield app
    app.stop()


@pytest.fixture(scope="module")
def ray_client(ray_app, tmp_path_factory):
    return Client(ray_app.url, verbose=False, download_files=str(tmp_path_factory.mktemp("ray-downloads")))


@pytest.fixture(scope="module")
def signed(ray_app):
    return signed_check(ray_app.data_dir)


def ffprobe(path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_chapters", "-show_streams", "-show_format", "-of", "json",
                          str(path)], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def generations(client, project_id: int) -> list[dict]:
    return client.predict(project_id=project_id, api_name="/list_generations")


def test_speech_on_ray_matches_local_and_the_models_stay_warm(ray_client, client, signed):
    """The same request through both executors: same format, durations within 15 %, both intelligible;
    the second request is served by the same Piper and Whisper actors, which loaded their model once."""
    text = "The lighthouse keeper climbs the stairs. Every night the lamp must burn."
    caps = ray_client.predict(api_name="/capabilities")
    assert caps["executor"] == "ray"
    got = {}
    for name, c in (("ray", ray_client), ("local", client)):
        p = c.predict(name=f"Speech {name}", api_name="/create_project")
        path = c.predict(text=text, project_id=p["id"], api_name="/speak")
        (g,) = generations(c, p["id"])
        got[name] = (sf.info(path), g)
    (ray_info, ray_gen), (local_info, local_gen) = got["ray"], got["local"]
    assert (ray_info.samplerate, ray_info.format, ray_info.channels) == \
           (local_info.samplerate, local_info.format, local_info.channels)
    assert abs(ray_info.duration - local_info.duration) < 0.15 * local_info.duration
    assert ray_gen["status"] == "succeeded" and ray_gen["backend"] == local_gen["backend"] == "piper"
    assert ray_gen["metrics"]["word_error_rate"] <= 0.2 and local_gen["metrics"]["word_error_rate"] <= 0.2
    assert signed(path := ray_client.predict(text="A second request.", api_name="/speak"), "speak")
    assert sf.info(path).duration > 0.5

    warm = {m["key"].split(":")[0]: m for m in ray_client.predict(api_name="/capabilities")["warm_models"]}
    assert warm["piper"]["loads"] == 1 and warm["piper"]["calls"] >= 3
    assert warm["asr"]["loads"] == 1 and warm["asr"]["calls"] >= 2


def test_main_flows_on_ray(ray_client, samples, tmp_path, signed):
    flac = sorted((samples / "voices" / "librispeech-1688").glob("*.flac"))[1]
    out = ray_client.predict(reference_audio=handle_file(str(flac)), text="One call, one cloned sentence.",
                             api_name="/clone_voice")
    assert Path(out).suffix == ".wav" and sf.info(out).duration > 1.0
    signed(out, "clone_voice")

    video = ray_client.predict(portrait=handle_file(str(samples / "portraits" / "art_1.png")),
                               text="Hello from a talking painting.", size=256, likeness_consent=True,
                               api_name="/talking_head")
    v = ffprobe(video)
    assert {(s["codec_name"], s.get("width")) for s in v["streams"]} == {("h264", 256), ("aac", None)}
    signed(video, "talking_head")

    lyrics = "[Verse]\nThe light is burning on the shore\n[Chorus]\nHold on, hold on, the storm will pass"
    song, lrc, stems, midi = ray_client.predict(theme="a lighthouse keeper", title="Keeper", lyrics=lyrics,
                                                music_style="pop", voice_style="soprano", duration_s=15, seed=3,
                                                api_name="/compose_song")
    info = sf.info(song)
    assert abs(info.duration - 15) <= 3 and info.samplerate == 44100
    assert re.search(r"^\[00:\d\d\.\d\d\]", lrc, re.M) and Path(midi).read_bytes()[:4] == b"MThd"
    signed(song, "song")

    y, sr = sf.read(str(flac))
    wav = tmp_path / "speech.wav"
    sf.write(wav, y[: int(2.5 * sr)], sr)
    scene = ray_client.predict(audio=handle_file(str(wav)), template="emotional_closeup",
                               captions="[00:00.50]Hello there", size="321x181", fps=25, api_name="/scene_video")
    streams = {s["codec_type"]: s for s in ffprobe(scene)["streams"]}
    assert (streams["video"]["width"], streams["video"]["height"]) == (320, 180)
    assert abs(float(streams["audio"]["duration"]) - 2.5) < 0.1
    signed(scene, "scene_video")

    outline = "# Launch plan\n\n## Why\n- Customers asked\n\n## When\n- In spring\n"
    deck, deck_video = ray_client.predict(outline=outline, api_name="/make_deck")
    from pptx import Presentation

    assert [s.shapes.title.text for s in Presentation(deck).slides] == ["Launch plan", "Why", "When"]
    assert [c["tags"]["title"] for c in ffprobe(deck_video)["chapters"]] == ["Launch plan", "Why", "When"]
    assert signed(deck, "deck") == signed(deck_video, "deck")

    with pytest.raises(Exception, match="outline is empty"):  # refused in the web process, before any task
        ray_client.predict(outline="", api_name="/make_deck")


def _running(client, project_id: int, kind: str, past: float) -> dict:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        running = [g for g in generations(client, project_id)
                   if g["kind"] == kind and g["status"] == "running" and g["progress"] > past]
        if running:
            return running[0]
        time.sleep(0.2)
    raise AssertionError(f"the {kind} never showed as running past {past}")


def _long_song(client, project_id: int):
    return client.submit(theme="a very long voyage", title="Voyage", lyrics="", music_style="epic",
                         voice_style="heroic_male", voice="default", duration_s=300, bpm=0, seed=1,
                         project_id=project_id, api_name="/compose_song")


def test_progress_reaches_the_client_and_cancel_stops_the_task(ray_client, ray_app):
    """The worker's progress shows in /list_generations while the song runs; /cancel stops its task."""
    p = ray_client.predict(name="Cancel on Ray", api_name="/create_project")
    job = _long_song(ray_client, p["id"])
    g = _running(ray_client, p["id"], "song", 0.1)
    assert 0.1 < g["progress"] < 1
    assert ray_client.predict(generation_id=g["id"], api_name="/cancel")["stopping"] is True
    with pytest.raises(Exception, match="cancelled"):
        job.result(timeout=60)
    (g,) = [x for x in generations(ray_client, p["id"]) if x["id"] == g["id"]]
    assert g["status"] == "cancelled" and g["outputs"] == []
    assert not list((ray_app.data_dir / "scratch").glob(f"job{g['id']}-*")), "the job's folder was left behind"


def _task_process(generation_id: int) -> psutil.Process:
    """The Ray worker process running the job's task (its title names the task)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for proc in psutil.process_iter(["cmdline"]):
            cmd = " ".join(proc.info["cmdline"] or [])
            if cmd.startswith("ray::") and (f"job{generation_id}-" in cmd or "run_job" in cmd):
                return proc
        time.sleep(0.2)
    raise AssertionError("no Ray worker process runs the job")


def test_a_worker_killed_mid_job_ends_it_interrupted_and_the_app_goes_on(ray_client, ray_app):
    from cluster.ray_executor import WORKER_LOST

    p = ray_client.predict(name="Worker dies", api_name="/create_project")
    job = _long_song(ray_client, p["id"])
    g = _running(ray_client, p["id"], "song", 0.1)
    os.kill(_task_process(g["id"]).pid, signal.SIGKILL)
    with pytest.raises(Exception, match="worker running the job stopped"):
        job.result(timeout=60)
    (g,) = [x for x in generations(ray_client, p["id"]) if x["id"] == g["id"]]
    assert (g["status"], g["error"], g["outputs"]) == ("failed", WORKER_LOST, [])
    assert not list((ray_app.data_dir / "scratch").glob(f"job{g['id']}-*"))
    # The app, and the cluster, go on serving.
    out = ray_client.predict(text="Still here.", project_id=p["id"], api_name="/speak")
    assert sf.info(out).duration > 0.5


def test_a_worker_node_killed_mid_job_ends_it_interrupted_and_a_new_node_takes_over(ray_cluster, ray_client):
    """The worker node (its raylet and every worker, the warm models too) dies during a song: the job ends
    interrupted, the app keeps answering, and once a node joins again jobs run, their models reloaded."""
    from cluster.ray_executor import WORKER_LOST

    p = ray_client.predict(name="Node dies", api_name="/create_project")
    job = _long_song(ray_client, p["id"])
    g = _running(ray_client, p["id"], "song", 0.1)
    ray_cluster.worker.kill()
    with pytest.raises(Exception, match="worker running the job stopped"):
        job.result(timeout=90)
    (g,) = [x for x in generations(ray_client, p["id"]) if x["id"] == g["id"]]
    assert (g["status"], g["error"]) == ("failed", WORKER_LOST)
    assert ray_client.predict(name="Still answering", api_name="/create_project")["id"] > p["id"]
    ray_cluster.worker = ray_cluster.add_node("worker2")
    out = ray_client.predict(text="A new node speaks.", project_id=p["id"], api_name="/speak")
    assert sf.info(out).duration > 0.5


def test_progress_is_streamed_to_the_callers_callback(ray_cluster, settings, monkeypatch):
    """In the web process: the job's progress callback (what the tabs adapt to gr.Progress) is called
    with the worker's progress as it runs, rising to 1, with its messages."""
    from dataclasses import replace

    from services import build_services

    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    svc = build_services(replace(settings, executor="ray", ray_address=ray_cluster.address))
    seen: list[tuple[float, str]] = []
    done, res = svc.voices.speak("Progress travels from the worker. " * 6, voice="en-us",
                                 progress=lambda d, t, m="": seen.append((d / (t or 1), m)))
    assert done.generation.status == "succeeded" and res.audio.duration_s > 3
    fractions = [f for f, _ in seen]
    assert len(set(fractions)) >= 2 and fractions == sorted(fractions) and fractions[-1] == 1.0
    assert all(m for _, m in seen)


def test_ray_keeps_its_session_files_and_logs_in_the_test_folder(ray_cluster):
    """Both nodes' raylet logs are in the head's session folder, under the test's temporary folder."""
    logs = list(ray_cluster.temp.glob("session_*/logs/raylet*.out"))
    assert len(logs) >= 2, logs
