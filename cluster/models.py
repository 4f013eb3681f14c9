"""Warm model actors: a model that is slow to load is loaded once, in a Ray actor, and kept while it is used.

Served warm (with EXECUTOR=ray): the Piper voice's session, Whisper (speech recognition), Bark, MusicGen,
and any neural talking-head backend that marks itself `shareable` (the app ships none yet: the embedded
talking-head engine runs in the job's own task, as the other embedded engines do).

One actor per model and device: its name is the model registry's key ("piper:<voice>", "asr:base:cpu",
"voice:bark:<folder>:cuda", "music:musicgen:<folder>:cpu"), in the studio's namespace, detached so it
outlives the job or process that first asked for it. It holds `ray_model_gpus` GPUs when the model runs
on a GPU (so it lands on a GPU node), else `ray_model_cpus` CPUs; with DEVICE=auto a shareable backend's
model goes on a GPU when the cluster has one (`ModelPlacement.device`), whichever node the job runs on.
`ModelPlacement` is the model registry's placement in the web process and in every worker:
`MODELS.get(key, loader, shareable=True, gpu=...)` returns a `RemoteModel`, a stand-in whose method calls
run in the actor. Their arguments and results are plain data (str, numbers, numpy arrays); a keyword
argument `progress` (a progress callback) or `cancel` (a cancel token) is relayed instead: the actor
streams the model's progress back to the caller's callback, and a cancelled caller (its token set, or its
job's Ray task cancelled) stops the call in the actor at the model's next check.

An actor unused for `ray_model_idle_s` seconds (RAY_MODEL_IDLE_S; 0 = never) leaves: its process ends,
so its memory (torch's included) and the CPUs or GPU it held go back to the cluster. The next call starts
a new actor, which loads the model again. (Dropping the model and staying would keep the actor's CPUs or
GPU reserved: another model could not take that GPU, nor a job those CPUs.) `stats()` of an actor counts
its loads and calls, which shows that a second request does not load the model again, and when it was
started (a retired model's next actor is a new process); it answers from its own concurrency group, so
also while a long call runs.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

from core.errors import Cancelled
from core.progress import CancelToken, ProgressFn, no_progress
from settings import Settings

log = logging.getLogger(__name__)

_SIMPLE = (str, int, float, bool, type(None))
# The actor's concurrency group for what must answer while a long call runs (its stats).
ADMIN = "admin"
# Seconds between the checks of a relayed call for new progress and for a cancel, on both sides.
RELAY_POLL_S = 0.1
# Seconds the placement trusts its count of the cluster's GPUs.
GPU_COUNT_TTL_S = 60.0


class _StopFlag:
    """The cancel token a model sees inside the actor: set when its caller cancels the call."""

    def __init__(self, event: threading.Event) -> None:
        self._event = event

    @property
    def is_set(self) -> bool:
        return self._event.is_set()

    def raise_if_set(self) -> None:
        if self._event.is_set():
            raise Cancelled()


class ModelHolder:
    """The actor's class: one model, loaded by the first `ensure`; leaves after `idle_s` unused seconds."""

    def __init__(self, key: str, idle_s: float = 0.0) -> None:
        self.key = key
        self.model: Any = None
        # How often the model was loaded in this actor, and how many method calls it served.
        self.loads = 0
        self.calls = 0
        self.load_seconds = 0.0
        # Seconds unused after which the actor leaves (0 = never), and when it was last used.
        self.idle_s = float(idle_s)
        self.started = time.time()
        self._last_used = time.monotonic()
        self._busy = 0  # calls running (the default group runs one at a time; ensure and call count)
        self._retiring = False
        if self.idle_s > 0:
            import ray

            me = ray.get_runtime_context().current_actor
            threading.Thread(target=self._watch, args=(me,), name="idle-watch", daemon=True).start()

    def idle_for(self) -> float:
        """Seconds since the last call ended (0 while one runs)."""
        return 0.0 if self._busy else time.monotonic() - self._last_used

    @contextmanager
    def _using(self):
        self._busy += 1
        try:
            yield
        finally:
            self._busy -= 1
            self._last_used = time.monotonic()

    def ensure(self, loader: Callable[[], Any]) -> dict:
        """Load the model if it is not loaded; its plain public attributes (a stand-in copies them)."""
        with self._using():
            if self.model is None:
                t0 = time.perf_counter()
                self.model = loader()
                self.load_seconds = time.perf_counter() - t0
                self.loads += 1
                log.info("actor %s loaded its model in %.2f s", self.key, self.load_seconds)
        return {k: v for k, v in vars(self.model).items() if not k.startswith("_") and isinstance(v, _SIMPLE)}

    def call(self, method: str, args: tuple, kwargs: dict) -> Any:
        self.calls += 1
        with self._using():
            return getattr(self.model, method)(*args, **kwargs)

    def stream(self, method: str, args: tuple, kwargs: dict, relay: tuple[str, ...]):
        """A call whose `progress` and `cancel` (named in `relay`) stay on the caller's side: yields
        ("progress", (done, total, message)) as the model reports (only the newest of those waiting), then
        ("result", value). A cancel of this actor task sets the model's cancel token."""
        events: queue.Queue = queue.Queue()
        stop = threading.Event()
        kwargs = dict(kwargs)
        if "progress" in relay:
            kwargs["progress"] = lambda done, total, message="": events.put(("progress", (done, total, message)))
        if "cancel" in relay:
            kwargs["cancel"] = _StopFlag(stop)

        def run() -> None:
            try:
                events.put(("result", self.call(method, args, kwargs)))
            except BaseException as e:  # handed to the caller as the call's error
                events.put(("error", e))

        worker = threading.Thread(target=run, name=f"call-{method}", daemon=True)
        worker.start()
        try:
            while True:
                try:
                    waiting = [events.get(timeout=RELAY_POLL_S)]
                except queue.Empty:
                    waiting = []
                while not events.empty():  # this loop is the queue's only reader
                    waiting.append(events.get_nowait())
                if not stop.is_set() and self._cancelled():
                    stop.set()
                reports = [v for k, v in waiting if k == "progress"]
                if reports:  # only the newest of the reports waiting
                    yield "progress", reports[-1]
                for kind, value in waiting:
                    if kind == "error":
                        raise value
                    if kind == "result":
                        yield kind, value
                        return
        finally:
            # However the stream ends (Ray closes a cancelled task's generator without a word), the call ends
            # with it: the model stops at its next check, and only then does the actor take its next call.
            stop.set()
            worker.join()

    @staticmethod
    def _cancelled() -> bool:
        import ray

        return ray.get_runtime_context().is_canceled()

    def _watch(self, me) -> None:
        """Ask the actor to retire once it has been idle long enough (the request waits behind any call).
        Never again while a request is pending: an actor that sends itself a task while it leaves hangs."""
        every = min(30.0, max(0.05, self.idle_s / 4))
        while True:
            time.sleep(every)
            if not self._retiring and self.idle_for() > self.idle_s:
                self._retiring = True
                me.retire.remote()

    def retire(self) -> bool:
        """Leave if still idle: the process ends, its memory and the CPUs or GPU it held go back. False if
        it was used meanwhile."""
        if not self.idle_s or self.idle_for() <= self.idle_s:
            self._retiring = False
            return False
        import ray

        log.info("actor %s unused for %.0f s: leaving (the next call loads the model again)", self.key,
                 self.idle_for())
        ray.actor.exit_actor()
        return True  # not reached

    def stats(self) -> dict:
        import ray

        return {"key": self.key, "loads": self.loads, "calls": self.calls, "busy": self._busy,
                "load_seconds": round(self.load_seconds, 3), "idle_seconds": round(self.idle_for(), 1),
                "idle_limit_s": self.idle_s, "started": round(self.started, 3), "pid": os.getpid(),
                "node_id": ray.get_runtime_context().get_node_id()}


