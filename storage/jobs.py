"""Jobs: every generation is recorded before it runs, its progress kept, its outputs stored.

    result = jobs.run(kind="speak", params={...}, project_id=3, work=fn, inputs=[asset_id], uploads=staged)

`work(ctx)` is the engine call. It reports through `ctx.progress(done, total, msg)`,
writes files into `ctx.workdir`, checks `ctx.cancel`, and returns a JobResult whose
outputs become assets of the project. Failures are recorded with their message.

A workflow checks the whole request before it calls `run`: types, ranges, names, text lengths,
referenced ids, and its uploads through intake (`Library.stage`). `run` then stores the uploads
and the generation in one transaction, so a refused request leaves no row and no file; only a
job that fails while it runs is kept, as a failed generation.

Every file a job makes lies in its own folder, DATA_DIR/scratch/job<id>-...: its outputs in
`ctx.workdir`, temporary files in `ctx.scratch` (inside it, handed to the engines, which never
use the system temp folder). The folder goes when the job ends, succeeded, failed or cancelled;
after a crash, start-up clears the scratch area (`Library.recover`).

Where the work runs is the runner's `executor`: `LocalExecutor` (the default) calls it in the caller's
thread, as always; `cluster.ray_executor.RayExecutor` runs it as a Ray task on a worker process. Either
way the runner records the job before and stores its outputs after, here, in the web process.
"""

from __future__ import annotations

import functools
import logging
import shutil
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from sqlalchemy import update
from sqlmodel import select

from core.audio import Audio
from core.errors import INTERRUPTED, Cancelled, EngineError, Interrupted
from core.licences import join as join_licences
from core.progress import CancelToken, ProgressFn, no_progress
from storage.intake import Probed
from storage.library import ANONYMOUS, Actor, Library, QuotaExceeded, Staged
from storage.models import Asset, Generation, GenerationAsset, JobStatus, MediaKind, utcnow

log = logging.getLogger(__name__)

_MIME = {
    ".wav": "audio/wav", ".flac": "audio/flac", ".mp3": "audio/mpeg", ".ogg": "audio/ogg",
    ".mp4": "video/mp4", ".png": "image/png", ".jpg": "image/jpeg", ".txt": "text/plain",
    ".md": "text/markdown", ".lrc": "text/plain", ".json": "application/json", ".mid": "audio/midi",
    ".zip": "application/zip", ".srt": "application/x-subrip", ".vtt": "text/vtt",
    ".c2pa": "application/c2pa",
    ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}


# JobOutput.meta key: the job marked this file's sound itself (JobContext.mark).
PREMARKED = "marked_by_job"


@dataclass
class JobOutput:
    """One file the engine made. Media facts it already knows save a probe."""

    path: Path
    kind: MediaKind
    name: str
    duration_s: float | None = None
    width: int | None = None
    height: int | None = None
    sample_rate: int | None = None
    channels: int | None = None
    meta: dict = field(default_factory=dict)


@dataclass
class JobResult:
    outputs: list[JobOutput] = field(default_factory=list)
    backend: str = ""
    model: str = ""
    model_licence: str = ""
    metrics: dict = field(default_factory=dict)
    # What the workflow hands its own caller besides the stored outputs (the speech as audio, the song's
    # figures). It comes back from a worker with the result, where a variable the work set would not.
    returned: object = None


@dataclass(frozen=True)
class InputFile:
    """A stored input of a generation, as the marks on its outputs name it."""

    name: str
    sha256: str
    mime: str
    path: Path


@dataclass
class Made:
    """A finished job's files and what made them, handed to the runner's `mark_outputs` before they are
    stored (the watermark and the Content Credentials are written into the files)."""

    generation_id: int
    kind: str
    created_at: str
    result: JobResult
    inputs: list[InputFile]

    @property
    def outputs(self) -> list[JobOutput]:
        return self.result.outputs


@dataclass
class JobContext:
    generation_id: int
    # The job's own folder: outputs are written here before they are stored.
    workdir: Path
    progress: ProgressFn
    cancel: CancelToken
    # Marks sound with the studio's watermark for this generation, in memory: a job that writes the same
    # sound several times (a song's WAV and MP3) marks it once, before writing, and sets meta[PREMARKED]
    # on those outputs, whose sound `mark_outputs` then leaves as it is. None: no marks.
    mark: Callable[[Audio], Audio] | None = None

    def marked(self, audio: Audio) -> Audio:
        return self.mark(audio) if self.mark is not None else audio

    @property
    def scratch(self) -> Path:
        """The folder for the job's temporary files, passed to engines as `scratch`; inside `workdir`,
        so removed with it when the job ends (made on first use)."""
        return self.workdir / "tmp"


