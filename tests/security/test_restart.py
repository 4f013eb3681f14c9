"""A job cut off by a restart: its client is told so when the server stops it (SIGTERM), and the job's
record says so either way, also after a kill -9 that no process survives to report (then a later
/list_generations is all a client can learn)."""

from __future__ import annotations

import os
import signal
import time

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from tests.conftest import AppProcess, free_port
from tests.security import badfiles as bad

INTERRUPTED = "the server restarted; the job was interrupted"


@pytest.fixture(scope="module")
def long_audio(tmp_path_factory):
    """Four minutes of silence (a few kilobytes of FLAC): a 1080p scene video of it runs far longer than the
    test."""
    path = tmp_path_factory.mktemp("restart") / "silence.flac"
    path.write_bytes(bad.silent_flac(240))
    return path


def start_long_job(app: AppProcess, audio) -> tuple[Client, object, int]:
    """A 1080p scene video of `audio`, submitted; returns once it draws frames, a step that stops at once
    when asked (client, job, project id)."""
    client = Client(app.url, verbose=False)
    pid = client.predict(name="Long job", api_name="/create_project")["id"]
    job = client.submit(audio=handle_file(str(audio)), template="plain_dark", size="1920x1080", fps=30,
                        project_id=pid, api_name="/scene_video")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        gens = client.predict(project_id=pid, api_name="/list_generations")
        if gens and gens[0]["status"] == "running" and gens[0]["progress"] > 0:
            return client, job, pid
        assert not job.done(), f"the job ended before it was stopped: {job.exception()}"
        time.sleep(0.2)
    pytest.fail("the scene video never started")


def generation_after_restart(data_dir, pid: int) -> dict:
    app = AppProcess(data_dir, free_port())
    try:
        (gen,) = Client(app.url, verbose=False).predict(project_id=pid, api_name="/list_generations")
        return gen
    finally:
        app.stop()


def test_a_stopped_server_tells_the_client_and_records_it(tmp_path, long_audio):
    app = AppProcess(tmp_path / "data", free_port())
    try:
        _, job, pid = start_long_job(app, long_audio)
        app.proc.send_signal(signal.SIGTERM)
        with pytest.raises(AppError, match=f"^{INTERRUPTED}$"):
            job.result(timeout=60)
        app.proc.wait(30)
    finally:
        app.stop()
    gen = generation_after_restart(app.data_dir, pid)
    assert (gen["status"], gen["error"]) == ("failed", INTERRUPTED)


def test_a_killed_server_leaves_the_record_for_a_later_list(tmp_path, long_audio):
    """kill -9: the client's connection is simply cut (nothing can answer it); the next start records the job
    as interrupted, which /list_generations shows."""
    app = AppProcess(tmp_path / "data", free_port())
    try:
        _, job, pid = start_long_job(app, long_audio)
        os.kill(app.proc.pid, signal.SIGKILL)
        app.proc.wait(30)
        with pytest.raises(Exception):  # noqa: B017 - whatever the cut connection raises: no answer came
            job.result(timeout=60)
    finally:
        app.stop()
    gen = generation_after_restart(app.data_dir, pid)
    assert (gen["status"], gen["error"]) == ("failed", INTERRUPTED)
