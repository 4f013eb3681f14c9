"""Markdown outline -> Deck.

    # Deck title                      the title slide
    A subtitle paragraph.
    ## A slide                        one slide per "## " heading
    - a bullet                        "- " or "* " bullets; indent 2+ spaces for a sub-bullet
      - a sub-bullet
    ![a photo](portrait.png)          an image: what the caller's resolver accepts (the app: a photo in the
                                      project, by name); by default a file path
    | a | b |                         a pipe table
    ```chart                          a chart: optional "type: bar|line|pie", then a header row
    type: bar                         and one row per label, comma separated
    Quarter, Sales
    Q1, 10
    ```
    > A quotation.                    a quote slide
    > — Author
    ## ---  or  ## Section: Name      a section break
    Notes: what to say                speaker notes (also "???") until the next slide

Slides without notes get notes written from their content (engines.slides.notes).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from core.errors import InputError
from engines.slides.deck import CHART_KINDS, MAX_SLIDES, Bullet, ChartSpec, Deck, Slide
from engines.slides.notes import auto_notes, clean_inline

log = logging.getLogger(__name__)

# Longest outline accepted, in characters.
MAX_OUTLINE_CHARS = 100_000
# Largest table accepted on one slide (rows including the header, columns).
MAX_TABLE_ROWS, MAX_TABLE_COLS = 16, 8
# Most labels and series in one chart.
MAX_CHART_LABELS, MAX_CHART_SERIES = 24, 6

ImageResolver = Callable[[str], "Path | None"]
# What the default resolver accepts, for the message when an image is not found.
FILE_PATH_HINT = "give the path of an image file"

EXAMPLE = ("# My talk\nA subtitle\n\n## First point\n- a bullet\n  - a sub-bullet\nNotes: what to say\n\n"
           "## Second point\n- another bullet")
_HOW = f"An outline looks like this:\n{EXAMPLE}"

_BULLET = re.compile(r"^(\s*)[-*+]\s+(.*)$")
_IMAGE = re.compile(r"^!\[([^\]]*)\]\(\s*<?([^)>]+?)>?\s*\)\s*$")
_TABLE_SEP = re.compile(r"^\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?$")
_ATTRIBUTION = re.compile(r"^(?:—|–|--|-|~)\s*(.+)$")
_NOTES = re.compile(r"^(?:notes?\s*:|\?\?\?)\s*(.*)$", re.IGNORECASE)


def default_resolver(ref: str) -> Path | None:
    """A file path that exists, else None."""
    p = Path(ref).expanduser()
    return p if p.is_file() else None


@dataclass
class _Block:
    """A slide's lines as written, before they are understood."""

    heading: str
    level: int
    line_no: int
    lines: list[tuple[int, str]] = field(default_factory=list)


def _blocks(text: str) -> tuple[list[_Block], list[tuple[int, str]]]:
    """Split into heading blocks; lines before the first heading are returned apart."""
    blocks: list[_Block] = []
    preamble: list[tuple[int, str]] = []
    in_fence = False
    for no, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip()
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
        m = None if in_fence else re.match(r"^(#{1,2})\s+(.*)$", line)
        if m:
            blocks.append(_Block(m.group(2).strip().rstrip("#").strip(), len(m.group(1)), no))
        elif blocks:
            blocks[-1].lines.append((no, line))
        else:
            preamble.append((no, line))
    return blocks, preamble


def _where(number: int, title: str) -> str:
    return f"slide {number}" + (f" ({title!r})" if title else "")


def _split_row(line: str) -> list[str]:
    cells = line.strip()
    if cells.startswith("|"):
        cells = cells[1:]
    if cells.endswith("|"):
        cells = cells[:-1]
    return [clean_inline(c) for c in cells.split("|")]


def _number(cell: str, where: str) -> float:
    raw = cell.strip().replace(",", "").replace("%", "").replace("$", "").replace("€", "")
    try:
        return float(raw)
    except ValueError:
        raise InputError(f"chart on {where}: {cell!r} is not a number; after the header row each row is "
                         f"a label then numbers, e.g. 'Q1, 10, 12'") from None


