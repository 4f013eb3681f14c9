"""Deck -> .pptx (python-pptx): 16:9, a theme applied to every layout, notes on every slide,
optional narration audio embedded on its slide.

Layouts: title; bullets; image full or image left + bullets right; table; chart (a matplotlib
image in the theme's colours); quote; section. Bullet text is shrunk to fit its box, estimated
from character counts, so nothing runs off the slide.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

from core.audio import encode_mp3
from core.errors import EngineError, InputError
from core.progress import CancelToken, ProgressFn, no_progress
from core.scratch import temp_dir
from engines.slides.deck import MAX_SLIDES, Bullet, Deck, Slide
from engines.slides.themes import Theme, get_theme, rgb

log = logging.getLogger(__name__)

# Slide size: PowerPoint's widescreen 16:9 (13.333 x 7.5 in), exactly, in EMU and in inches.
SLIDE_W_EMU, SLIDE_H_EMU = 12_192_000, 6_858_000
SLIDE_W_IN, SLIDE_H_IN = SLIDE_W_EMU / 914_400, SLIDE_H_EMU / 914_400
# Average glyph width of DejaVu Sans as a fraction of the font size (it is a wide face).
_CHAR_EM = 0.55
# Line height and space between bullets, as multiples of the font size.
_LINE_EM, _GAP_EM = 1.2, 0.45
# Indent of a sub-bullet, in inches.
_SUB_INDENT_IN = 0.45
# The speaker icon that marks a slide's narration: size in inches, placed in the bottom-right corner.
AUDIO_ICON_IN = 0.45
_AUDIO_EXTS = {".mp3", ".wav", ".flac", ".ogg", ".m4a", ".aac", ".opus"}
# Bit rate of narration embedded in a deck, in kbit/s: speech, kept small.
NARRATION_KBPS = 96


@dataclass(frozen=True)
class Box:
    """A rectangle on the slide, in inches."""

    left_in: float
    top_in: float
    width_in: float
    height_in: float


# ------------------------------------------------------------------ text fitting


def _lines_for(text: str, width_in: float, size_pt: float) -> int:
    chars_per_line = max(1, int(width_in * 72 / (size_pt * _CHAR_EM)))
    words = text.split()
    lines, used = 1, 0
    for w in words:
        n = len(w)
        while n > chars_per_line:  # a word longer than the line breaks anywhere
            if used:
                lines += 1
            lines, n, used = lines + 1, n - chars_per_line, 0
        if used and used + 1 + n > chars_per_line:
            lines, used = lines + 1, n
        else:
            used = used + (1 if used else 0) + n
    return lines


def text_height_in(items: list[tuple[str, int]], width_in: float, size_pt: float) -> float:
    """Estimated height of bullets [(text, level)] set at `size_pt` in a box `width_in` wide."""
    total_pt = 0.0
    for i, (text, level) in enumerate(items):
        sub = size_pt * 0.85 if level else size_pt
        indent = _SUB_INDENT_IN * (level + 1)
        total_pt += _lines_for(text, width_in - indent, sub) * sub * _LINE_EM
        if i:
            total_pt += size_pt * _GAP_EM
    return total_pt / 72 + 0.2  # text frame insets


def fit_size_pt(items: list[tuple[str, int]], box: Box, max_pt: int, min_pt: int) -> int | None:
    """The largest size in min_pt..max_pt at which the items fit the box, or None if none does."""
    for size in range(max_pt, min_pt - 1, -1):
        if text_height_in(items, box.width_in, size) <= box.height_in:
            return size
    return None


# ------------------------------------------------------------------ drawing helpers


class _Writer:
    def __init__(self, theme: Theme, work_dir: Path) -> None:
        from pptx import Presentation
        from pptx.util import Emu

        self.theme = theme
        self.work_dir = work_dir
        self.prs = Presentation()
        self.prs.slide_width = Emu(SLIDE_W_EMU)
        self.prs.slide_height = Emu(SLIDE_H_EMU)
        m = theme.margin_in
        self.m = m
        self.title_box = Box(m, 0.35, SLIDE_W_IN - 2 * m, theme.title_height_in)
        top = 0.35 + theme.title_height_in + 0.3
        self.content = Box(m, top, SLIDE_W_IN - 2 * m, SLIDE_H_IN - top - m)

    # --- primitives

    @staticmethod
    def _emu(box: Box):
        from pptx.util import Inches

        return Inches(box.left_in), Inches(box.top_in), Inches(box.width_in), Inches(box.height_in)

    def _color(self, c: str):
        from pptx.dml.color import RGBColor

        return RGBColor(*rgb(c))

    def _style_run(self, run, size_pt: float, color: str, bold: bool = False, italic: bool = False,
                   font: str | None = None) -> None:
        from pptx.util import Pt

        f = run.font
        f.size = Pt(size_pt)
        f.name = font or self.theme.font
        f.bold = bold
        f.italic = italic
        f.color.rgb = self._color(color)

    def _new_slide(self, layout: int):
        slide = self.prs.slides.add_slide(self.prs.slide_layouts[layout])
        fill = slide.background.fill
        fill.solid()
        fill.fore_color.rgb = self._color(self.theme.background)
        return slide

    def _set_text(self, shape, text: str, box: Box, size_pt: float, color: str, bold: bool = False,
                  align: str = "left", anchor: str = "middle", font: str | None = None, italic: bool = False) -> None:
        from pptx.enum.text import MSO_ANCHOR, MSO_AUTO_SIZE, PP_ALIGN

        shape.left, shape.top, shape.width, shape.height = self._emu(box)
        tf = shape.text_frame
        tf.word_wrap = True
        tf.auto_size = MSO_AUTO_SIZE.NONE
        tf.vertical_anchor = {"top": MSO_ANCHOR.TOP, "middle": MSO_ANCHOR.MIDDLE, "bottom": MSO_ANCHOR.BOTTOM}[anchor]
        tf.text = ""
        p = tf.paragraphs[0]
        p.alignment = {"left": PP_ALIGN.LEFT, "center": PP_ALIGN.CENTER, "right": PP_ALIGN.RIGHT}[align]
        run = p.add_run()
        run.text = text
        self._style_run(run, size_pt, color, bold=bold, italic=italic, font=font)

    def _fit_title_pt(self, text: str, box: Box, max_pt: int) -> int:
        lines_allowed = max(1, int(box.height_in * 72 // (max_pt * _LINE_EM)))
        for size in range(max_pt, 15, -1):
            allowed = max(1, int(box.height_in * 72 // (size * _LINE_EM)))
            if _lines_for(text, box.width_in - 0.2, size) <= max(allowed, lines_allowed):
                return size
        return 16

    def _title(self, slide, text: str, box: Box | None = None, size_pt: int | None = None,
               align: str = "left", anchor: str = "bottom") -> None:
        box = box or self.title_box
        size = self._fit_title_pt(text, box, size_pt or self.theme.title_size_pt)
        shape = slide.shapes.title
        self._set_text(shape, text, box, size, self.theme.title, bold=True, align=align, anchor=anchor,
                       font=self.theme.title_font)

    def _accent_bar(self, slide, box: Box) -> None:
        from pptx.enum.shapes import MSO_SHAPE

        bar = slide.shapes.add_shape(MSO_SHAPE.RECTANGLE, *self._emu(box))
        bar.fill.solid()
        bar.fill.fore_color.rgb = self._color(self.theme.accent)
        bar.line.fill.background()
        bar.shadow.inherit = False

    def _under_title_bar(self, slide) -> None:
        b = self.title_box
        self._accent_bar(slide, Box(b.left_in, b.top_in + b.height_in + 0.08, 1.6, self.theme.accent_bar_in))

    def _bullets(self, slide, bullets: tuple[Bullet, ...], box: Box, where: str) -> None:
        from lxml import etree
        from pptx.enum.text import MSO_ANCHOR, MSO_AUTO_SIZE
        from pptx.oxml.ns import qn
        from pptx.util import Inches, Pt

        items = [(b.text, b.level) for b in bullets]
        size = fit_size_pt(items, box, self.theme.body_size_pt, self.theme.min_body_size_pt)
        if size is None:
            chars = sum(len(t) for t, _ in items)
            raise InputError(f"{where} has too much text to fit on one slide ({chars:,} characters in "
                             f"{len(items)} bullets, even at {self.theme.min_body_size_pt} pt): split it into "
                             f"two slides or move detail into the notes")
        tb = slide.shapes.add_textbox(*self._emu(box))
        tb.name = "Body"
        tf = tb.text_frame
        tf.word_wrap = True
        tf.auto_size = MSO_AUTO_SIZE.NONE
        tf.vertical_anchor = MSO_ANCHOR.TOP
        for i, (text, level) in enumerate(items):
            p = tf.paragraphs[0] if i == 0 else tf.add_paragraph()
            p.level = level
            sub = size * 0.85 if level else size
            if i:
                p.space_before = Pt(size * _GAP_EM)
            pPr = p._p.get_or_add_pPr()
            indent = Inches(_SUB_INDENT_IN * (level + 1))
            pPr.set("marL", str(int(indent)))
            pPr.set("indent", str(-int(Inches(_SUB_INDENT_IN * 0.8))))
            for tag in ("a:buClr", "a:buFont", "a:buChar", "a:buNone"):
                for old in pPr.findall(qn(tag)):
                    pPr.remove(old)
            clr = etree.SubElement(pPr, qn("a:buClr"))
            etree.SubElement(clr, qn("a:srgbClr")).set("val", self.theme.accent.lstrip("#").upper())
            etree.SubElement(pPr, qn("a:buFont")).set("typeface", self.theme.font)
            etree.SubElement(pPr, qn("a:buChar")).set("char", "•" if level == 0 else "–")
            run = p.add_run()
            run.text = text
            self._style_run(run, sub, self.theme.text if level == 0 else self.theme.muted)

    def _picture(self, slide, path: Path, box: Box, where: str) -> None:
        from PIL import Image, UnidentifiedImageError
        from pptx.util import Inches

        try:
            with Image.open(path) as im:
                w_px, h_px = im.size
                fmt = im.format
        except (OSError, UnidentifiedImageError):
            raise InputError(f"the image {path.name!r} on {where} is not a readable picture (PNG, JPEG, GIF, "
                             f"BMP or TIFF)") from None
        if fmt not in ("PNG", "JPEG", "GIF", "BMP", "TIFF"):
            converted = self.work_dir / f"img_{len(list(self.work_dir.iterdir()))}.png"
            with Image.open(path) as im:
                im.convert("RGBA").save(converted)
            path = converted
        scale = min(box.width_in / w_px, box.height_in / h_px)
        w_in, h_in = w_px * scale, h_px * scale
        left = box.left_in + (box.width_in - w_in) / 2
        top = box.top_in + (box.height_in - h_in) / 2
        slide.shapes.add_picture(str(path), Inches(left), Inches(top), Inches(w_in), Inches(h_in))

    # --- layouts

    def title_slide(self, s: Slide, deck: Deck) -> object:
        slide = self._new_slide(0)
        t = self.theme
        title = s.title or deck.title
        self._title(slide, title, Box(1.0, 1.6, SLIDE_W_IN - 2.0, 2.4), t.deck_title_size_pt, align="center",
                    anchor="bottom")
        self._accent_bar(slide, Box(SLIDE_W_IN / 2 - 1.2, 4.2, 2.4, t.accent_bar_in * 1.5))
        subtitle = s.bullets[0].text if s.bullets else deck.subtitle
        sub_ph = next((ph for ph in slide.placeholders if ph.placeholder_format.idx == 1), None)
        if subtitle:
            box = Box(1.0, 4.5, SLIDE_W_IN - 2.0, 1.6)
            size = fit_size_pt([(subtitle, 0)], box, t.subtitle_size_pt, t.min_body_size_pt) or t.min_body_size_pt
            self._set_text(sub_ph, subtitle, box, size, t.muted, align="center", anchor="top")
        elif sub_ph is not None:
            sub_ph._element.getparent().remove(sub_ph._element)
        return slide

    def section_slide(self, s: Slide) -> object:
        slide = self._new_slide(5)
        t = self.theme
        self._title(slide, s.title, Box(1.0, 2.2, SLIDE_W_IN - 2.0, 2.0), t.section_size_pt, align="left",
                    anchor="bottom")
        self._accent_bar(slide, Box(1.0, 4.35, 3.0, t.accent_bar_in * 1.5))
        if s.bullets:
            text = " ".join(b.text for b in s.bullets)
            box = Box(1.0, 4.6, SLIDE_W_IN - 2.0, 1.5)
            size = fit_size_pt([(text, 0)], box, t.subtitle_size_pt, t.min_body_size_pt) or t.min_body_size_pt
            tb = slide.shapes.add_textbox(*self._emu(box))
            self._set_text(tb, text, box, size, t.muted, anchor="top")
        return slide

    def bullets_slide(self, s: Slide, where: str) -> object:
        slide = self._new_slide(5)
        self._title(slide, s.title)
        self._under_title_bar(slide)
        if s.bullets:
            self._bullets(slide, s.bullets, self.content, where)
        return slide

    def image_slide(self, s: Slide, where: str) -> object:
        slide = self._new_slide(5)
        self._title(slide, s.title)
        self._under_title_bar(slide)
        c = self.content
        if s.bullets:
            img_w = c.width_in * 0.48
            self._picture(slide, s.image_ref, Box(c.left_in, c.top_in, img_w, c.height_in), where)
            gap = 0.4
            self._bullets(slide, s.bullets, Box(c.left_in + img_w + gap, c.top_in, c.width_in - img_w - gap,
                                                c.height_in), where)
        else:
            self._picture(slide, s.image_ref, c, where)
        return slide

    def table_slide(self, s: Slide, where: str) -> object:
        from pptx.enum.text import MSO_ANCHOR
        from pptx.util import Inches, Pt

        slide = self._new_slide(5)
        t = self.theme
        self._title(slide, s.title)
        self._under_title_bar(slide)
        rows, cols = len(s.table), len(s.table[0])
        c = self.content
        row_h = min(0.7, c.height_in / rows)
        # Columns share the width by the square root of their longest text, so long columns get more room.
        weights = [math.sqrt(max(6, max(len(row[k]) for row in s.table))) for k in range(cols)]
        widths_in = [c.width_in * w / sum(weights) for w in weights]
        size = None
        for pt in range(22, t.min_body_size_pt - 1, -1):
            # Rows grow to fit wrapped text: the tallest cell of each row sets its height.
            heights = [max(row_h, max(_lines_for(cell or "x", widths_in[k] - 0.24, pt) for k, cell in enumerate(row))
                           * pt * _LINE_EM / 72 + 0.15) for row in s.table]
            if sum(heights) <= c.height_in:
                size = pt
                break
        if size is None:
            raise InputError(f"{where} has too much text in its table to fit on one slide, even at "
                             f"{t.min_body_size_pt} pt: shorten the cells or split the table")
        frame = slide.shapes.add_table(rows, cols, Inches(c.left_in), Inches(c.top_in), Inches(c.width_in),
                                       Inches(row_h * rows))
        frame.name = "Table"
        table = frame.table
        table.first_row = True
        for k, w_in in enumerate(widths_in):
            table.columns[k].width = Inches(w_in)
        for r, row in enumerate(s.table):
            table.rows[r].height = Inches(row_h)
            for k, text in enumerate(row):
                cell = table.cell(r, k)
                cell.fill.solid()
                header = r == 0
                fill = t.table_header_fill if header else t.table_row_fill[(r - 1) % len(t.table_row_fill)]
                cell.fill.fore_color.rgb = self._color(fill)
                cell.vertical_anchor = MSO_ANCHOR.MIDDLE
                cell.margin_left = cell.margin_right = Inches(0.12)
                tf = cell.text_frame
                tf.word_wrap = True
                tf.text = ""
                run = tf.paragraphs[0].add_run()
                run.text = text
                self._style_run(run, size, t.table_header_text if header else t.text, bold=header)
                tf.paragraphs[0].space_before = Pt(0)
        return slide

    def chart_slide(self, s: Slide, index: int) -> object:
        from engines.slides.charts import render_chart

        slide = self._new_slide(5)
        self._title(slide, s.title)
        self._under_title_bar(slide)
        c = self.content
        png = render_chart(s.chart, self.theme, self.work_dir / f"chart_{index}.png", width_in=c.width_in,
                           height_in=c.height_in)
        self._picture(slide, png, c, f"slide {index + 1}")
        return slide

    def quote_slide(self, s: Slide, where: str) -> object:
        slide = self._new_slide(5)
        t = self.theme
        if s.title:
            self._title(slide, s.title)
        else:
            ph = slide.shapes.title
            ph._element.getparent().remove(ph._element)
        mark = slide.shapes.add_textbox(*self._emu(Box(0.9, 1.7, 1.5, 1.5)))
        self._set_text(mark, "\u201c", Box(0.9, 1.5, 1.5, 1.7), 120, t.accent, bold=True, anchor="top")
        box = Box(2.2, 2.0, SLIDE_W_IN - 3.4, 3.4)
        size = fit_size_pt([(s.quote, 0)], box, t.quote_size_pt, t.min_body_size_pt + 4)
        if size is None:
            raise InputError(f"the quotation on {where} is too long to fit on a slide ({len(s.quote):,} "
                             f"characters); shorten it or put the rest in the notes")
        tb = slide.shapes.add_textbox(*self._emu(box))
        tb.name = "Quote"
        self._set_text(tb, s.quote, box, size, t.text, italic=True, anchor="middle")
        if s.attribution:
            abox = Box(2.2, 5.5, SLIDE_W_IN - 3.4, 0.7)
            ab = slide.shapes.add_textbox(*self._emu(abox))
            ab.name = "Attribution"
            self._set_text(ab, f"\u2014 {s.attribution}", abox, t.subtitle_size_pt, t.accent, anchor="top")
        return slide

    def notes(self, slide, text: str) -> None:
        slide.notes_slide.notes_text_frame.text = text

    def audio(self, slide, mp3: Path, icon: Path) -> None:
        from pptx.util import Inches

        size = AUDIO_ICON_IN
        left = SLIDE_W_IN - size - 0.25
        top = SLIDE_H_IN - size - 0.2
        movie = slide.shapes.add_movie(str(mp3), Inches(left), Inches(top), Inches(size), Inches(size),
                                       poster_frame_image=str(icon), mime_type="audio/mpeg")
        movie.name = "Narration"


# ------------------------------------------------------------------ audio


def speaker_icon(theme: Theme, out_path: Path, size_px: int = 96) -> Path:
    """A small speaker glyph in the theme's accent colour on its background, as PNG."""
    from PIL import Image, ImageDraw

    im = Image.new("RGB", (size_px, size_px), rgb(theme.background))
    d = ImageDraw.Draw(im)
    s = size_px / 96
    col = rgb(theme.accent)
    d.rectangle([18 * s, 36 * s, 34 * s, 60 * s], fill=col)
    d.polygon([(34 * s, 36 * s), (54 * s, 18 * s), (54 * s, 78 * s), (34 * s, 60 * s)], fill=col)
    for r in (14, 26):
        d.arc([54 * s - r * s, 48 * s - r * s, 54 * s + r * s + 8 * s, 48 * s + r * s], -50, 50, fill=col,
              width=max(2, int(5 * s)))
    im.save(out_path)
    return out_path


