"""The executor seam without a cluster: a workflow's work pickled as the Ray executor pickles it (its
references to the web process's services written as names) runs on another set of services built from
the same settings, as a worker's are; and the app never imports Ray unless jobs run on Ray."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import soundfile as sf

from tests.conftest import ROOT


def captured(fn, depth: int = 4) -> list:
    """What a closure holds, and what the closures it holds hold."""
    out = []
    for cell in getattr(fn, "__closure__", None) or ():
        out.append(cell.cell_contents)
        if depth and callable(cell.cell_contents):
            out += captured(cell.cell_contents, depth - 1)
    return out


def test_work_pickled_with_service_names_runs_on_a_workers_own_services(settings):
    import pickle

    from cluster import ray_executor
    from services import build_services

    web = build_services(settings)
    worker = build_services(ray_executor.shared_settings(settings), recover=False, worker=True)
    pickler = ray_executor.RayExecutor(replace(settings, executor="ray"), web)
    seen = {}

    class PickledExecutor:
        """Runs the job as run_job does on a worker, in this process."""

        name = "pickled"

        def execute(self, runner, job, progress, cancel):
            blob = pickler.pickle_work(job.work)
            ray_executor._unpickling.services = worker
            try:
                work = pickle.loads(blob)
            finally:
                ray_executor._unpickling.services = None
            seen["size"], seen["cells"] = len(blob), captured(work)
            return worker.jobs.perform(replace(job, work=work),
                                       worker.jobs.progress_writer(job.generation_id, progress), cancel)

    web.jobs.executor = PickledExecutor()
    done, res = web.voices.speak("Pickled and run elsewhere.", voice="en-us")
    assert done.generation.status.value == "succeeded" and res.audio.duration_s > 1
    (wav,) = [a for a in done.outputs if a.ext == ".wav"]
    assert sf.info(web.library.asset_path(wav)).duration > 1
    # The work's closure holds the worker's own workflow object, not a copy of the web process's.
    assert any(c is worker.voices for c in seen["cells"]) and not any(c is web.voices for c in seen["cells"])
    assert seen["size"] < 200_000, "services travelled by value"
    web.library.engine.dispose()
    worker.library.engine.dispose()


def test_the_app_never_imports_ray_unless_jobs_run_on_ray(tmp_path):
    """`import app` and services built for either executor leave Ray unimported (the Ray executor joins
    the cluster on its first job)."""
    code = (
        "import sys; from pathlib import Path; import app; from services import build_services; "
        "from settings import Settings; "
        "local = build_services(Settings(data_dir=Path(sys.argv[1]) / 'a')); "
        "ray = build_services(Settings(data_dir=Path(sys.argv[1]) / 'b', executor='ray', ray_address='127.0.0.1:9')); "
        "print(local.jobs.executor.name, ray.jobs.executor.name, 'ray' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"}, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-3:] == ["local", "ray", "False"]


def test_a_cluster_that_cannot_be_joined_fails_the_job_clearly(settings):
    import pytest

    from core.errors import BackendUnavailable
    from services import build_services
    from tests.conftest import free_port

    svc = build_services(replace(settings, executor="ray", ray_address=f"127.0.0.1:{free_port()}"))
    with pytest.raises(BackendUnavailable, match=r"cannot be joined .*make cluster"):
        svc.voices.speak("Nobody is listening.", voice="en-us")
    from sqlmodel import select

    from storage.models import Generation

    with svc.library.session() as s:
        (g,) = s.exec(select(Generation)).all()
    assert g.status.value == "failed" and "cannot be joined" in g.error
    svc.library.engine.dispose()
