"""Jobs: recorded before they run, progress kept, outputs stored, failures recorded."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import soundfile as sf

from core.errors import Cancelled, InputError
from core.progress import CancelToken
from storage.jobs import JobOutput, JobResult
from storage.models import Generation, JobStatus, MediaKind


def render_tone(ctx, seconds: float = 2.0, sr: int = 24000, steps: int = 4) -> JobResult:
    """A small real render: a tone written in steps, reporting progress like an engine."""
    chunks = []
    for i in range(steps):
        ctx.cancel.raise_if_set()
        t = np.arange(int(sr * seconds / steps)) / sr
        chunks.append(0.3 * np.sin(2 * np.pi * 220 * (t + i * seconds / steps)))
        ctx.progress(i + 1, steps, f"chunk {i + 1}/{steps}")
    out = ctx.workdir / "tone.wav"
    sf.write(out, np.concatenate(chunks), sr)
    return JobResult([JobOutput(out, MediaKind.audio, "tone.wav", duration_s=seconds, sample_rate=sr, channels=1)],
                     backend="test-tone", model="sine", model_licence="n/a", metrics={"peak": 0.3})


def test_successful_job_is_recorded_with_outputs(services):
    lib, jobs = services.library, services.jobs
    p = lib.create_project("Jobs")
    seen = []
    statuses = []

    def work(ctx):
        with lib.session() as s:
            statuses.append(s.get(Generation, ctx.generation_id).status)
        return render_tone(ctx)

    done = jobs.run(kind="tone", params={"hz": 220}, work=work, project_id=p.id,
                    progress=lambda d, t, m="": seen.append(d / t))
    assert statuses == [JobStatus.running]
    assert seen == [0.25, 0.5, 0.75, 1.0]
    g = done.generation
    assert g.status is JobStatus.succeeded and g.progress == 1.0 and g.backend == "test-tone"
    assert g.started_at and g.finished_at and g.seconds >= 0
    (a,) = done.outputs
    assert a.origin == "generated" and a.kind is MediaKind.audio
    assert sf.info(str(lib.asset_path(a))).duration == pytest.approx(2.0, abs=1e-3)
    (row,) = lib.list_generations(p.id)
    assert row["outputs"] == [a.id] and row["params"] == {"hz": 220} and row["metrics"] == {"peak": 0.3}
    assert list(lib.store.scratch.iterdir()) == []


def test_job_without_project_goes_to_default_project(services):
    done = services.jobs.run(kind="tone", params={}, work=render_tone)
    assert services.library.get_project(done.generation.project_id).name == "Unsorted"


@pytest.mark.parametrize(
    "error, status, message",
    [
        (InputError("the text is empty; type something to say"), JobStatus.failed,
         "the text is empty; type something to say"),
        (ZeroDivisionError("boom"), JobStatus.failed, "internal error: ZeroDivisionError: boom"),
        (Cancelled(), JobStatus.cancelled, "cancelled by the user"),
    ],
)
def test_failed_jobs_keep_the_reason_and_no_files(services, error, status, message):
    lib = services.library
    p = lib.create_project("Failing")

    def work(ctx):
        (ctx.workdir / "partial.wav").write_bytes(b"half written")
        ctx.progress(1, 3, "started")
        raise error

    with pytest.raises(type(error)):
        services.jobs.run(kind="tone", params={}, work=work, project_id=p.id)
    (row,) = lib.list_generations(p.id)
    assert row["status"] == status.value and row["error"] == message and row["outputs"] == []
    assert row["progress"] == pytest.approx(1 / 3, abs=1e-3)
    assert [f for f in lib.store.root.rglob("*") if f.is_file()] == []
    assert list(lib.store.scratch.iterdir()) == []


def test_cancel_flag_stops_the_engine(services):
    token = CancelToken()

    def work(ctx):
        token.cancel()
        return render_tone(ctx)

    with pytest.raises(Cancelled):
        services.jobs.run(kind="tone", params={}, work=work, cancel=token)


def test_a_running_job_is_cancelled_by_id_or_by_its_stop_key(services):
    """Another thread stops a running job: by its generation id (the API's /cancel) or through the
    token handed out under a stop key (a Stop button). It ends "cancelled", with no outputs and no
    scratch files; ids that are not running answer False."""
    import threading

    lib, jobs = services.library, services.jobs
    started = threading.Event()

    def slow(ctx):
        def progress(done, total, message=""):
            ctx.progress(done, total, message)
            started.set()
            time.sleep(0.05)
        return render_tone(type(ctx)(ctx.generation_id, ctx.workdir, progress, ctx.cancel), steps=200)

    for how in ("id", "key"):
        started.clear()
        token = jobs.token("session-1:compose") if how == "key" else None
        errors = []

        def run(how, token, errors):
            try:
                jobs.run(kind="tone", params={"how": how}, work=slow, cancel=token)
            except Cancelled as e:
                errors.append(e)

        worker = threading.Thread(target=run, args=(how, token, errors))
        worker.start()
        assert started.wait(30)
        (gid,) = jobs.running()
        assert jobs.cancel(gid + 1000) is False
        assert (jobs.cancel(gid) if how == "id" else jobs.stop("session-1:compose")) is True
        worker.join(30)
        assert not worker.is_alive() and len(errors) == 1
        with lib.session() as s:
            g = s.get(Generation, gid)
        assert g.status == JobStatus.cancelled and g.progress < 1.0
        assert lib.get_generation(gid)[2] == [] and jobs.running() == []
        assert list(lib.store.scratch.iterdir()) == []
    assert jobs.stop("session-1:compose") is False  # a key is used once


def test_uploads_are_stored_with_the_generation_in_one_transaction(services, samples, tmp_path):
    """A request's uploads are checked by intake first and stored only with its generation, as its inputs; a
    request refused before it is recorded stores none of them (no row, no file)."""
    lib, jobs = services.library, services.jobs
    p = lib.create_project("Inputs")
    photo = (samples / "portraits" / "art_0.png", "me.png")
    with lib.stage() as staged:
        item = staged.add(photo, MediaKind.photo, "a portrait")
        assert item.asset is None and lib.list_assets(p.id) == []  # checked, not stored
        done = jobs.run(kind="tone", params={}, work=render_tone, project_id=p.id, uploads=staged)
    (row,) = lib.list_generations(p.id)
    assert row["inputs"] == [item.asset.id] and lib.get_asset(item.asset.id).name == "me.png"
    assert done.generation.status is JobStatus.succeeded

    other = lib.create_project("Refused")
    with lib.stage() as staged:
        staged.add(photo, MediaKind.photo)
        with pytest.raises(InputError, match="no project with id 987654"):
            jobs.run(kind="tone", params={}, work=render_tone, project_id=987654, uploads=staged)
        with pytest.raises(InputError, match="is photo, not audio: a voice"):
            staged.add(photo, MediaKind.audio, "a voice")
    assert lib.list_assets(other.id) == [] and lib.list_generations(other.id) == []
    assert len(lib.list_assets(p.id)) == 2  # the first request's input and output, nothing more
    assert len([f for f in lib.store.root.rglob("*") if f.is_file()]) == 2
    assert list(lib.store.scratch.iterdir()) == []


def test_a_stopping_server_interrupts_running_jobs(services):
    """interrupt_all (SIGTERM): a job that checks its token ends failed with the restart message (which its
    client is given); one stuck in a step that cannot stop is recorded the same way when the wait is over."""
    import threading

    from core.errors import INTERRUPTED, Interrupted

    jobs, lib = services.jobs, services.library
    p = lib.create_project("Restart")
    started, release = threading.Event(), threading.Event()
    raised: list[BaseException] = []

    def polite(ctx):
        started.set()
        while True:
            ctx.cancel.raise_if_set()
            time.sleep(0.01)

    def stuck(ctx):
        started.set()
        release.wait(30)
        return JobResult()

    for work in (polite, stuck):
        started.clear()
        release.clear()

        def run(work=work):
            try:
                jobs.run(kind=work.__name__, params={}, work=work, project_id=p.id)
            except BaseException as e:
                raised.append(e)

        worker = threading.Thread(target=run)
        worker.start()
        assert started.wait(30)
        (gid,) = jobs.running()
        assert jobs.interrupt_all(wait_s=0.5 if work is stuck else 10) == [gid]
        with lib.session() as s:
            g = s.get(Generation, gid)
        assert (g.status, g.error) == (JobStatus.failed, INTERRUPTED)
        release.set()
        worker.join(30)
    assert isinstance(raised[0], Interrupted) and str(raised[0]) == INTERRUPTED
    assert jobs.running() == [] and list(lib.store.scratch.iterdir()) == []


CHILD = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {root!r})
    import numpy as np, soundfile as sf
    import app
    from settings import Settings
    from storage.jobs import JobResult

    settings = Settings(data_dir=__import__("pathlib").Path({data!r}), server_port={port})
    services, demo = app.create(settings)
    app.launch(demo, services, prevent_thread_lock=True)
    p = services.library.create_project("Crash test")

    def work(ctx):
        with sf.SoundFile(ctx.workdir / "long.wav", "w", 24000, 1) as f:
            for i in range(10_000):  # a long render, one second at a time
                f.write(np.zeros(24000))
                ctx.progress(i, 10_000, "rendering")
                time.sleep(0.05)
        return JobResult()

    services.jobs.run(kind="long_render", params={{"seconds": 10000}}, work=work, project_id=p.id)
""")


