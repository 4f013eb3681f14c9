"""The one model registry: lazy loading by name, a lock per model, unload and idle drop.

Engines ask `registry.get(key, loader)`; the loader runs once, under the key's lock,
and its result is shared until `unload(key)` or until it sits idle too long.

A model an engine marks `shareable` (it is used only through its methods, whose arguments and
results are plain data) may live elsewhere: when `placement` is set (the Ray executor sets it to
its warm model actors, one per model and device), `get` returns what `placement` gives, a stand-in
whose method calls run in the process that holds the model.
"""

from __future__ import annotations

import gc
import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class _Entry:
    value: Any
    loaded_at: float
    last_used: float
    load_seconds: float


class ModelRegistry:
    def __init__(self, idle_seconds: float = 0, clock: Callable[[], float] = time.monotonic) -> None:
        # Models unused for longer than this are dropped by drop_idle(); 0 keeps them.
        self.idle_seconds = idle_seconds
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        # Where shareable models live instead of this process: placement(key, loader, gpu) -> a stand-in
        # with the model's methods. None: here.
        self.placement: Callable[[str, Callable[[], Any], bool], Any] | None = None

    def _lock(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def get(self, key: str, loader: Callable[[], Any], *, shareable: bool = False, gpu: bool = False) -> Any:
        """Return the model for `key`, calling `loader()` the first time (once, even under concurrency).
        `shareable`: the model may be held by `placement` instead (`gpu`: it runs on a GPU there).

        A loaded model is returned without taking a lock: a process forked for the GPU (ZeroGPU) inherits
        locks that other threads held at the fork, and would wait on them for ever."""
        if shareable and self.placement is not None:
            return self.placement(key, loader, gpu)
        entry = self._entries.get(key)
        if entry is not None:
            entry.last_used = self._clock()
            return entry.value
        with self._lock(key):
            entry = self._entries.get(key)
            if entry is None:
                t0 = time.perf_counter()
                value = loader()
                now = self._clock()
                entry = _Entry(value, now, now, time.perf_counter() - t0)
                self._entries[key] = entry
                log.info("loaded %s in %.2f s", key, entry.load_seconds)
            entry.last_used = self._clock()
            return entry.value

    def is_loaded(self, key: str) -> bool:
        return key in self._entries

    def unload(self, key: str) -> bool:
        """Forget the model and free its memory (GPU memory too). True if it was loaded."""
        with self._lock(key):
            entry = self._entries.pop(key, None)
        if entry is None:
            return False
        close = getattr(entry.value, "close", None)
        if callable(close):
            try:
                close()
            except Exception:  # a failing close must not keep the memory pinned
                log.exception("closing %s failed", key)
        del entry
        gc.collect()
        torch = sys.modules.get("torch")  # only if some backend already imported it
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()
        log.info("unloaded %s", key)
        return True

    def drop_idle(self) -> list[str]:
        """Unload every model unused for more than `idle_seconds`; returns their keys."""
        if not self.idle_seconds:
            return []
        now = self._clock()
        stale = [k for k, e in list(self._entries.items()) if now - e.last_used > self.idle_seconds]
        return [k for k in stale if self.unload(k)]

    def loaded(self) -> list[dict]:
        now = self._clock()
        return [
            {"key": k, "load_seconds": round(e.load_seconds, 3), "idle_seconds": round(now - e.last_used, 1)}
            for k, e in sorted(self._entries.items())
        ]


# The process-wide registry every engine loads through (the Services object holds the same one).
MODELS = ModelRegistry()
