"""Stage results kept by content: a chain of stages (script, speech, talking head, music ...) reuses every
stage whose inputs did not change, so an edit re-renders only what it must, and a chain that failed at a
stage starts again there.

    cache = StageCache(settings.stages_dir, max_bytes)
    hit = cache.run(key("speech", owner, voice_sha, text), lambda folder: make_speech(folder))
    hit.folder / "speech.wav"; hit.meta; hit.reused

A stage's key is the SHA-256 of everything its result depends on (`key(...)`: JSON of the parts). Its
result is a folder of files plus a JSON `meta`, built in a private folder and renamed into place when
complete, so a crash or a Stop leaves no half-made entry (leftovers of unfinished builds are cleared at
start). Entries are used least recently first out when the cache grows beyond `max_bytes`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.scratch import private_dir

log = logging.getLogger(__name__)

META = "meta.json"
_BUILDING = ".building"


def key(*parts) -> str:
    """The key of a stage's result: SHA-256 of its parts as JSON (numbers, text, lists, dicts, hashes)."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class StageHit:
    folder: Path
    meta: dict
    # True: the result was there from an earlier run; False: made now.
    reused: bool


class StageCache:
    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = Path(root)
        self.max_bytes = int(max_bytes)
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._building = self.root / _BUILDING

    def clear_unfinished(self) -> None:
        """Start-up: builds a crash interrupted."""
        shutil.rmtree(self._building, ignore_errors=True)

    def get(self, k: str) -> StageHit | None:
        folder = self._folder(k)
        try:
            meta = json.loads((folder / META).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        now = time.time()
        try:
            os.utime(folder, (now, now))  # recently used
        except OSError:
            return None
        return StageHit(folder, meta, True)

    def run(self, k: str, make: Callable[[Path], dict], *, trim: bool = True) -> StageHit:
        """The stage's result under `k`: the kept one, or `make(folder)` run now (it writes its files into
        `folder` and returns the meta). Errors from `make` leave nothing behind. trim=False: the caller trims
        later (many small results made together: a walk of the cache each would cost more than they do)."""
        hit = self.get(k)
        if hit is not None:
            return hit
        self._building.mkdir(parents=True, exist_ok=True)
        work = private_dir(self._building, f"{k[:16]}-")
        try:
            meta = make(work)
            (work / META).write_text(json.dumps(meta or {}), encoding="utf-8")
            dest = self._folder(k)
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.rename(work, dest)
            except OSError:  # made at the same time by another job: theirs is kept
                shutil.rmtree(work, ignore_errors=True)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        if trim:
            self.trim(keep={k})
        hit = self.get(k)
        if hit is None:  # trimmed away at once (a cache smaller than one result): still usable this time
            raise OSError(f"the stage cache in {self.root} is too small for one result (STAGE_CACHE_MB)")
        return StageHit(hit.folder, hit.meta, False)

    def _folder(self, k: str) -> Path:
        if len(k) != 64 or not all(c in "0123456789abcdef" for c in k):
            raise ValueError(f"not a stage key: {k!r}")
        return self.root / k[:2] / k

    def entries(self) -> list[tuple[float, int, Path]]:
        """(last used, bytes, folder) of every entry."""
        out = []
        for folder in self.root.glob("??/" + "?" * 64):
            try:
                size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
                out.append((folder.stat().st_mtime, size, folder))
            except OSError:
                continue
        return out

    def usage_bytes(self) -> int:
        return sum(size for _, size, _ in self.entries())

    def trim(self, keep: set[str] = frozenset()) -> int:
        """Remove the least recently used entries beyond `max_bytes` (never those in `keep`). Returns how many."""
        with self._lock:
            entries = sorted(self.entries())
            total = sum(size for _, size, _ in entries)
            removed = 0
            for _, size, folder in entries:
                if total <= self.max_bytes:
                    break
                if folder.name in keep:
                    continue
                shutil.rmtree(folder, ignore_errors=True)
                total -= size
                removed += 1
            if removed:
                log.info("stage cache: removed %d least recently used result(s)", removed)
            return removed