def test_killed_job_shows_failed_interrupted_after_restart(tmp_path, samples):
    """Kill -9 the app mid-job, start it again on the same data: the job is failed, its error says the server
    restarted (all a client whose connection was cut can learn), no orphan file."""
    from tests.conftest import ROOT, AppProcess, free_port

    data = tmp_path / "data"
    env = {**os.environ, "GRADIO_TEMP_DIR": str(tmp_path / "gradio-tmp")}
    proc = subprocess.Popen([sys.executable, "-c", CHILD.format(root=str(ROOT), data=str(data), port=free_port())],
                            env=env)
    scratch = data / "scratch"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        partial = list(scratch.glob("job*/long.wav")) if scratch.exists() else []
        if partial and partial[0].stat().st_size > 24000 * 2 * 30:  # ~1.5 s into the job
            break
        assert proc.poll() is None, "the job process ended on its own"
        time.sleep(0.1)
    else:
        pytest.fail("the job never started writing")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    app = AppProcess(data, free_port())
    try:
        from gradio_client import Client

        c = Client(app.url, verbose=False)
        (project,) = c.predict(api_name="/list_projects")
        (gen,) = c.predict(project_id=project["id"], api_name="/list_generations")
        assert gen["kind"] == "long_render"
        assert gen["status"] == "failed" and gen["error"] == "the server restarted; the job was interrupted"
        assert 0 < gen["progress"] < 1
    finally:
        app.stop()
    assert [f for f in (data / "media").rglob("*") if f.is_file()] == []
    assert list(scratch.iterdir()) == []