def actor_name(key: str) -> str:
    return f"model:{key}"


class RemoteModel:
    """A model held by an actor: its plain attributes copied, its methods called remotely."""

    def __init__(self, placement: ModelPlacement, key: str, loader: Callable[[], Any], gpu: bool) -> None:
        self._placement, self._key, self._loader, self._gpu = placement, key, loader, gpu
        self._actor, attrs = placement.ensure(key, loader, gpu)
        self.__dict__.update(attrs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)

        def call(*args, **kwargs):
            import ray
            from ray import exceptions as rex

            progress = kwargs.pop("progress", None)
            cancel = kwargs.pop("cancel", None)
            if progress is no_progress:
                progress = None
            relay = tuple(n for n, v in (("progress", progress), ("cancel", cancel)) if v is not None)
            for attempt in (1, 2):
                try:
                    if relay:
                        return self._relayed(name, args, kwargs, relay, progress, cancel)
                    return ray.get(self._actor.call.remote(name, args, kwargs))
                except rex.RayTaskError as e:
                    cause = getattr(e, "cause", None)
                    raise (cause if isinstance(cause, Exception) else RuntimeError(str(e))) from None
                except rex.RayActorError:
                    if attempt == 2:
                        raise
                    # An actor that retired when idle, or one that died: a new one loads the model again.
                    log.info("the actor of %s is gone; starting it again", self._key)
                    self._actor, _ = self._placement.ensure(self._key, self._loader, self._gpu)

        return call

    def _relayed(self, name: str, args: tuple, kwargs: dict, relay: tuple[str, ...], progress: ProgressFn | None,
                 cancel: CancelToken | None) -> Any:
        """A call whose progress is streamed back here and which a cancel here stops in the actor."""
        import ray

        gen = self._actor.stream.options(num_returns="streaming").remote(name, args, kwargs, relay)
        try:
            while True:
                if cancel is not None and cancel.is_set:
                    ray.cancel(gen)
                    cancel.raise_if_set()
                ready, _ = ray.wait([gen], timeout=RELAY_POLL_S)
                if not ready:
                    continue
                try:
                    kind, value = ray.get(next(gen))
                except StopIteration:
                    raise RuntimeError(f"the actor of {self._key} ended {name}() without a result") from None
                if kind == "result":
                    for _ in gen:  # the end of the stream (the actor's task then counts as finished)
                        pass
                    return value
                if progress is not None:
                    progress(*value)
        except BaseException:
            # This caller stops (a cancel, its job's task cancelled, its callback failing): so does the call.
            ray.cancel(gen)
            raise


