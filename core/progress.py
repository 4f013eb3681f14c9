"""Progress reporting and cancellation shared by engines, workflows, the job runner and the tabs.

An engine takes `progress: ProgressFn | None` and calls it as
`progress(done, total, message)`; it checks `cancel.raise_if_set()` between steps.
"""

from __future__ import annotations

import threading
from typing import Protocol

from core.errors import Cancelled


class ProgressFn(Protocol):
    def __call__(self, done: float, total: float, message: str = "") -> None: ...


def no_progress(done: float, total: float, message: str = "") -> None:
    """The default callback: report nothing."""


class CancelToken:
    """A flag the UI sets and the engine checks between steps."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._reason: type[Cancelled] = Cancelled

    def cancel(self, reason: type[Cancelled] = Cancelled) -> None:
        """Set the flag; `reason` is what `raise_if_set` raises (Interrupted when the server stops)."""
        self._reason = reason
        self._event.set()

    @property
    def is_set(self) -> bool:
        return self._event.is_set()

    @property
    def reason(self) -> type[Cancelled]:
        return self._reason

    def raise_if_set(self) -> None:
        if self._event.is_set():
            raise self._reason()


class Stages:
    """Maps progress within named stages onto one 0..1 scale.

    `Stages(progress, {"lyrics": 1, "compose": 3})` then `stages.report("compose", 0.5)`.
    """

    def __init__(self, progress: ProgressFn, weights: dict[str, float]) -> None:
        self._progress = progress
        total = float(sum(weights.values())) or 1.0
        self._start: dict[str, float] = {}
        self._span: dict[str, float] = {}
        acc = 0.0
        for name, w in weights.items():
            self._start[name] = acc / total
            self._span[name] = w / total
            acc += w

    def report(self, stage: str, fraction: float, message: str = "") -> None:
        fraction = min(max(fraction, 0.0), 1.0)
        self._progress(self._start[stage] + self._span[stage] * fraction, 1.0, message or stage)
