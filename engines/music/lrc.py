"""Timed lyrics as LRC: `[mm:ss.xx]` per line, enhanced `<mm:ss.xx>` word times inside the line."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol


class TimedLine(Protocol):
    # Onset of the line in seconds; its text; (onset in seconds, word) per word.
    start_s: float
    text: str
    words: tuple[tuple[float, str], ...]


def stamp(seconds: float) -> str:
    """mm:ss.xx (hundredths), as LRC writes times."""
    centis = max(0, int(round(seconds * 100)))
    minutes, centis = divmod(centis, 6000)
    return f"{minutes:02d}:{centis // 100:02d}.{centis % 100:02d}"


def _clean(text: str) -> str:
    return " ".join(text.replace("[", "(").replace("]", ")").replace("<", "(").replace(">", ")").split())


def to_lrc(lines: Iterable[TimedLine], title: str = "", artist: str = "", length_s: float | None = None,
           album: str = "", words: bool = True) -> str:
    """LRC text: metadata tags, then one `[mm:ss.xx]` line per sung line with `<mm:ss.xx>` before each word
    (when `words` is true and the line has word times)."""
    out = []
    if title:
        out.append(f"[ti:{_clean(title)}]")
    if artist:
        out.append(f"[ar:{_clean(artist)}]")
    if album:
        out.append(f"[al:{_clean(album)}]")
    if length_s is not None:
        whole = int(round(length_s))
        out.append(f"[length:{whole // 60:02d}:{whole % 60:02d}]")
    for line in sorted(lines, key=lambda x: x.start_s):
        if words and line.words:
            body = " ".join(f"<{stamp(t)}>{_clean(w)}" for t, w in line.words)
        else:
            body = _clean(line.text)
        out.append(f"[{stamp(line.start_s)}]{body}")
    return "\n".join(out) + "\n"