@dataclass(frozen=True)
class Job:
    """A recorded generation, ready to run: what the runner hands its executor."""

    generation_id: int
    kind: str
    # The job's own folder (DATA_DIR/scratch/job<id>-...): outputs are written here.
    workdir: Path
    # The workflow's engine call.
    work: Callable[[JobContext], JobResult]
    # The ids of the stored assets it reads (their licences and hashes go into the outputs' marks).
    inputs: tuple[int, ...] = ()
    # When it was recorded, as its Content Credentials say ("2026-01-31T12:00:00Z").
    created_at: str = ""


class Executor(Protocol):
    """Runs a recorded job's work somewhere and returns its result (or raises its error)."""

    # "local" or "ray": shown in /capabilities.
    name: str

    def execute(self, runner: JobRunner, job: Job, progress: ProgressFn, cancel: CancelToken) -> JobResult:
        """Run `job` through `runner.perform` (here or in a worker's own runner), report `progress` to the
        caller and to the generation's row, and stop when `cancel` is set (raising its reason)."""
        ...


class LocalExecutor:
    """Today's way, the default: the work runs in the caller's thread (Gradio's worker thread)."""

    name = "local"

    def execute(self, runner: JobRunner, job: Job, progress: ProgressFn, cancel: CancelToken) -> JobResult:
        return runner.perform(job, runner.progress_writer(job.generation_id, progress), cancel)


@dataclass
class Finished:
    generation: Generation
    outputs: list[Asset]
    # JobResult.returned of the work.
    returned: object = None


