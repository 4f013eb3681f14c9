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
weights to the GPU), a lock or a callback. So progress and cancellation do not follow into the GPU call:
the job says it is waiting for the GPU, and a cancel takes effect when the call returns.

This module imports no Gradio itself; the `spaces` package does, on a Space only.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import threading
from collections.abc import Callable
from typing import Any

from core.progress import CancelToken, ProgressFn, no_progress

log = logging.getLogger(__name__)

# Bounds of the duration booked for one call, in seconds.
MIN_SECONDS, MAX_SECONDS = 10, 900
# Speech: seconds booked per character of text (Bark makes about 15 characters of speech a second, at
# roughly real time on a ZeroGPU slice for the full model), on top of a fixed allowance.
SPEECH_BASE_S, SPEECH_S_PER_CHAR = 10.0, 0.1
# Music: seconds booked per second of music (MusicGen small to large, guidance doubling the batch).
MUSIC_BASE_S, MUSIC_S_PER_S = 10.0, 1.5

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


def run(fn: Callable, *args, seconds: int, progress: ProgressFn | None = None, cancel: CancelToken | None = None,
        **kwargs) -> Any:
    """`fn(*args, **kwargs)` with the GPU attached for `seconds` on ZeroGPU, else as it is.

    `progress` and `cancel`, when given, are passed on as keyword arguments; on ZeroGPU they stay in
    this process (see the module docstring): cancel is checked before and after the call."""
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
    out = _gpu(int(seconds), fn, args, kwargs)
    if cancel is not None:
        cancel.raise_if_set()
    return out


def _reset() -> None:
    """Forget the installed entry point (tests)."""
    global _gpu
    with _lock:
        _gpu = None
