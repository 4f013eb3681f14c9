"""What every engine's `check_request` returns: the request that passed its checks, what the
checks worked out for rendering (the plan), and what the user should know about it.

Workflows call `check_request` before they store anything, so bad input is refused with a clear
message and no half-written record; the renderers call it again and render from the plan."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

R = TypeVar("R")
P = TypeVar("P")


@dataclass(frozen=True)
class Checked(Generic[R, P]):
    # The request as given; every field passed its check.
    request: R
    # What the checks worked out: sizes rounded to even edges, the frame rate, timings, cleaned
    # audio. None when rendering needs nothing beyond the request.
    plan: P
    # Adjustments the user should know about ("size rounded to 320x180").
    notes: list[str] = field(default_factory=list)