def parse_chart(lines: list[str], where: str) -> ChartSpec:
    """The body of a ```chart block: optional "type: bar|line|pie", then a header row and data rows."""
    kind = "bar"
    rows: list[list[str]] = []
    for line in lines:
        if not line.strip():
            continue
        m = re.match(r"^\s*(?:type|kind)\s*:\s*(\w+)\s*$", line, re.IGNORECASE)
        if m:
            kind = m.group(1).lower()
            if kind not in CHART_KINDS:
                raise InputError(f"chart on {where}: type {kind!r} is not supported; use one of "
                                 f"{', '.join(CHART_KINDS)}")
            continue
        sep = "|" if "|" in line else ("\t" if "\t" in line else ("," if "," in line else ";"))
        cells = _split_row(line) if sep == "|" else [c.strip() for c in line.split(sep)]
        rows.append(cells)
    if len(rows) < 2 or len(rows[0]) < 2:
        raise InputError(f"chart on {where} needs a header row (label column, then series names) and at least "
                         f"one data row, e.g.\n```chart\ntype: bar\nQuarter, Sales\nQ1, 10\nQ2, 14\n```")
    header, data = rows[0], rows[1:]
    names = [h or f"Series {i}" for i, h in enumerate(header[1:], start=1)]
    if len(data) > MAX_CHART_LABELS or len(names) > MAX_CHART_SERIES:
        raise InputError(f"chart on {where} is too big: at most {MAX_CHART_LABELS} labels and "
                         f"{MAX_CHART_SERIES} series")
    labels = []
    columns: list[list[float]] = [[] for _ in names]
    for row in data:
        if len(row) != len(header):
            raise InputError(f"chart on {where}: row {row!r} has {len(row)} cells, the header has {len(header)}")
        labels.append(row[0])
        for j, cell in enumerate(row[1:]):
            columns[j].append(_number(cell, where))
    if kind == "pie" and (any(v < 0 for v in columns[0]) or sum(columns[0]) <= 0):
        raise InputError(f"pie chart on {where} needs positive values")
    return ChartSpec(kind, tuple(labels), tuple((n, tuple(c)) for n, c in zip(names, columns)))


