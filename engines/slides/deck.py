"""The deck model: what a presentation says, independent of how it is drawn.

An outline, a long text or an existing .pptx becomes a `Deck`; the writer turns a `Deck`
into a .pptx, the renderer turns the .pptx into slide images.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

# Slide kinds the writer knows how to lay out.
SLIDE_KINDS = ("title", "bullets", "image", "table", "chart", "quote", "section")
# Chart kinds the chart renderer draws.
CHART_KINDS = ("bar", "line", "pie")
# Most slides one deck may have (outlines, pasted texts and uploaded decks alike).
MAX_SLIDES = 100


@dataclass(frozen=True)
class Bullet:
    # The bullet's text, one line, without the leading "- ".
    text: str
    # 0 for a top-level bullet, 1 for a sub-bullet.
    level: int = 0


@dataclass(frozen=True)
class ChartSpec:
    # "bar", "line" or "pie".
    kind: str
    # Category labels along the x axis (or pie wedges), in order.
    labels: tuple[str, ...]
    # Series name -> one value per label; a pie chart uses the first series.
    series: tuple[tuple[str, tuple[float, ...]], ...]


@dataclass(frozen=True)
class Slide:
    # One of SLIDE_KINDS.
    kind: str
    # The slide's heading ("" when the slide has none).
    title: str = ""
    # Bullet points, in order (title slides keep their subtitle here as one bullet).
    bullets: tuple[Bullet, ...] = ()
    # An image file to show, already resolved to a path on disk, or None.
    image_ref: Path | None = None
    # Table rows, the first row being the header; () when the slide has no table.
    table: tuple[tuple[str, ...], ...] = ()
    # The chart to draw, or None.
    chart: ChartSpec | None = None
    # The quotation (quote slides) and who said it ("" when unknown).
    quote: str = ""
    attribution: str = ""
    # Speaker notes: what the presenter (or the narration) says on this slide.
    notes: str = ""


@dataclass(frozen=True)
class Deck:
    # The presentation's title (also the first slide's heading).
    title: str
    # A line under the title ("" when none).
    subtitle: str = ""
    # The slides, in order, including the title slide.
    slides: tuple[Slide, ...] = field(default_factory=tuple)
    # A theme name from assets/slide_themes.json.
    theme: str = "dark"

    def __len__(self) -> int:
        return len(self.slides)