class ModelPlacement:
    """The model registry's placement under the Ray executor: warm actors, one per model and device."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._models: dict[str, RemoteModel] = {}
        self._lock = threading.Lock()
        self._gpus: tuple[float, float] | None = None  # (GPUs in the cluster, when counted)

    def __call__(self, key: str, loader: Callable[[], Any], gpu: bool) -> RemoteModel:
        with self._lock:
            model = self._models.get(key)
            if model is None:
                model = self._models[key] = RemoteModel(self, key, loader, gpu)
            return model

    def device(self, explicit: str | None) -> str:
        """The device a shareable model runs on for the DEVICE setting `explicit`: an explicit choice as it
        is (a job on a CPU node may ask for a model on a GPU node); "auto": "cuda" when the cluster has a
        GPU, else "cpu", whichever node asks."""
        choice = (explicit or "auto").strip().lower()
        if choice != "auto":
            return choice
        return "cuda" if self.cluster_gpus() > 0 else "cpu"

    def cluster_gpus(self) -> float:
        now = time.monotonic()
        if self._gpus is None or now - self._gpus[1] > GPU_COUNT_TTL_S:
            import ray

            self._gpus = (float(ray.cluster_resources().get("GPU", 0)), now)
        return self._gpus[0]

    def resources(self, gpu: bool) -> dict:
        """What an actor of a model on a GPU (else on the CPU) holds."""
        if gpu:
            return {"num_gpus": self.settings.ray_model_gpus, "num_cpus": 0}
        return {"num_cpus": self.settings.ray_model_cpus}

    def ensure(self, key: str, loader: Callable[[], Any], gpu: bool):
        """The actor for `key` (made if there is none), its model loaded; (handle, plain attributes)."""
        import ray
        from ray import exceptions as rex

        from cluster.ray_executor import NAMESPACE

        holder = ray.remote(concurrency_groups={ADMIN: 1})(ModelHolder).options(
            name=actor_name(key), namespace=NAMESPACE, get_if_exists=True, lifetime="detached", max_restarts=0,
            **self.resources(gpu))
        for attempt in range(3):
            actor = holder.remote(key, self.settings.ray_model_idle_s)
            try:
                return actor, ray.get(actor.ensure.remote(loader))
            except rex.RayActorError:  # the named actor was leaving (idle) just then: the next is a new one
                if attempt == 2:
                    raise
                time.sleep(0.2)


def _stats(actor) -> dict:
    import ray

    return ray.get(actor.stats.options(concurrency_group=ADMIN).remote())


def actor_stats(key: str) -> dict | None:
    """Load and call counts of the warm actor of `key`, or None if there is none."""
    import ray
    from ray import exceptions as rex

    from cluster.ray_executor import NAMESPACE

    try:
        return _stats(ray.get_actor(actor_name(key), namespace=NAMESPACE))
    except (ValueError, rex.RayActorError):  # none, or it left just now
        return None


def list_actors() -> list[dict]:
    """Stats of every warm model actor alive in the cluster."""
    from ray.util import list_named_actors

    from cluster.ray_executor import NAMESPACE

    names = [a["name"] for a in list_named_actors(all_namespaces=True)
             if a.get("namespace") == NAMESPACE and a["name"].startswith("model:")]
    found = (actor_stats(n.removeprefix("model:")) for n in names)
    return [s for s in found if s is not None]