def _parse_block(block: _Block, number: int, resolve_image: ImageResolver, image_hint: str) -> Slide:
    heading = clean_inline(block.heading)
    kind = "bullets"
    title = heading
    if block.level == 1:
        kind = "title"
    elif re.fullmatch(r"-{3,}\s*(.*)", heading):
        kind, title = "section", re.fullmatch(r"-{3,}\s*(.*)", heading).group(1).strip()
    elif re.match(r"^section\s*:", heading, re.IGNORECASE):
        kind, title = "section", heading.split(":", 1)[1].strip()
    where = _where(number, title)

    bullets: list[Bullet] = []
    paragraphs: list[str] = []
    table: list[list[str]] = []
    quote: list[str] = []
    attribution = ""
    image: Path | None = None
    chart: ChartSpec | None = None
    notes: list[str] = []
    in_notes = False
    fence: list[str] | None = None
    fence_is_chart = False

    for _no, line in block.lines:
        stripped = line.strip()
        if fence is not None:
            if stripped.startswith("```"):
                if fence_is_chart:
                    if chart is not None:
                        raise InputError(f"{where} has two charts; put one chart on each slide")
                    chart = parse_chart(fence, where)
                else:
                    for x in fence:
                        if x.strip():
                            paragraphs.append(x.strip())
                            bullets.append(Bullet(x.strip()))
                fence = None
            else:
                fence.append(line)
            continue
        if in_notes:
            notes.append(line)
            continue
        m = _NOTES.match(stripped)
        if m:
            in_notes = True
            notes.append(m.group(1))
            continue
        if stripped.startswith("```"):
            fence, fence_is_chart = [], stripped[3:].strip().lower() == "chart"
            continue
        if not stripped:
            continue
        m = _IMAGE.match(stripped)
        if m:
            ref = m.group(2).strip()
            path = resolve_image(ref)
            if path is None:
                raise InputError(f"image {ref!r} on {where} was not found: {image_hint}")
            if image is not None:
                raise InputError(f"{where} has two images; put one image on each slide")
            image = Path(path)
            continue
        if stripped.startswith("|"):
            if not _TABLE_SEP.match(stripped):
                table.append(_split_row(stripped))
            continue
        if stripped.startswith(">"):
            body = stripped.lstrip(">").strip()
            am = _ATTRIBUTION.match(body)
            if am and quote:
                attribution = clean_inline(am.group(1))
            elif body:
                quote.append(clean_inline(body))
            continue
        m = _BULLET.match(line)
        if m and not re.fullmatch(r"[-*_]{3,}", stripped):
            indent = len(m.group(1).replace("\t", "    "))
            bullets.append(Bullet(clean_inline(m.group(2)), 1 if indent >= 2 and bullets else 0))
            continue
        paragraphs.append(clean_inline(stripped))
        bullets.append(Bullet(paragraphs[-1]))
    if fence is not None:
        raise InputError(f"{where}: a ``` block is not closed; end it with a line of ```")

    if kind == "title" and paragraphs:
        # The paragraph under the deck title is the subtitle, kept as the slide's first bullet.
        rest = [b for b in bullets if b.text not in paragraphs]
        bullets = [Bullet(" ".join(paragraphs))] + rest
    elif kind == "section" and not title and paragraphs:
        title = paragraphs[0]
        bullets = [b for b in bullets if b.text != title]
    if kind == "section" and not title:
        raise InputError(f"section break at line {block.line_no} needs a name: '## Section: Name' or a line "
                         f"of text after '## ---'")

    rows: tuple[tuple[str, ...], ...] = ()
    if table:
        width = max(len(r) for r in table)
        if len(table) > MAX_TABLE_ROWS or width > MAX_TABLE_COLS:
            raise InputError(f"table on {where} has {len(table)} rows and {width} columns; at most "
                             f"{MAX_TABLE_ROWS} rows (with the header) and {MAX_TABLE_COLS} columns fit on a slide")
        rows = tuple(tuple(r + [""] * (width - len(r))) for r in table)

    if kind not in ("title", "section"):
        if chart is not None:
            kind = "chart"
        elif rows:
            kind = "table"
        elif image is not None:
            kind = "image"
        elif quote:
            kind = "quote"
    slide = Slide(kind=kind, title=title, bullets=tuple(bullets), image_ref=image, table=rows, chart=chart,
                  quote=" ".join(quote), attribution=attribution,
                  notes="\n".join(notes).strip())
    return slide


def parse_outline(text: str, resolve_image: ImageResolver | None = None, theme: str = "dark",
                  image_hint: str = FILE_PATH_HINT) -> Deck:
    """A Markdown outline (see the module docstring) -> Deck, every slide with notes.

    `resolve_image(ref)` maps an image reference to a file (None when unknown); by default a
    reference is a file path. `image_hint` says what references it accepts (the message when one is
    not found). An unknown `theme` is refused here, before anything is made."""
    from engines.slides.themes import get_theme

    get_theme(theme)
    if text is None or not str(text).strip():
        raise InputError(f"the outline is empty. {_HOW}")
    text = str(text)
    if len(text) > MAX_OUTLINE_CHARS:
        raise InputError(f"the outline has {len(text):,} characters; at most {MAX_OUTLINE_CHARS:,} are accepted")
    blocks, preamble = _blocks(text)
    if not blocks:
        raise InputError(f"the outline has no slides: start the deck with '# Title' and each slide with "
                         f"'## Slide title'. {_HOW}")
    if len(blocks) > MAX_SLIDES:
        raise InputError(f"the outline has {len(blocks)} slides; at most {MAX_SLIDES} slides are allowed in a deck. "
                         f"Split it into several decks.")
    resolver = resolve_image or default_resolver
    slides = [_parse_block(b, i, resolver, image_hint) for i, b in enumerate(blocks, start=1)]
    if any(line.strip() for _, line in preamble):
        log.info("outline text before the first heading ignored (%d lines)", len(preamble))
    first = slides[0]
    deck_title = first.title
    subtitle = first.bullets[0].text if first.kind == "title" and first.bullets else ""
    slides = [s if s.notes else replace(s, notes=auto_notes(s, deck_title)) for s in slides]
    return Deck(title=deck_title, subtitle=subtitle, slides=tuple(slides), theme=theme)
