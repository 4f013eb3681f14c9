"""Warm model actors: a model that is slow to load is loaded once, in a Ray actor, and kept.

One actor per model and device: its name is the model registry's key ("piper:<voice>",
"asr:base:cpu", "asr:base:cuda"), in the studio's namespace, detached so it outlives the job
or process that first asked for it. It holds `ray_model_gpus` GPUs when the model runs on a GPU
(so it lands on a GPU node), else `ray_model_cpus` CPUs. `ModelPlacement` is the model
registry's placement in the web process and in every worker: `MODELS.get(key, loader,
shareable=True)` returns a `RemoteModel`, a stand-in whose method calls run in the actor.

Only models an engine marks shareable go there (the Piper voice's session, Whisper): their
methods take and return plain data. `stats()` of an actor counts loads and calls, which shows
that a second request does not load the model again.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import Any

from settings import Settings

log = logging.getLogger(__name__)

_SIMPLE = (str, int, float, bool, type(None))


class ModelHolder:
    """The actor's class: one model, loaded by the first `ensure`."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.model: Any = None
        # How often the model was loaded in this actor, and how many method calls it served.
        self.loads = 0
        self.calls = 0
        self.load_seconds = 0.0

    def ensure(self, loader: Callable[[], Any]) -> dict:
        """Load the model if it is not loaded; its plain public attributes (a stand-in copies them)."""
        import time

        if self.model is None:
            t0 = time.perf_counter()
            self.model = loader()
            self.load_seconds = time.perf_counter() - t0
            self.loads += 1
            log.info("actor %s loaded its model in %.2f s", self.key, self.load_seconds)
        return {k: v for k, v in vars(self.model).items() if not k.startswith("_") and isinstance(v, _SIMPLE)}

    def call(self, method: str, args: tuple, kwargs: dict) -> Any:
        self.calls += 1
        return getattr(self.model, method)(*args, **kwargs)

    def stats(self) -> dict:
        import ray

        return {"key": self.key, "loads": self.loads, "calls": self.calls, "load_seconds": round(self.load_seconds, 3),
                "pid": os.getpid(), "node_id": ray.get_runtime_context().get_node_id()}


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

            for attempt in (1, 2):
                try:
                    return ray.get(self._actor.call.remote(name, args, kwargs))
                except rex.RayTaskError as e:
                    cause = getattr(e, "cause", None)
                    raise (cause if isinstance(cause, Exception) else RuntimeError(str(e))) from None
                except rex.RayActorError:
                    if attempt == 2:
                        raise
                    log.warning("the actor of %s died; starting it again", self._key)
                    self._actor, _ = self._placement.ensure(self._key, self._loader, self._gpu)

        return call


class ModelPlacement:
    """The model registry's placement under the Ray executor: warm actors, one per model and device."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._models: dict[str, RemoteModel] = {}
        self._lock = threading.Lock()

    def __call__(self, key: str, loader: Callable[[], Any], gpu: bool) -> RemoteModel:
        with self._lock:
            model = self._models.get(key)
            if model is None:
                model = self._models[key] = RemoteModel(self, key, loader, gpu)
            return model

    def ensure(self, key: str, loader: Callable[[], Any], gpu: bool):
        """The actor for `key` (made if there is none), its model loaded; (handle, plain attributes)."""
        import ray

        from cluster.ray_executor import NAMESPACE

        resources = ({"num_gpus": self.settings.ray_model_gpus, "num_cpus": 0} if gpu
                     else {"num_cpus": self.settings.ray_model_cpus})
        holder = ray.remote(ModelHolder).options(name=actor_name(key), namespace=NAMESPACE, get_if_exists=True,
                                                 lifetime="detached", max_restarts=0, **resources)
        actor = holder.remote(key)
        return actor, ray.get(actor.ensure.remote(loader))


def actor_stats(key: str) -> dict | None:
    """Load and call counts of the warm actor of `key`, or None if there is none."""
    import ray

    from cluster.ray_executor import NAMESPACE

    try:
        actor = ray.get_actor(actor_name(key), namespace=NAMESPACE)
    except ValueError:
        return None
    return ray.get(actor.stats.remote())


def list_actors() -> list[dict]:
    """Stats of every warm model actor alive in the cluster."""
    import ray
    from ray.util import list_named_actors

    from cluster.ray_executor import NAMESPACE

    names = [a["name"] for a in list_named_actors(all_namespaces=True)
             if a.get("namespace") == NAMESPACE and a["name"].startswith("model:")]
    return [ray.get(ray.get_actor(n, namespace=NAMESPACE).stats.remote()) for n in names]
