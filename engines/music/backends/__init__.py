"""What a music backend adds to the backend contract: instrumental music from a text prompt.

The embedded composer (composition to MIDI, rendered with FluidSynth) always plays; a music
backend makes the instrumental instead where it can run (MusicGen: `musicgen.py`), and says why
not otherwise.
"""

from __future__ import annotations

from abc import abstractmethod

from core.audio import Audio
from core.progress import CancelToken, ProgressFn, no_progress
from engines.backend import Backend


class MusicBackend(Backend):
    """Instrumental music from a description."""

    kind = "music"

    @abstractmethod
    def generate(self, prompt: str, duration_s: float, *, seed: int = 0, guidance_scale: float = 3.0,
                 progress: ProgressFn = no_progress, cancel: CancelToken | None = None, settings) -> Audio:
        """`duration_s` seconds of music for `prompt`, exactly that long; the same seed repeats it.
        Raises InputError for a bad request, BackendUnavailable when it cannot run."""


__all__ = ["MusicBackend"]