def narration_mp3(src: Path, out_path: Path) -> Path:
    """A slide's narration as the MP3 PowerPoint plays (an MP3 is copied as is)."""
    src = Path(src)
    if src.suffix.lower() not in _AUDIO_EXTS:
        raise InputError(f"narration {src.name!r} is not audio; give MP3, WAV, FLAC, OGG or M4A")
    return encode_mp3(src, out_path, NARRATION_KBPS)


# ------------------------------------------------------------------ entry point


def write_pptx(deck: Deck, out_path: str | Path, narrations: dict[int, Path] | None = None,
               progress: ProgressFn | None = None, cancel: CancelToken | None = None,
               scratch: str | Path | None = None) -> Path:
    """Write `deck` as a 16:9 .pptx at `out_path`; returns the path.

    `narrations` maps a 0-based slide index to an audio file (MP3, WAV, FLAC, ...) that is
    embedded on that slide as MP3 behind a small speaker icon. Charts, icons and MP3s are made in a
    folder inside `scratch` (a job's; None: beside the deck), removed when done."""
    progress = progress or no_progress
    if not deck.slides:
        raise InputError("the deck has no slides")
    if len(deck.slides) > MAX_SLIDES:
        raise InputError(f"the deck has {len(deck.slides)} slides; at most {MAX_SLIDES} are allowed")
    narrations = dict(narrations or {})
    bad = [i for i in narrations if not (0 <= int(i) < len(deck.slides))]
    if bad:
        raise InputError(f"narration given for slide index {bad[0]}, but the deck has slides 0..{len(deck.slides) - 1}")
    theme = get_theme(deck.theme)
    out_path = Path(out_path)
    n = len(deck.slides)
    with temp_dir(scratch, out_path.parent, "deck-") as work:
        w = _Writer(theme, work)
        icon = speaker_icon(theme, work / "speaker.png") if narrations else None
        for i, s in enumerate(deck.slides):
            if cancel is not None:
                cancel.raise_if_set()
            where = f"slide {i + 1}" + (f" ({s.title!r})" if s.title else "")
            if s.kind == "title":
                slide = w.title_slide(s, deck)
            elif s.kind == "section":
                slide = w.section_slide(s)
            elif s.kind == "image" and s.image_ref is not None:
                slide = w.image_slide(s, where)
            elif s.kind == "table" and s.table:
                slide = w.table_slide(s, where)
            elif s.kind == "chart" and s.chart is not None:
                slide = w.chart_slide(s, i)
            elif s.kind == "quote" and s.quote:
                slide = w.quote_slide(s, where)
            else:
                slide = w.bullets_slide(s, where)
            w.notes(slide, s.notes)
            if i in narrations:
                mp3 = narration_mp3(Path(narrations[i]), work / f"narration_{i}.mp3")
                w.audio(slide, mp3, icon)
            progress(i + 1, n, f"slide {i + 1} of {n}")
        out_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            w.prs.save(str(out_path))
        except OSError as e:
            raise EngineError(f"could not save the deck: {e}") from e
    log.info("wrote %s: %d slides, %d narrated, theme %s", out_path, n, len(narrations), theme.name)
    return out_path



