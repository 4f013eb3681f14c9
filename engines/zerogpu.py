"""ZeroGPU on Hugging Face Spaces: the neural backends' inference runs inside `spaces.GPU`.

On a ZeroGPU Space a GPU is attached only while a function decorated with `spaces.GPU(duration=...)`
runs; the duration (seconds) is what the Space books for the call. When the `spaces` package is
importable (and only then), `install()`, called once at start-up before torch is imported (ZeroGPU
patches torch), decorates this module's one entry point, and the GPU backends (Bark, MusicGen) call
`run(...)` around their inference with an estimate from the request: `speech_seconds(text)` and
`music_seconds(duration_s)`. Without the package `run` calls the function as it is: nothing changes.
Outside a ZeroGPU Space the real package hands the function back undecorated, so it runs as it is too.

On ZeroGPU the decorated call runs in a process forked from the app, and what it is given crosses into
it pickled (the real package sends it through a pipe): the backend, plain values and the settings, never
a loaded model (the forked process finds it in the model registry it inherited; ZeroGPU moves its
weights to the GPU), a lock or a callback. Progress and cancellation cross through two small files in a
private folder of the caller's scratch folder (`_Relay`): the GPU process writes its progress there and
looks for a cancel mark there at each step, and a thread here passes the progress on to the job and
marks the cancel. Without a scratch folder the job only says it is on the GPU, and a cancel takes effect
when the call returns.

This module imports no Gradio itself; the `spaces` package does, on a Space only.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.progress import Cancelled, CancelToken, ProgressFn, no_progress
from core.scratch import private_dir

log = logging.getLogger(__name__)

# Bounds of the duration booked for one call, in seconds.
MIN_SECONDS, MAX_SECONDS = 10, 900
# Speech: seconds booked per character of text (Bark makes about 15 characters of speech a second, at
# roughly real time on a ZeroGPU slice for the full model), on top of a fixed allowance.
SPEECH_BASE_S, SPEECH_S_PER_CHAR = 10.0, 0.1
# Music: seconds booked per second of music (MusicGen small to large, guidance doubling the batch).
MUSIC_BASE_S, MUSIC_S_PER_S = 10.0, 1.5
# How often progress and cancel are passed across, in seconds.
RELAY_EVERY_S = 0.2

_lock = threading.Lock()
_gpu: Callable | None = None  # the entry point as `spaces.GPU` returned it, once installed


def spaces_installed() -> bool:
    """Whether the `spaces` package can be imported (a Hugging Face Space has it)."""
    try:
        return importlib.util.find_spec("spaces") is not None
    except ValueError:  # a module on sys.modules without a spec
        return False


def speech_seconds(text: str) -> int:
    """GPU seconds to book for speaking `text` (one chunk of at most Bark's 256 tokens)."""
    return _bounded(SPEECH_BASE_S + SPEECH_S_PER_CHAR * len(text or ""))


def music_seconds(duration_s: float) -> int:
    """GPU seconds to book for `duration_s` seconds of music."""
    return _bounded(MUSIC_BASE_S + MUSIC_S_PER_S * max(0.0, float(duration_s)))


def _bounded(seconds: float) -> int:
    return int(min(MAX_SECONDS, max(MIN_SECONDS, math.ceil(seconds))))


def _inside(seconds: int, fn: Callable, args: tuple, kwargs: dict) -> Any:
    """The one function given to `spaces.GPU`: what runs with the GPU attached."""
    return fn(*args, **kwargs)


def _duration(seconds: int, fn: Callable, args: tuple, kwargs: dict) -> int:
    """`spaces.GPU`'s duration, from the same arguments: the estimate `run` was given."""
    return seconds


def install() -> bool:
    """Decorate the GPU entry point with `spaces.GPU` when the package is importable; once, at start-up
    (ZeroGPU wants its GPU functions known before the app launches). True when GPU calls go through it."""
    global _gpu
    with _lock:
        if _gpu is None and spaces_installed():
            import spaces

            _gpu = spaces.GPU(_inside, duration=_duration)
            if active():
                log.info("ZeroGPU: neural inference runs inside spaces.GPU, with a duration per job")
        return active()


def active() -> bool:
    """Whether GPU calls go through `spaces.GPU` (installed, and not handed back undecorated)."""
    return _gpu is not None and _gpu is not _inside


class _Relay:
    """Progress and cancel between this process and the GPU process: files in a private folder, so what
    crosses the fork pickled is only the folder's path. Called like a progress callback, and checked like
    a cancel token, in the GPU process."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    # ---- in the GPU process

    def __call__(self, done: float, total: float, message: str = "") -> None:
        tmp = self.folder / f".progress-{os.getpid()}"
        tmp.write_text(json.dumps([done, total, message]), encoding="utf-8")
        os.replace(tmp, self.folder / "progress")

    def raise_if_set(self) -> None:
        if (self.folder / "cancel").exists():
            raise Cancelled()

    # ---- here

    def mark_cancelled(self) -> None:
        (self.folder / "cancel").touch()

    def read(self) -> tuple | None:
        try:
            return tuple(json.loads((self.folder / "progress").read_text(encoding="utf-8")))
        except (FileNotFoundError, ValueError):
            return None


def _pass_on(relay: _Relay, progress: ProgressFn | None, cancel: CancelToken | None, stop: threading.Event) -> None:
    """Until `stop`: the GPU process's progress to `progress`, and `cancel` to the GPU process."""
    last = None
    while True:
        stopping = stop.wait(RELAY_EVERY_S)
        if cancel is not None and cancel.is_set:
            relay.mark_cancelled()
        got = relay.read()
        if progress is not None and got is not None and got != last:
            last = got
            try:
                progress(*got)
            except Exception:  # the job's own callback failing must not leave the GPU call unwatched
                log.exception("passing ZeroGPU progress on failed")
        if stopping:
            return


def run(fn: Callable, *args, seconds: int, progress: ProgressFn | None = None, cancel: CancelToken | None = None,
        scratch: Path | None = None, **kwargs) -> Any:
    """`fn(*args, **kwargs)` with the GPU attached for `seconds` on ZeroGPU, else as it is.

    `progress` and `cancel`, when given, are passed on as keyword arguments. On ZeroGPU they are relayed
    through a private folder in `scratch` (see the module docstring); without one, cancel is checked before
    and after the call and progress says only that the job is on the GPU."""
    if progress is not None:
        kwargs["progress"] = progress
    if cancel is not None:
        kwargs["cancel"] = cancel
    if not install():
        return fn(*args, **kwargs)
    if cancel is not None:
        cancel.raise_if_set()
        kwargs["cancel"] = None
    if progress is not None:
        progress(0, 1, f"on the GPU (ZeroGPU, up to {seconds} s)")
        kwargs["progress"] = no_progress
    relay = watcher = None
    stop = threading.Event()
    if scratch is not None and (progress is not None or cancel is not None):
        relay = _Relay(private_dir(scratch, "zerogpu-"))
        if progress is not None:
            kwargs["progress"] = relay
        if cancel is not None:
            kwargs["cancel"] = relay
        watcher = threading.Thread(target=_pass_on, args=(relay, progress, cancel, stop), name="zerogpu-relay",
                                   daemon=True)
        watcher.start()
    try:
        out = _gpu(int(seconds), fn, args, kwargs)
    except Exception:
        if cancel is not None:
            cancel.raise_if_set()  # what the GPU process raised on a cancel comes back as ZeroGPU's own error
        raise
    finally:
        if watcher is not None:
            stop.set()
            watcher.join()
            shutil.rmtree(relay.folder, ignore_errors=True)
    if cancel is not None:
        cancel.raise_if_set()
    return out


def _reset() -> None:
    """Forget the installed entry point (tests)."""
    global _gpu
    with _lock:
        _gpu = None
