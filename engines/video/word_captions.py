"""Captions from timed words: what a speech recogniser heard in the soundtrack, turned into caption lines
of a readable length for the karaoke renderer, SRT and WebVTT.

    lines = lines_from_words(transcript.words(), duration_s=audio.duration_s)

Any objects with `text`, `start_s` and `end_s` (seconds on the audio's timeline) will do, such as
`engines.asr.Word`. Lines always end at a sentence end and at a pause; a longer stretch is cut where
the lines come out most even, preferring clause punctuation and small pauses as cut points. Every word
keeps the start and end the recogniser gave it, so the highlight follows the voice; a line shows a
little before its first word and stays a moment after its last one, never overlapping the next.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from engines.video.captions import CaptionLine, CaptionWord, clip_lines


class TimedWord(Protocol):
    text: str
    # Seconds from the start of the audio.
    start_s: float
    end_s: float


@dataclass(frozen=True)
class LineBreaking:
    # Longest line, characters with spaces (one row of subtitles is about 42; longer words stand alone).
    max_chars: int = 42
    # Longest time one line stays on screen while its words are spoken, seconds.
    max_line_s: float = 6.0
    # A silence at least this long between two words always starts a new line, seconds.
    pause_s: float = 0.6
    # A line appears this long before its first word (not before the previous line's last word ends), seconds.
    lead_s: float = 0.2
    # A line stays this long after its last word (not into the next line), seconds.
    hold_s: float = 0.6
    # Shortest time a line is shown, when the next line leaves room, seconds.
    min_line_s: float = 1.0


# A word that ends a sentence: . ! ? or an ellipsis, perhaps followed by closing quotes or brackets.
_SENTENCE_END = re.compile(r"[.!?…。！？]+[\"'”’»)\]]*$")
# A word that ends a clause: a good place to cut a long sentence.
_CLAUSE_END = re.compile(r"[,;:—–-][\"'”’»)\]]*$")
# Punctuation-only tokens (kept on the previous word); other wordless tokens (♪, #) are dropped.
_PUNCTUATION = re.compile(r"^[.,!?;:…\"'”’»)\]—–-]+$")
# Words a line should not end on (they belong with the next word).
_LEADING_WORDS = frozenset(["a", "an", "the", "of", "to", "in", "on", "at", "by", "for", "from", "with", "and",
                           "or", "but", "nor", "as", "if", "my", "your", "his", "her", "its", "our", "their",
                           "this", "that", "these", "those"])


def _clean(words: Iterable[TimedWord], duration_s: float | None) -> list[CaptionWord]:
    """Words with text, in time order, starts never going back, each ending at or after its start;
    punctuation-only tokens joined to the word before; words past the audio's end dropped."""
    out: list[CaptionWord] = []
    last_start = 0.0
    for w in words:
        text = re.sub(r"\s+", " ", str(w.text or "")).strip()
        if not text:
            continue
        if not re.search(r"\w", text):
            if out and _PUNCTUATION.match(text):
                prev = out[-1]
                out[-1] = CaptionWord(prev.start_s, prev.end_s, prev.text + text)
            continue
        start = float(w.start_s)
        end = float(w.end_s)
        if not (math.isfinite(start) and math.isfinite(end)):
            continue
        start = max(start, last_start, 0.0)
        end = max(end, start)
        if duration_s is not None and duration_s > 0:
            if start >= duration_s:
                continue
            end = min(end, duration_s)
        out.append(CaptionWord(round(start, 3), round(end, 3), text))
        last_start = start
    return out


def _phrases(words: list[CaptionWord], cfg: LineBreaking) -> list[list[CaptionWord]]:
    """Runs of words between sentence ends and pauses (each run becomes one or more lines)."""
    runs: list[list[CaptionWord]] = []
    for w in words:
        if runs and runs[-1]:
            prev = runs[-1][-1]
            if _SENTENCE_END.search(prev.text) or w.start_s - prev.end_s >= cfg.pause_s:
                runs.append([])
        elif not runs:
            runs.append([])
        runs[-1].append(w)
    return [r for r in runs if r]


def _cut_cost(prev: CaptionWord, nxt: CaptionWord, cfg: LineBreaking) -> float:
    """How bad it is to end a line after `prev` (negative: a good place)."""
    cost = 0.0
    if _CLAUSE_END.search(prev.text):
        cost -= 0.6
    cost -= min(1.0, max(0.0, nxt.start_s - prev.end_s) / cfg.pause_s) * 0.6
    if re.sub(r"[^\w']", "", prev.text).lower() in _LEADING_WORDS:
        cost += 0.5
    return cost


# What one more line costs against the squared slack of each line (0..1) and the cut costs (about -1..0.5):
# a cut at a clause end or a pause is taken when it keeps the lines even, not merely because it is there.
_LINE_COST = 1.0


def _split(run: list[CaptionWord], cfg: LineBreaking) -> list[list[CaptionWord]]:
    """Cut a run into as few lines as fit max_chars and max_line_s, as even as possible (least squared
    slack), preferring cuts at clause punctuation and small pauses."""
    n = len(run)
    best = [0.0] + [math.inf] * n
    back = [0] * (n + 1)
    for j in range(1, n + 1):
        chars = -1
        for i in range(j - 1, -1, -1):  # the line run[i:j], growing to the left
            chars += len(run[i].text) + 1
            several = j - i > 1
            if several and (chars > cfg.max_chars or run[j - 1].end_s - run[i].start_s > cfg.max_line_s):
                break
            slack = max(0, cfg.max_chars - chars) / cfg.max_chars
            cost = best[i] + _LINE_COST + slack * slack + (_cut_cost(run[j - 1], run[j], cfg) if j < n else 0.0)
            if cost < best[j]:
                best[j], back[j] = cost, i
    lines: list[list[CaptionWord]] = []
    j = n
    while j > 0:
        lines.append(run[back[j]:j])
        j = back[j]
    return lines[::-1]


def lines_from_words(words: Iterable[TimedWord], duration_s: float | None = None,
                     breaking: LineBreaking | None = None) -> list[CaptionLine]:
    """Caption lines from recognised timed words (see the module docstring). `duration_s` is the
    audio's length in seconds: words and lines are kept within it. No words give no lines."""
    cfg = breaking or LineBreaking()
    if cfg.max_chars < 8 or cfg.max_line_s <= 0:
        raise ValueError("lines need at least 8 characters and a positive length in seconds")
    groups = [line for run in _phrases(_clean(words, duration_s), cfg) for line in _split(run, cfg)]
    lines: list[CaptionLine] = []
    for k, group in enumerate(groups):
        first, last = group[0], group[-1]
        start = max(0.0, first.start_s - cfg.lead_s, lines[-1].words[-1].end_s if lines else 0.0)
        start = min(start, first.start_s)
        end = max(last.end_s + cfg.hold_s, first.start_s + cfg.min_line_s)
        if k + 1 < len(groups):
            nxt = groups[k + 1][0].start_s
            end = min(end, max(last.end_s, nxt - cfg.lead_s))
        if lines and lines[-1].end_s > start:
            prev = lines[-1]
            lines[-1] = CaptionLine(prev.start_s, start, prev.text, prev.words)
        lines.append(CaptionLine(round(start, 3), round(end, 3), " ".join(w.text for w in group), list(group)))
    return clip_lines(lines, duration_s) if duration_s else lines