def _remove_shape(slide, shape) -> None:
    """Take a shape off a slide, with the relationships (media, poster) only it used."""
    rids = set(shape._element.xpath(".//@r:embed | .//@r:link | .//@r:id"))
    shape._element.getparent().remove(shape._element)
    still = set(slide._element.xpath(".//@r:embed | .//@r:link | .//@r:id"))
    for rid in rids - still:
        if rid in slide.part.rels:
            slide.part.rels.pop(rid)


def register_audio_parts() -> None:
    """Let python-pptx load audio already embedded in a deck as media (it knows only video types),
    so a narrated deck can be opened, narrated again and saved."""
    from pptx.opc.package import PartFactory
    from pptx.parts.media import MediaPart

    for mime in ("audio/mpeg", "audio/mp3", "audio/wav", "audio/x-wav", "audio/mp4", "audio/x-m4a",
                 "audio/ogg", "audio/aac"):
        PartFactory.part_type_for.setdefault(mime, MediaPart)


def add_narration(src_pptx: str | Path, out_path: str | Path, deck: Deck, narrations: dict[int, Path],
                  progress: ProgressFn | None = None, cancel: CancelToken | None = None,
                  scratch: str | Path | None = None) -> Path:
    """An existing deck, design untouched, with each slide's notes (from `deck`, as read and completed)
    and its narration audio embedded behind a small speaker icon. Slide indexes are 0-based. `scratch`:
    as for write_pptx."""
    from pptx import Presentation
    from pptx.util import Emu

    progress = progress or no_progress
    register_audio_parts()
    prs = Presentation(str(src_pptx))
    slides = list(prs.slides)
    if len(slides) != len(deck.slides):
        raise EngineError(f"the deck has {len(slides)} slides but {len(deck.slides)} were read")
    theme = get_theme(deck.theme)
    out_path = Path(out_path)
    with temp_dir(scratch, out_path.parent, "deck-") as work:
        icon = speaker_icon(theme, work / "speaker.png")
        size = Emu(int(min(prs.slide_width, prs.slide_height) * AUDIO_ICON_IN / SLIDE_H_IN))
        for i, (slide, s) in enumerate(zip(slides, deck.slides)):
            if cancel is not None:
                cancel.raise_if_set()
            frame = slide.notes_slide.notes_text_frame
            if not frame.text.strip() and s.notes:
                frame.text = s.notes
            if i in narrations:
                for old in [sh for sh in slide.shapes if sh.name == "Narration"]:  # narrated before: replace it
                    _remove_shape(slide, old)
                mp3 = narration_mp3(Path(narrations[i]), work / f"narration_{i}.mp3")
                movie = slide.shapes.add_movie(str(mp3), prs.slide_width - size - Emu(228600),
                                               prs.slide_height - size - Emu(182880), size, size,
                                               poster_frame_image=str(icon), mime_type="audio/mpeg")
                movie.name = "Narration"
            progress(i + 1, len(slides), f"slide {i + 1} of {len(slides)}")
        out_path.parent.mkdir(parents=True, exist_ok=True)
        prs.save(str(out_path))
    return out_path
