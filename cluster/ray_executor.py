"""Jobs as Ray tasks: the executor for EXECUTOR=ray (or RAY_ADDRESS set).

The web process records the job, submits its work as a Ray task, streams its progress to the caller
(gr.Progress) from the generation's row, cancels the task when the job's cancel token is set, and stores
the outputs as before (storage.jobs.JobRunner). A worker never talks to Gradio.

How a workflow's work reaches a worker. `work` is a closure made inside each workflow method: it captures
the workflow object (Settings, the Library with its SQLAlchemy engine, the Backends, locks, caches) and
the request's staged inputs. None of those services pickle, and none should travel: a worker builds its
own services once from the same Settings (the same DATABASE_URL and DATA_DIR, on storage every node
mounts) and the closure's references to the web process's services are pickled as *names* of the
worker's own ("voices", "library.store", ...). The closure itself, and the plain values it holds (the
request, the staged assets' rows, a voice model), travel by value with cloudpickle. So workflows need no
rewrite and no registry of job functions: any job that runs locally runs on a worker. The other design,
a registry of job functions by kind with picklable requests, would have meant rewriting every workflow's
work as a module-level function and a request type for each, for the same result.

The worker also marks the outputs (the watermark, Content Credentials), so the web process only records
and stores. What the task sends back is the JobResult (paths into the job's folder on the shared
DATA_DIR, and figures). Progress goes through the generation's row, which the worker's own runner writes as a local
job's does; the web process polls it. Cancelling: `ray.cancel` interrupts the task (KeyboardInterrupt in
the worker's thread, so engines' cleanup runs), then kills its process if it has not stopped within
`cancel_grace_s`. A worker (or its machine) that dies mid-job ends the job failed with WORKER_LOST, an
Interrupted; the web process and the other workers go on. Jobs are not retried: a job's side effects
(the likeness log, a rebuilt voice profile) are not all idempotent.

Models that are slow to load (the Piper voice, Whisper, Bark, MusicGen: every model an engine marks
shareable) live in warm actors (cluster.models), set as the model registry's placement in the web process
and in every worker.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import BackendUnavailable, Cancelled, Interrupted
from core.progress import CancelToken, ProgressFn, no_progress
from settings import Settings
from storage.jobs import Job, JobResult, JobRunner
from storage.models import Generation

if TYPE_CHECKING:
    from services import Services

log = logging.getLogger(__name__)

# The Ray namespace of the studio's named actors (the warm models).
NAMESPACE = "studio"
# What a job whose worker died is recorded with (failed), and what its caller is told.
WORKER_LOST = "the worker running the job stopped (its process or machine went away); the job was interrupted"

# The services objects a job's closure may hold, by their path from `Services`: pickled as these names.
ROLES = ("library", "library.store", "jobs", "jobs.mark_outputs", "models", "backends", "voices",
         "voices.profiles", "talking_heads", "music", "video", "slides", "clones", "clones.stages", "accounts",
         "sharing")


class WorkerLost(Interrupted):
    """The worker process (or node) running the job died."""

    def __init__(self, message: str = WORKER_LOST) -> None:
        super().__init__(message)


def shared_settings(settings: Settings) -> Settings:
    """The settings a worker builds its services from: paths made absolute (a worker's working folder is
    not the web process's), and jobs run locally in it."""
    return replace(settings, data_dir=settings.data_dir.resolve(), models_dir=settings.models_dir.resolve(),
                   executor="local")


# ------------------------------------------------------------------ the worker side

_worker_services: dict[Settings, Services] = {}
_worker_lock = threading.Lock()
_unpickling = threading.local()


def worker_services(settings: Settings) -> Services:
    """This worker process's services for `settings`, built once: no start-up recovery (the web process
    owns the scratch area and the running rows), no accounts seeding; models through the warm actors."""
    with _worker_lock:
        svc = _worker_services.get(settings)
        if svc is None:
            from cluster.models import ModelPlacement
            from services import build_services

            svc = build_services(settings, recover=False, worker=True)
            svc.models.placement = ModelPlacement(settings)
            _worker_services[settings] = svc
        return svc


def _service(role: str) -> Any:
    """The worker's own object for a role name (called while a job's work is unpickled)."""
    obj: Any = _unpickling.services
    for part in role.split("."):
        obj = getattr(obj, part)
    return obj


def _pickler_class():
    from ray import cloudpickle

    class ServicePickler(cloudpickle.CloudPickler):
        """cloudpickle, with the web process's services objects written as their role names."""

        def __init__(self, file, roles: dict[int, str]) -> None:
            super().__init__(file, protocol=5)
            self._roles = roles

        def reducer_override(self, obj):
            role = self._roles.get(id(obj))
            if role is not None:
                return _service, (role,)
            return super().reducer_override(obj)

    return ServicePickler


def run_job(settings: Settings, blob: bytes, job: Job) -> JobResult:
    """The Ray task: a job's work (pickled in `blob`; `job` carries the rest), run and marked by this
    worker's own job runner, which also writes its progress to the generation's row."""
    import pickle

    svc = worker_services(settings)
    with _worker_lock:
        _unpickling.services = svc
        try:
            work = pickle.loads(blob)
        finally:
            _unpickling.services = None
    runner = svc.jobs
    job = replace(job, work=work)
    return runner.perform(job, runner.progress_writer(job.generation_id, no_progress), CancelToken())


# ------------------------------------------------------------------ the web side


class RayExecutor:
    """Runs jobs as Ray tasks on the cluster at `settings.ray_address` (joined on the first job)."""

    name = "ray"
    # Seconds between reads of a running job's progress from its row (the worker writes it at most every
    # JobRunner.db_interval_s; the end of the task is seen at once, whatever this is).
    poll_s = 0.5
    # Seconds a cancelled task has to stop before its worker process is killed.
    cancel_grace_s = 10.0

    def __init__(self, settings: Settings, services: Services) -> None:
        self.settings = settings
        self.worker_settings = shared_settings(settings)
        self._roles: dict[int, str] = {}
        for role in ROLES:
            obj: Any = services
            for part in role.split("."):
                obj = getattr(obj, part, None)
            if obj is not None:
                self._roles[id(obj)] = role
        self._keep = services  # the objects whose ids are in _roles stay alive with it
        self._task = None
        self._lock = threading.Lock()

    def connect(self) -> None:
        """Join the cluster (once) and route shareable models to the warm actors."""
        with self._lock:
            if self._task is not None:
                return
            import ray

            from cluster.models import ModelPlacement

            address = self.settings.ray_address or "auto"
            if not ray.is_initialized():
                try:
                    _reachable(address)  # Ray itself would retry a wrong address for minutes
                    ray.init(address=address, namespace=NAMESPACE, log_to_driver=False,
                             runtime_env={"env_vars": worker_env()})
                except (OSError, RuntimeError, ValueError) as e:
                    raise BackendUnavailable(
                        f"jobs run on a Ray cluster (EXECUTOR=ray) but the cluster at {address} cannot be joined "
                        f"({e}); start it (`make cluster`), or unset RAY_ADDRESS and EXECUTOR to run jobs here"
                    ) from None
            self._keep.models.placement = ModelPlacement(self.worker_settings)
            self._task = ray.remote(run_job)
            log.info("jobs run on the Ray cluster at %s (%s CPU)", address,
                     ray.cluster_resources().get("CPU", 0))

    def warm_models(self) -> list[dict]:
        """The warm model actors in the cluster, with their load and call counts ([] before the first job)."""
        if self._task is None:
            return []
        from cluster.models import list_actors

        return list_actors()

    def pickle_work(self, work) -> bytes:
        buf = io.BytesIO()
        _pickler_class()(buf, self._roles).dump(work)
        return buf.getvalue()

    def execute(self, runner: JobRunner, job: Job, progress: ProgressFn, cancel: CancelToken) -> JobResult:
        import ray
        from ray import exceptions as rex

        self.connect()
        blob = self.pickle_work(job.work)
        ref = self._task.options(num_cpus=self.settings.ray_job_cpus, max_retries=0,
                                 name=f"job{job.generation_id}-{job.kind}").remote(
            self.worker_settings, blob, replace(job, work=None))
        progress(0.0, 1.0, "sent to the Ray cluster; waiting for a worker")
        seen: tuple[float, str] | None = None
        cancelled_at: float | None = None
        while True:
            ready, _ = ray.wait([ref], timeout=self.poll_s)
            if ready:
                break
            if cancel.is_set:
                now = time.monotonic()
                if cancelled_at is None:
                    cancelled_at = now
                    ray.cancel(ref)
                elif now - cancelled_at > self.cancel_grace_s:
                    ray.cancel(ref, force=True)
                continue
            row = self._progress(runner, job.generation_id)
            if row is not None and row != seen and (row[0] > 0 or row[1]):  # once the worker has reported
                seen = row
                progress(row[0], 1.0, row[1])
        try:
            result = ray.get(ref)
        except rex.TaskCancelledError:
            raise cancel.reason() from None
        except rex.RayTaskError as e:
            cause = getattr(e, "cause", None)
            if cancel.is_set:
                raise cancel.reason() from None
            if isinstance(cause, Exception) and not isinstance(cause, Cancelled):
                raise cause from None  # the engine's own error, as a local job raises it
            raise RuntimeError(str(e)) from None
        except rex.RayError as e:  # the worker process or its node died
            if cancel.is_set:
                raise cancel.reason() from None
            log.warning("job %s lost its worker: %s", job.generation_id, type(e).__name__)
            raise WorkerLost() from None
        cancel.raise_if_set()
        progress(1.0, 1.0, "done")
        return result

    @staticmethod
    def _progress(runner: JobRunner, generation_id: int) -> tuple[float, str] | None:
        with runner.library.session() as s:
            g = s.get(Generation, generation_id)
            return None if g is None else (float(g.progress or 0.0), g.progress_message or "")


def _reachable(address: str, timeout_s: float = 5.0) -> None:
    """Raise OSError if `address` ("host:port") takes no connection; other forms ("auto") are left to Ray."""
    import socket

    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or "/" in address:
        return
    with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
        pass


def worker_env() -> dict[str, str]:
    """Environment a worker needs that the cluster's own may lack: the project on the import path, and
    the offline and analytics switches of the web process."""
    import os

    root = str(Path(__file__).resolve().parent.parent)
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH", "")]))}
    for name in ("HF_HUB_OFFLINE", "HF_HOME", "GRADIO_ANALYTICS_ENABLED", "RAY_USAGE_STATS_ENABLED"):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


__all__ = ["NAMESPACE", "ROLES", "WORKER_LOST", "RayExecutor", "WorkerLost", "run_job", "worker_services"]
