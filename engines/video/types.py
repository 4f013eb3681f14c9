"""Types shared by the video engine: output sizes, frame rates, chapters and results."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import InputError

# Named sizes a user can pick; any "WxH" within the limits is accepted too.
NAMED_SIZES = {
    "720p": (1280, 720),
    "1080p": (1920, 1080),
    "square": (1080, 1080),
    "vertical": (1080, 1920),
}
# Frame rates offered (per second).
ALLOWED_FPS = (24, 25, 30)
# Smallest and largest edge in pixels.
MIN_EDGE_PX, MAX_EDGE_PX = 144, 3840


@dataclass(frozen=True)
class VideoSize:
    width_px: int
    height_px: int

    def __str__(self) -> str:
        return f"{self.width_px}x{self.height_px}"


@dataclass(frozen=True)
class VideoPlan:
    """What a video request's checks worked out: the size (even edges) and the frame rate."""

    size: VideoSize
    fps: int


def parse_size(value: str | tuple[int, int] | VideoSize) -> tuple[VideoSize, list[str]]:
    """A size from "1280x720", "720p", "square", "vertical" or a (w, h) pair, plus notes for the user.

    H.264 in yuv420p needs even edges: odd edges are rounded down to even and the note says so."""
    notes: list[str] = []
    if isinstance(value, VideoSize):
        w, h = value.width_px, value.height_px
    elif isinstance(value, tuple):
        w, h = int(value[0]), int(value[1])
    else:
        text = str(value or "").strip().lower()
        if text in NAMED_SIZES:
            w, h = NAMED_SIZES[text]
        else:
            m = re.fullmatch(r"(\d{2,5})\s*[x×]\s*(\d{2,5})", text)
            if not m:
                raise InputError(f"size {value!r} is not understood: give WIDTHxHEIGHT such as 1280x720, "
                                 f"or one of {', '.join(NAMED_SIZES)}")
            w, h = int(m.group(1)), int(m.group(2))
    for edge, name in ((w, "width"), (h, "height")):
        if not (MIN_EDGE_PX <= edge <= MAX_EDGE_PX):
            raise InputError(f"video {name} {edge} px is outside {MIN_EDGE_PX}..{MAX_EDGE_PX} px")
    if w % 2 or h % 2:
        notes.append(f"size {w}x{h} rounded to {w - w % 2}x{h - h % 2}: H.264 needs even width and height")
        w, h = w - w % 2, h - h % 2
    return VideoSize(w, h), notes


def check_fps(fps: int | float) -> int:
    try:
        value = int(round(float(fps)))
    except (TypeError, ValueError):
        raise InputError(f"fps {fps!r} is not a number: use one of {ALLOWED_FPS}") from None
    if value not in ALLOWED_FPS:
        raise InputError(f"fps {fps} is not offered: use one of {', '.join(map(str, ALLOWED_FPS))}")
    return value


@dataclass(frozen=True)
class Chapter:
    # Start on the video's timeline, in seconds.
    start_s: float
    # Title shown by players that list chapters.
    title: str


@dataclass
class VideoResult:
    # The encoded MP4 (H.264 yuv420p + AAC, faststart).
    path: Path
    width_px: int
    height_px: int
    fps: int
    # Length of the video in seconds (frames / fps).
    duration_s: float
    frames: int
    # A JPEG still from the video for galleries, or None.
    poster_path: Path | None = None
    chapters: list[Chapter] = field(default_factory=list)
    # Things the user should know: rounded sizes, clamped values, fallbacks.
    notes: list[str] = field(default_factory=list)
    metrics: dict = field(default_factory=dict)
