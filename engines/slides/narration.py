"""Narration for a deck: each slide's notes spoken through a `speak(text) -> Audio` callable,
and the timeline a slideshow video needs (how long each slide stays on screen).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.audio import Audio
from core.errors import EngineError, InputError
from core.progress import CancelToken, ProgressFn, no_progress
from engines.slides.deck import Deck

log = logging.getLogger(__name__)

# Silence after each slide's narration before the next slide, in seconds.
PAUSE_S = 0.6
# How long a slide with nothing to say stays on screen, in seconds.
SILENT_SLIDE_S = 2.0

SpeakFn = Callable[[str], Audio]


@dataclass(frozen=True)
class SlideTiming:
    # 0-based slide index.
    index: int
    # The slide's title (for chapters).
    title: str
    # When the slide appears and how long it stays, in seconds from the start.
    start_s: float
    duration_s: float


@dataclass(frozen=True)
class Narration:
    # One spoken clip per slide, in slide order (None for a slide with empty notes).
    clips: tuple[Audio | None, ...]
    # Slide timings: narration length + PAUSE_S (SILENT_SLIDE_S for a silent slide).
    timeline: tuple[SlideTiming, ...]
    # The whole soundtrack: clips and pauses joined, as long as the timeline.
    soundtrack: Audio

    @property
    def durations_s(self) -> list[float]:
        return [t.duration_s for t in self.timeline]

    @property
    def total_s(self) -> float:
        return sum(self.durations_s)

    def write_clips(self, out_dir: str | Path, subtype: str | None = None) -> dict[int, Path]:
        """Each clip as a WAV file named by slide; returns {slide index: path} for write_pptx."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        paths = {}
        for i, clip in enumerate(self.clips):
            if clip is not None:
                paths[i] = clip.write(out_dir / f"narration_{i + 1:03d}.wav", subtype=subtype)
        return paths


def narrate(deck: Deck, speak: SpeakFn, pause_s: float = PAUSE_S, progress: ProgressFn | None = None,
            cancel: CancelToken | None = None) -> Narration:
    """Speak every slide's notes with `speak`; build the timeline and the joined soundtrack."""
    progress = progress or no_progress
    if not deck.slides:
        raise InputError("the deck has no slides to narrate")
    if not (0.0 <= pause_s <= 10.0):
        raise InputError(f"pause between slides must be 0..10 s; got {pause_s}")
    n = len(deck.slides)
    clips: list[Audio | None] = []
    for i, slide in enumerate(deck.slides):
        if cancel is not None:
            cancel.raise_if_set()
        progress(i, n, f"narrating slide {i + 1} of {n}")
        text = (slide.notes or "").strip()
        if not text:
            clips.append(None)
            continue
        audio = speak(text)
        if not isinstance(audio, Audio) or len(audio.samples) == 0:
            raise EngineError(f"the voice produced no audio for slide {i + 1}")
        clips.append(audio.mono())
    progress(n, n, "narration done")
    rate = next((c.sample_rate for c in clips if c is not None), 24_000)
    parts: list[np.ndarray] = []
    timeline: list[SlideTiming] = []
    t = 0.0
    for i, (slide, clip) in enumerate(zip(deck.slides, clips)):
        if clip is None:
            body = np.zeros(int(round(SILENT_SLIDE_S * rate)), np.float32)
        else:
            c = clip.resampled(rate).samples.astype(np.float32)
            body = np.concatenate([c, np.zeros(int(round(pause_s * rate)), np.float32)])
        parts.append(body)
        dur = len(body) / rate
        timeline.append(SlideTiming(i, slide.title, t, dur))
        t += dur
    soundtrack = Audio(np.concatenate(parts), rate)
    log.info("narrated %d slides: %.1f s", n, soundtrack.duration_s)
    return Narration(tuple(clips), tuple(timeline), soundtrack)