class JobRunner:
    # Progress is written to the database at most this often (seconds).
    db_interval_s = 0.5

    # Stop keys remembered (the most recent); older ones are forgotten.
    max_stop_keys = 1000

    def __init__(self, library: Library, max_jobs_per_user: int = 0,
                 mark_outputs: Callable[[Made], None] | None = None, executor: Executor | None = None) -> None:
        self.library = library
        # Where jobs' work runs: this process (LocalExecutor) or a Ray cluster.
        self.executor: Executor = executor or LocalExecutor()
        # Applied to a finished job's files before they are stored (the studio's watermark and
        # Content Credentials).
        self.mark_outputs = mark_outputs
        # Jobs one user may have running at once (0 = no limit).
        self.max_jobs_per_user = max_jobs_per_user
        # Running generations: id -> (its cancel token, owner id).
        self._running: dict[int, tuple[CancelToken, int | None]] = {}
        # Tokens handed out under a stop key (e.g. a browser session and its action), newest last.
        self._stop_keys: dict[str, CancelToken] = {}
        self._lock = threading.Lock()
        # Jobs running (or being recorded) per user id.
        self._per_user: dict[int | None, int] = {}

    def token(self, key: str) -> CancelToken:
        """A fresh cancel token that `stop(key)` will set (a Stop button's key: session and action).
        It replaces any earlier token under the same key."""
        token = CancelToken()
        with self._lock:
            self._stop_keys.pop(key, None)
            self._stop_keys[key] = token
            while len(self._stop_keys) > self.max_stop_keys:
                self._stop_keys.pop(next(iter(self._stop_keys)))
        return token

    def stop(self, key: str) -> bool:
        """Set the token handed out under `key`; True if there was one."""
        with self._lock:
            token = self._stop_keys.pop(key, None)
        if token is None:
            return False
        token.cancel()
        return True

    def cancel(self, generation_id: int, actor: Actor = ANONYMOUS) -> bool:
        """Ask a running generation to stop (it ends "cancelled" at its next check, its partial files
        removed). True if it was running and the actor may see it."""
        with self._lock:
            entry = self._running.get(int(generation_id))
        if entry is None or entry[1] != actor.user_id:
            return False
        entry[0].cancel()
        return True

    def running(self) -> list[int]:
        """Ids of the generations running in this process."""
        with self._lock:
            return sorted(self._running)

    def interrupt_all(self, wait_s: float = 5.0) -> list[int]:
        """The server is going down: tell every running job to stop (each ends failed, its client told
        INTERRUPTED), wait up to `wait_s` for them, and record those still running as interrupted (a job
        in a step that cannot stop early; recovery at the next start removes what it leaves). Returns
        the ids of the jobs that were running."""
        with self._lock:
            running = dict(self._running)
        for token, _ in running.values():
            token.cancel(Interrupted)
        deadline = time.monotonic() + max(0.0, wait_s)
        while self.running() and time.monotonic() < deadline:
            time.sleep(0.05)
        still = self.running()
        if still:
            with self.library.session() as s:  # only rows still running: one may just have ended
                s.exec(update(Generation).where(Generation.id.in_(still), Generation.status == JobStatus.running)
                       .values(status=JobStatus.failed, error=INTERRUPTED, finished_at=utcnow()))
                s.commit()
        return sorted(running)

    def run(
        self,
        *,
        kind: str,
        params: dict,
        work: Callable[[JobContext], JobResult],
        project_id: int | None = None,
        inputs: list[int] = (),
        uploads: Staged | None = None,
        progress: ProgressFn = no_progress,
        cancel: CancelToken | None = None,
        actor: Actor = ANONYMOUS,
    ) -> Finished:
        """Record, run and store one generation. `inputs`: ids of stored assets it reads; `uploads`: the
        request's checked uploads, stored as its inputs (after `inputs`) in the transaction that records
        it. Raises the engine's error after recording it; QuotaExceeded (before recording anything) when
        the actor's storage is full or they already run `max_jobs_per_user` jobs."""
        lib = self.library
        lib.check_project(project_id, actor, "editor")  # refused before anything is made
        for aid in inputs:  # inputs the actor may not read are refused like missing ones
            lib.get_asset(aid, actor)
        lib.check_room(actor)
        with self._slot(actor):
            project = lib.project_or_default(project_id, actor, "editor")
            return self._run(kind, params, work, project.id, list(inputs), uploads, progress, cancel, actor)

    @contextmanager
    def _slot(self, actor: Actor) -> Iterator[None]:
        uid = actor.user_id
        with self._lock:
            n = self._per_user.get(uid, 0)
            if self.max_jobs_per_user and uid is not None and n >= self.max_jobs_per_user:
                raise QuotaExceeded(f"you already have {n} jobs running, the most one user may run at once; "
                                    "wait for one to finish, or stop one")
            self._per_user[uid] = n + 1
        try:
            yield
        finally:
            with self._lock:
                self._per_user[uid] -= 1
                if not self._per_user[uid]:
                    del self._per_user[uid]

    def _run(self, kind: str, params: dict, work: Callable[[JobContext], JobResult], project_id: int,
             inputs: list[int], uploads: Staged | None, progress: ProgressFn, cancel: CancelToken | None,
             actor: Actor) -> Finished:
        lib = self.library
        cancel = cancel or CancelToken()
        added: set[tuple[str, str]] = set()
        try:
            with lib.session() as s:
                if uploads is not None:
                    inputs = inputs + [a.id for a in lib.store_staged(s, project_id, uploads, actor, added)]
                    lib.touch(s, project_id)
                gen = Generation(project_id=project_id, owner_id=actor.user_id, kind=kind, params=params)
                s.add(gen)
                s.flush()
                for aid in inputs:
                    s.add(GenerationAsset(generation_id=gen.id, asset_id=int(aid), role="input"))
                s.commit()
                s.refresh(gen)
        except Exception:
            lib.drop_unreferenced(added)
            raise
        workdir = lib.store.new_scratch_dir(f"job{gen.id}-")
        with self._lock:
            self._running[gen.id] = (cancel, actor.user_id)
        self._set(gen.id, status=JobStatus.running, started_at=utcnow())
        try:
            made_at = gen.created_at.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"
            job = Job(gen.id, kind, workdir, work, tuple(int(i) for i in inputs), made_at)
            result = self.executor.execute(self, job, progress, cancel)
            cancel.raise_if_set()
            return self._store(gen.id, project_id, result, actor)
        except Cancelled as e:
            if isinstance(e, Interrupted) or cancel.reason is Interrupted:  # the server or a worker went down
                error = str(e) if isinstance(e, Interrupted) else INTERRUPTED
                self._set(gen.id, status=JobStatus.failed, error=error, finished_at=utcnow())
                raise Interrupted(error) from None
            self._set(gen.id, status=JobStatus.cancelled, error=str(e), finished_at=utcnow())
            raise
        except EngineError as e:
            self._set(gen.id, status=JobStatus.failed, error=str(e), finished_at=utcnow())
            raise
        except Exception as e:
            log.error("job %s (%s) crashed:\n%s", gen.id, kind, traceback.format_exc())
            self._set(gen.id, status=JobStatus.failed, error=f"internal error: {type(e).__name__}: {e}",
                      finished_at=utcnow())
            raise
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
            with self._lock:
                self._running.pop(gen.id, None)

    def perform(self, job: Job, progress: ProgressFn, cancel: CancelToken) -> JobResult:
        """Run the job's work and mark what it made: the work gets its context (the watermark for sound
        made in memory, the picture mark while videos are encoded, when the marker offers them), then its
        files get the studio's marks and Content Credentials. Executors call this, in this process or in a
        worker's own services, so a worker, not the web process, does the marking too."""
        marker = getattr(self.mark_outputs, "mark_audio", None)
        mark = functools.partial(marker, generation_id=job.generation_id) if marker is not None else None
        encoding = getattr(self.mark_outputs, "encoding", None)
        with encoding(job.generation_id) if encoding is not None else nullcontext():
            result = job.work(JobContext(job.generation_id, job.workdir, progress, cancel, mark))
        cancel.raise_if_set()
        # Outputs made from earlier outputs (a music video of a song) are under their licences too.
        result.model_licence = join_licences([result.model_licence, *self._input_licences(list(job.inputs))])
        if self.mark_outputs is not None:
            self.mark_outputs(Made(job.generation_id, job.kind, job.created_at, result,
                                   self._input_files(list(job.inputs))))
            cancel.raise_if_set()
        return result

    def _input_licences(self, ids: list[int]) -> list[str]:
        """The model licences of the generations that made these input assets."""
        if not ids:
            return []
        with self.library.session() as s:
            made_by = s.exec(select(Generation.model_licence).join(
                GenerationAsset, GenerationAsset.generation_id == Generation.id).where(
                GenerationAsset.role == "output", GenerationAsset.asset_id.in_([int(i) for i in ids]))).all()
        return [x for x in made_by if x]

    def _input_files(self, ids: list[int]) -> list[InputFile]:
        if not ids:
            return []
        with self.library.session() as s:
            rows = [s.get(Asset, int(i)) for i in dict.fromkeys(ids)]
        return [InputFile(a.name, a.sha256, a.mime, self.library.asset_path(a)) for a in rows if a is not None]

    def progress_writer(self, gen_id: int, forward: ProgressFn) -> ProgressFn:
        """A progress callback that calls `forward` and keeps the generation's row up to date (at most every
        `db_interval_s`, and always at the end)."""
        last = [0.0]
        lock = threading.Lock()

        def report(done: float, total: float, message: str = "") -> None:
            frac = min(max(done / total if total else 0.0, 0.0), 1.0)
            forward(done, total, message)
            now = time.monotonic()
            with lock:
                if now - last[0] < self.db_interval_s and frac < 1.0:
                    return
                last[0] = now
            self._set(gen_id, progress=frac, progress_message=message[:500])

        return report

    def _set(self, gen_id: int, **values) -> None:
        with self.library.session() as s:
            gen = s.get(Generation, gen_id)
            for k, v in values.items():
                setattr(gen, k, v)
            s.add(gen)
            s.commit()

    def _store(self, gen_id: int, project_id: int, result: JobResult, actor: Actor) -> Finished:
        lib = self.library
        added: set[tuple[str, str]] = set()
        try:
            with lib.session() as s:
                rows = []
                for out in result.outputs:
                    ext = out.path.suffix.lower()
                    probed = Probed(out.kind, out.path, ext, _MIME.get(ext, "application/octet-stream"),
                                    out.duration_s, out.width, out.height, out.sample_rate, out.channels,
                                    dict(out.meta))
                    asset = lib.add_probed(project_id, probed, out.name, origin="generated", actor=actor,
                                           session=s, added=added)
                    s.add(GenerationAsset(generation_id=gen_id, asset_id=asset.id, role="output"))
                    rows.append(asset)
                gen = s.get(Generation, gen_id)
                gen.status, gen.progress, gen.finished_at = JobStatus.succeeded, 1.0, utcnow()
                gen.backend, gen.model, gen.model_licence = result.backend, result.model, result.model_licence
                gen.metrics = dict(result.metrics)
                s.add(gen)
                lib.touch(s, project_id)
                s.commit()
                for r in rows:
                    s.refresh(r)
                s.refresh(gen)
        except Exception:
            lib.drop_unreferenced(added)
            raise
        return Finished(gen, rows, result.returned)
