"""Error types every layer raises. Messages are written for the user: what was wrong and what is allowed.

Engines, intake and storage raise them; the UI turns them into `gr.Error`; anything else is an internal error.
"""

from __future__ import annotations


class EngineError(Exception):
    """Base class: the message is safe and useful to show to a user."""


class InputError(EngineError):
    """The input is unusable (wrong type, corrupt, over a limit)."""


class BackendUnavailable(EngineError):
    """A backend cannot run here: weights missing, no API key, no network, no GPU."""


class Cancelled(EngineError):
    """The user cancelled the job."""

    def __init__(self, message: str = "cancelled by the user") -> None:
        super().__init__(message)


# What a job stopped by the server going down (or found unfinished when it starts again) is told.
INTERRUPTED = "the server restarted; the job was interrupted"


class Interrupted(Cancelled):
    """The server is shutting down (or restarted): the job stopped without anyone asking for it."""

    def __init__(self, message: str = INTERRUPTED) -> None:
        super().__init__(message)
