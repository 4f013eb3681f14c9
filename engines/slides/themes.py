"""Slide themes, read from assets/slide_themes.json: colours, fonts, sizes and margins."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

from core.errors import InputError

THEMES_FILE = Path(__file__).resolve().parents[2] / "assets" / "slide_themes.json"


@dataclass(frozen=True)
class Theme:
    # Key in the themes file, e.g. "dark".
    name: str
    # What the user sees in a picker.
    label: str
    # Colours as "#rrggbb": slide background, boxes on it, titles, accent lines, body text, secondary text.
    background: str
    panel: str
    title: str
    accent: str
    text: str
    muted: str
    # Table header fill and text colours, then alternating row fills.
    table_header_fill: str
    table_header_text: str
    table_row_fill: tuple[str, ...]
    # Series colours for charts, in order.
    chart_colors: tuple[str, ...]
    # Font families for body text and titles (installed with LibreOffice's DejaVu fonts).
    font: str
    title_font: str
    # Font sizes in points.
    title_size_pt: int
    body_size_pt: int
    # Bullets shrink to fit down to this size, never below.
    min_body_size_pt: int
    deck_title_size_pt: int
    subtitle_size_pt: int
    quote_size_pt: int
    section_size_pt: int
    # Margin around the content, height of the title band and thickness of the accent line, in inches.
    margin_in: float
    title_height_in: float
    accent_bar_in: float


@functools.lru_cache(maxsize=1)
def _raw() -> dict:
    return json.loads(THEMES_FILE.read_text(encoding="utf-8"))


def names() -> list[str]:
    return list(_raw())


def get_theme(name: str) -> Theme:
    """The named theme; InputError naming the choices when unknown."""
    data = _raw().get((name or "").strip().lower())
    if data is None:
        raise InputError(f"slide theme {name!r} is unknown; choose one of {', '.join(names())}")
    data = dict(data)
    data["table_row_fill"] = tuple(data["table_row_fill"])
    data["chart_colors"] = tuple(data["chart_colors"])
    return Theme(name=name.strip().lower(), **data)


def rgb(color: str) -> tuple[int, int, int]:
    """"#rrggbb" -> (r, g, b)."""
    c = color.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)
