"""Captions: LRC lyrics (with enhanced per-word times) or plain text spread over the audio, SRT/WebVTT
and enhanced LRC export, and a karaoke renderer that draws the current line near the bottom of a frame
with the sung words in gold. Lines made from recognised speech come from engines.video.word_captions.

The renderer rasterises each line with Pillow once (cached RGBA patches); per frame it only picks the
highlighted part and alpha-blends a small patch with numpy."""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.errors import InputError

log = logging.getLogger(__name__)

# A line without a following timestamp lasts this long, seconds.
DEFAULT_LINE_S = 4.0
# Most caption text accepted, characters.
MAX_TEXT_CHARS = 20_000
FONT_PATH = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
GOLD = (0xD4, 0xAF, 0x37)
WHITE = (255, 255, 255)


@dataclass(frozen=True)
class CaptionWord:
    # When the word starts and ends being sung/spoken, seconds on the video's timeline.
    start_s: float
    end_s: float
    text: str


@dataclass(frozen=True)
class CaptionLine:
    # When the line appears and disappears, seconds.
    start_s: float
    end_s: float
    text: str
    # The line's words with their times (may be empty: then the line shows without a highlight).
    words: list[CaptionWord] = field(default_factory=list)


_TIME = r"(\d{1,3}):(\d{1,2}(?:[.:]\d{1,3})?)"
_LINE_TAG = re.compile(r"\[" + _TIME + r"\]")
_WORD_TAG = re.compile(r"<" + _TIME + r">")
_META_TAG = re.compile(r"^\s*\[[A-Za-z#]+:[^\]]*\]\s*$")


def _seconds(minutes: str, seconds: str) -> float:
    return int(minutes) * 60 + float(seconds.replace(":", "."))


def has_timestamps(text: str) -> bool:
    return bool(_LINE_TAG.search(text or ""))


def _spread_words(text: str, start_s: float, end_s: float) -> list[CaptionWord]:
    """Words timed by their length (plus a little per word) across [start, end]."""
    words = text.split()
    if not words:
        return []
    weights = np.array([len(w) + 2.0 for w in words])
    edges = start_s + (end_s - start_s) * np.concatenate([[0.0], np.cumsum(weights) / weights.sum()])
    return [CaptionWord(float(edges[i]), float(edges[i + 1]), w) for i, w in enumerate(words)]


def parse_lrc(text: str) -> list[CaptionLine]:
    """Lines from LRC: `[mm:ss.xx]text` (several stamps on a line repeat it), enhanced word times
    `<mm:ss.xx>word`, metadata tags such as [ar:...] ignored. A line ends where the next starts, or
    DEFAULT_LINE_S later for the last one; an empty stamped line only ends the previous one.
    Lines without enhanced times get their words spread over the line by length."""
    entries: list[tuple[float, str]] = []
    for raw in (text or "").splitlines():
        if _META_TAG.match(raw):
            continue
        stamps = []
        rest = raw
        while True:
            m = _LINE_TAG.match(rest.lstrip())
            if not m:
                break
            stamps.append(_seconds(m.group(1), m.group(2)))
            rest = rest.lstrip()[m.end():]
        for s in stamps:
            entries.append((s, rest.strip()))
    entries.sort(key=lambda e: e[0])
    lines: list[CaptionLine] = []
    for k, (start, body) in enumerate(entries):
        end = entries[k + 1][0] if k + 1 < len(entries) else start + DEFAULT_LINE_S
        if end <= start:
            end = start + DEFAULT_LINE_S if k + 1 >= len(entries) else start + 1e-3
        plain = re.sub(r"\s+", " ", _WORD_TAG.sub(" ", body)).strip()
        if not plain:
            continue
        words = _enhanced_words(body, start, end)
        lines.append(CaptionLine(start, end, plain, words or _spread_words(plain, start, end)))
    return lines


def _enhanced_words(body: str, start: float, end: float) -> list[CaptionWord]:
    parts = _WORD_TAG.split(body)
    if len(parts) < 4:  # no word tags
        return []
    # parts: [before, m, s, text, m, s, text, ...]
    timed: list[tuple[float, str]] = []
    lead = parts[0].split()
    for i in range(1, len(parts), 3):
        t = _seconds(parts[i], parts[i + 1])
        for j, w in enumerate(parts[i + 2].split()):
            timed.append((t, w) if j == 0 else (float("nan"), w))
    if lead:
        timed = [(start, w) for w in lead[:1]] + [(float("nan"), w) for w in lead[1:]] + timed
    words: list[CaptionWord] = []
    # Words without their own stamp share the time up to the next stamp.
    times = [t for t, _ in timed]
    k = 0
    while k < len(timed):
        j = k + 1
        while j < len(timed) and np.isnan(times[j]):
            j += 1
        t0 = times[k] if not np.isnan(times[k]) else start
        t1 = times[j] if j < len(timed) else end
        t1 = max(t0, min(t1, end))
        group = [w for _, w in timed[k:j]]
        words += _spread_words(" ".join(group), t0, t1)
        k = j
    return words


def plain_text_captions(text: str, duration_s: float) -> list[CaptionLine]:
    """Lines (or, for one paragraph, sentences) spread over `duration_s` by their length; each line's
    words are timed by length too."""
    text = (text or "").strip()
    if not text:
        return []
    if duration_s <= 0:
        raise InputError("captions need a positive duration to be spread over")
    chunks = [c.strip() for c in text.splitlines() if c.strip()]
    if len(chunks) == 1:
        chunks = [c.strip() for c in re.split(r"(?<=[.!?;])\s+", chunks[0]) if c.strip()]
    chunks = [piece for c in chunks for piece in _split_long(c)]
    weights = np.array([len(c) + 8.0 for c in chunks])
    edges = duration_s * np.concatenate([[0.0], np.cumsum(weights) / weights.sum()])
    return [CaptionLine(float(edges[i]), float(edges[i + 1]), c, _spread_words(c, float(edges[i]), float(edges[i + 1])))
            for i, c in enumerate(chunks)]


def _split_long(chunk: str, max_words: int = 14) -> list[str]:
    words = chunk.split()
    if len(words) <= max_words:
        return [" ".join(words)]
    parts = -(-len(words) // max_words)
    size = -(-len(words) // parts)
    return [" ".join(words[i:i + size]) for i in range(0, len(words), size)]


def check_captions(text: str | None) -> None:
    """InputError when captions text cannot be used (checked before a video is made)."""
    if len(text or "") > MAX_TEXT_CHARS:
        raise InputError(f"the captions are {len(text):,} characters long; at most {MAX_TEXT_CHARS:,}")


def parse_captions(text: str, duration_s: float) -> list[CaptionLine]:
    """LRC when the text has [mm:ss] timestamps, else plain text spread over the duration. Lines are
    clipped to the duration; lines starting after it are dropped."""
    check_captions(text)
    lines = parse_lrc(text) if has_timestamps(text) else plain_text_captions(text, duration_s)
    return clip_lines(lines, duration_s)


def clip_lines(lines: list[CaptionLine], duration_s: float | None) -> list[CaptionLine]:
    """The lines within [0, duration_s) seconds: lines starting after it are dropped, the rest end by it
    (and so do their words). A duration of 0 or None keeps the lines as they are."""
    if not duration_s or duration_s <= 0:
        return list(lines)
    out = []
    for line in lines:
        if line.start_s >= duration_s:
            continue
        end = min(line.end_s, duration_s)
        words = [CaptionWord(w.start_s, min(w.end_s, end), w.text) for w in line.words if w.start_s < end]
        out.append(CaptionLine(line.start_s, end, line.text, words))
    return out


def to_lrc(lines: list[CaptionLine]) -> str:
    """Enhanced LRC: `[mm:ss.xx]<mm:ss.xx>word <mm:ss.xx>word ...` per line, and an empty stamped line
    where a line ends before the next begins; parse_lrc reads it back (word ends become the next
    word's start). Lines without words are stamped once."""
    def stamp(t_s: float) -> str:
        cs = max(0, int(round(t_s * 100)))
        return f"{cs // 6000:02d}:{cs % 6000 / 100:05.2f}"

    out = []
    for k, line in enumerate(lines):
        body = " ".join(f"<{stamp(w.start_s)}>{w.text}" for w in line.words) if line.words else line.text
        out.append(f"[{stamp(line.start_s)}]{body}")
        nxt = lines[k + 1].start_s if k + 1 < len(lines) else None
        if nxt is None or nxt - line.end_s >= 0.005:
            out.append(f"[{stamp(line.end_s)}]")
    return "\n".join(out) + ("\n" if out else "")


def _stamp(t_s: float, sep: str) -> str:
    ms = max(0, int(round(t_s * 1000)))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def to_srt(lines: list[CaptionLine]) -> str:
    """SubRip: numbered cues `HH:MM:SS,mmm --> HH:MM:SS,mmm`, a blank line after each."""
    return "".join(f"{k}\n{_stamp(l.start_s, ',')} --> {_stamp(l.end_s, ',')}\n{l.text}\n\n"
                   for k, l in enumerate(lines, 1))


def to_vtt(lines: list[CaptionLine]) -> str:
    """WebVTT: a `WEBVTT` header, then cues `HH:MM:SS.mmm --> HH:MM:SS.mmm`."""
    return "WEBVTT\n\n" + "".join(f"{_stamp(l.start_s, '.')} --> {_stamp(l.end_s, '.')}\n{l.text}\n\n"
                                   for l in lines)


@dataclass(frozen=True)
class CaptionStyle:
    # TrueType font file.
    font_path: str = str(FONT_PATH)
    # Text height as a fraction of the frame height.
    font_frac: float = 0.055
    # Not-yet-sung text colour (RGB).
    text_rgb: tuple[int, int, int] = WHITE
    # Sung-word colour (RGB): the app's gold.
    highlight_rgb: tuple[int, int, int] = GOLD
    # Shadow box colour and opacity (0..1).
    box_rgb: tuple[int, int, int] = (0, 0, 0)
    box_opacity: float = 0.55
    # Gap between the text block's bottom and the frame's bottom, fraction of the height.
    bottom_frac: float = 0.07
    # Widest the text may get before wrapping, fraction of the frame width.
    max_width_frac: float = 0.86
    # Most rows one caption wraps to (longer text gets a smaller font).
    max_rows: int = 2
    # Where the text block is centred across the frame, fraction of the width (e.g. the middle of the part
    # of the frame beside a presenter's panel).
    centre_frac: float = 0.5


@dataclass
class _Raster:
    # Top-left of the patch in the frame (pixels).
    x: int
    y: int
    # Premultiplied colours and transparency 255 * (1 - opacity), both uint8 h x w x 3, with all text
    # white...
    base_rgb: np.ndarray
    base_clear: np.ndarray
    # ... and with all text gold; the highlight copies columns of these over the base.
    gold_rgb: np.ndarray
    gold_clear: np.ndarray
    # Per word: (row_top, row_bottom, x0, x1) inside the patch, in the line's word order.
    word_boxes: list[tuple[int, int, int, int]]


@dataclass
class _RasterYuv:
    # Top-left of the patch in the frame (even pixels).
    x: int
    y: int
    # (premultiplied planes, clear planes) with all text white, and with all text gold (yuv.patch_yuv).
    base: tuple
    gold: tuple
    # Per word: (row_top, row_bottom, x0, x1) inside the patch, in luma pixels.
    word_boxes: list[tuple[int, int, int, int]]


class CaptionRenderer:
    """Draw karaoke captions: `CaptionRenderer((w, h), style, lines).draw(frame, t_s)`.

    `size` is (width_px, height_px) or a VideoSize; `style` a CaptionStyle (None: the default)."""

    # Lines kept rasterised at once (drawing moves forward through time, so a few are enough).
    CACHE_LINES = 12

    def __init__(self, size, style: CaptionStyle | None = None,
                 lines: list[CaptionLine] | None = None) -> None:
        if hasattr(size, "width_px"):
            size = (size.width_px, size.height_px)
        self.width_px, self.height_px = int(size[0]), int(size[1])
        self.style = style or CaptionStyle()
        self.lines: list[CaptionLine] = sorted(lines or [], key=lambda l: l.start_s)
        self._starts = np.array([l.start_s for l in self.lines], np.float64)
        self._cache: OrderedDict[int, _Raster] = OrderedDict()
        self._cache_yuv: OrderedDict[int, _RasterYuv] = OrderedDict()
        self.rasterised = 0  # lines drawn with Pillow so far (each once while cached)
        self._fonts: dict[int, object] = {}

    def set_lines(self, lines: list[CaptionLine]) -> None:
        self.lines = sorted(lines, key=lambda l: l.start_s)
        self._starts = np.array([l.start_s for l in self.lines], np.float64)
        self._cache.clear()
        self._cache_yuv.clear()

    def active_index(self, t_s: float) -> int | None:
        if not self.lines:
            return None
        k = int(np.searchsorted(self._starts, t_s, side="right")) - 1
        # Overlapping lines: the latest started one that is still on.
        while k >= 0:
            if self.lines[k].start_s <= t_s < self.lines[k].end_s:
                return k
            if k > 0 and self.lines[k - 1].end_s > t_s:
                k -= 1
                continue
            return None
        return None

    def active_line(self, t_s: float) -> CaptionLine | None:
        """The line on screen at `t_s`, or None."""
        k = self.active_index(t_s)
        return None if k is None else self.lines[k]

    def timeline(self) -> list[tuple[float, float, str]]:
        """(start_s, end_s, text) of every line, in order."""
        return [(l.start_s, l.end_s, l.text) for l in self.lines]

    def box(self, t_s: float) -> tuple[int, int, int, int] | None:
        """The patch (x, y, w, h) the caption at `t_s` covers in the frame, or None."""
        k = self.active_index(t_s)
        if k is None:
            return None
        r = self._raster(k)
        return r.x, r.y, r.base_rgb.shape[1], r.base_rgb.shape[0]

    def _font(self, px: int):
        from PIL import ImageFont

        if px not in self._fonts:
            try:
                self._fonts[px] = ImageFont.truetype(self.style.font_path, px)
            except OSError:
                log.warning("font %s not found: using Pillow's default", self.style.font_path)
                self._fonts[px] = ImageFont.load_default(size=px)
        return self._fonts[px]

    def _layout(self, words: list[str]):
        """Rows of word indices and the font, shrinking the font until the text fits max_rows."""
        st = self.style
        max_w = st.max_width_frac * self.width_px
        px = max(12, int(round(st.font_frac * self.height_px)))
        while True:
            font = self._font(px)
            space = font.getlength(" ")
            widths = [font.getlength(w) for w in words]
            rows: list[list[int]] = [[]]
            row_w = 0.0
            for i, wd in enumerate(widths):
                add = wd if not rows[-1] else space + wd
                if rows[-1] and row_w + add > max_w:
                    rows.append([i])
                    row_w = wd
                else:
                    rows[-1].append(i)
                    row_w += add
            if len(rows) <= st.max_rows or px <= 10:
                return rows, font, widths, space
            px = max(10, int(px * 0.88))

    def _raster(self, k: int) -> _Raster:
        if k in self._cache:
            self._cache.move_to_end(k)
            return self._cache[k]
        raster = self._rasterise(self.lines[k])
        self.rasterised += 1
        self._cache[k] = raster
        while len(self._cache) > self.CACHE_LINES:
            self._cache.popitem(last=False)
        return raster

    def _rasterise(self, line: CaptionLine) -> _Raster:
        from PIL import Image, ImageDraw, ImageFilter

        st = self.style
        words = [w.text for w in line.words] or line.text.split()
        rows, font, widths, space = self._layout(words)
        ascent, descent = font.getmetrics()
        row_h = ascent + descent
        gap = int(row_h * 0.18)
        pad_x, pad_y = int(row_h * 0.6), int(row_h * 0.35)
        row_widths = [sum(widths[i] for i in r) + space * (len(r) - 1) for r in rows]
        text_w = int(np.ceil(max(row_widths)))
        text_h = row_h * len(rows) + gap * (len(rows) - 1)
        blur = max(2, row_h // 6)
        pw, ph = text_w + 2 * pad_x + 2 * blur, text_h + 2 * pad_y + 2 * blur
        # The shadow box: a rounded rectangle with a soft edge.
        box = Image.new("L", (pw, ph), 0)
        ImageDraw.Draw(box).rounded_rectangle((blur, blur, pw - blur - 1, ph - blur - 1), radius=row_h // 3,
                                              fill=int(255 * st.box_opacity))
        box = box.filter(ImageFilter.GaussianBlur(blur / 2.0))
        text_mask = Image.new("L", (pw, ph), 0)
        draw = ImageDraw.Draw(text_mask)
        boxes: list[tuple[int, int, int, int]] = [(0, 0, 0, 0)] * len(words)
        for r, (row, rw) in enumerate(zip(rows, row_widths)):
            x = blur + pad_x + (text_w - rw) / 2.0
            y = blur + pad_y + r * (row_h + gap)
            for i in row:
                draw.text((x, y), words[i], font=font, fill=255)
                boxes[i] = (int(y), int(y + row_h), int(np.floor(x)), int(np.ceil(x + widths[i])))
                x += widths[i] + space
        # A thin dark outline keeps the text readable on bright frames.
        outline = text_mask.filter(ImageFilter.MaxFilter(3))
        box_a = np.asarray(box, np.float32)[:, :, None] / 255.0
        text_a = np.asarray(text_mask, np.float32)[:, :, None] / 255.0
        edge_a = np.asarray(outline, np.float32)[:, :, None] / 255.0
        under_a = box_a + (1 - box_a) * edge_a * 0.6  # box, then outline (dark) on top
        under_rgb = np.asarray(st.box_rgb, np.float32)[None, None, :] * under_a

        def over(colour: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
            rgb = np.asarray(colour, np.float32)[None, None, :] * text_a + under_rgb * (1 - text_a)
            alpha = text_a + under_a * (1 - text_a)
            clear = np.repeat(255.0 * (1.0 - alpha), 3, axis=2)
            return (np.ascontiguousarray(np.clip(rgb + 0.5, 0, 255).astype(np.uint8)),
                    np.ascontiguousarray(np.clip(clear + 0.5, 0, 255).astype(np.uint8)))

        base_rgb, base_a = over(st.text_rgb)
        gold_rgb, gold_a = over(st.highlight_rgb)
        x0 = int(round(self.width_px * st.centre_frac)) - pw // 2
        x0 = min(x0, self.width_px - pw)
        y0 = self.height_px - int(round(st.bottom_frac * self.height_px)) - ph + blur
        x0, y0 = max(0, x0), max(0, y0)
        # Patches wider than the frame (tiny frames) are cut to it.
        pw, ph = min(pw, self.width_px - x0), min(ph, self.height_px - y0)
        def cut(a: np.ndarray) -> np.ndarray:
            return np.ascontiguousarray(a[:ph, :pw])

        return _Raster(x0, y0, cut(base_rgb), cut(base_a), cut(gold_rgb), cut(gold_a), boxes)

    def _sung(self, k: int, boxes: list[tuple[int, int, int, int]], t_s: float) -> list[tuple[int, int, int, int]]:
        """(top, bottom, x0, x1) of the parts of line k's words sung by `t_s` (gold), in patch pixels."""
        out = []
        for i, w in enumerate(self.lines[k].words):
            if w.start_s > t_s or i >= len(boxes):
                continue
            top, bottom, x0, x1 = boxes[i]
            frac = 1.0 if t_s >= w.end_s or w.end_s <= w.start_s else (t_s - w.start_s) / (w.end_s - w.start_s)
            xc = x0 + int(round((x1 - x0) * frac))
            if xc > x0:
                out.append((top, bottom, x0, xc))
        return out

    def _raster_yuv(self, k: int) -> _RasterYuv:
        """Line k's patches as premultiplied I420 planes (see yuv.patch_yuv), on even pixels: the RGB
        patch padded by a transparent column/row where it starts or ends on an odd one."""
        if k in self._cache_yuv:
            self._cache_yuv.move_to_end(k)
            return self._cache_yuv[k]
        from engines.video.yuv import patch_yuv

        r = self._raster(k)
        ph, pw = r.base_rgb.shape[:2]
        dx, dy = r.x % 2, r.y % 2
        w2, h2 = pw + dx + (pw + dx) % 2, ph + dy + (ph + dy) % 2
        w2, h2 = min(w2, self.width_px - (r.x - dx)), min(h2, self.height_px - (r.y - dy))
        w2, h2 = w2 - w2 % 2, h2 - h2 % 2

        def padded(rgb: np.ndarray, clear: np.ndarray) -> tuple:
            prgb = np.zeros((h2, w2, 3), np.uint8)
            pclear = np.full((h2, w2, 3), 255, np.uint8)
            hh, ww = min(ph, h2 - dy), min(pw, w2 - dx)
            prgb[dy:dy + hh, dx:dx + ww] = rgb[:hh, :ww]
            pclear[dy:dy + hh, dx:dx + ww] = clear[:hh, :ww]
            return patch_yuv(prgb, pclear)

        boxes = [(t + dy, b + dy, x0 + dx, x1 + dx) for t, b, x0, x1 in r.word_boxes]
        raster = _RasterYuv(r.x - dx, r.y - dy, padded(r.base_rgb, r.base_clear), padded(r.gold_rgb, r.gold_clear),
                            boxes)
        self._cache_yuv[k] = raster
        while len(self._cache_yuv) > self.CACHE_LINES:
            self._cache_yuv.popitem(last=False)
        return raster

    def draw_yuv(self, yuv: np.ndarray, t_s: float) -> np.ndarray:
        """As draw, on an I420 frame (H * 3 / 2, W) uint8, in place: the same caption blended into its
        luma and chroma planes."""
        from engines.video.yuv import blend_patch, planes

        if yuv.shape != (self.height_px * 3 // 2, self.width_px):
            raise ValueError(f"an I420 frame for {self.width_px}x{self.height_px} captions is "
                             f"{(self.height_px * 3 // 2, self.width_px)}, got {yuv.shape}")
        k = self.active_index(t_s)
        if k is None:
            return yuv
        r = self._raster_yuv(k)
        (premult, clear) = r.base
        gold = self._sung(k, r.word_boxes, t_s)
        if gold:
            premult, clear = [p.copy() for p in premult], [c.copy() for c in clear]
            gold_premult, gold_clear = r.gold
            for top, bottom, x0, xc in gold:
                for k_plane, s in ((0, 1), (1, 2), (2, 2)):  # luma, then the half-size chroma planes
                    t0, t1, a0, a1 = top // s, -(-bottom // s), x0 // s, -(-xc // s)
                    premult[k_plane][t0:t1, a0:a1] = gold_premult[k_plane][t0:t1, a0:a1]
                    clear[k_plane][t0:t1, a0:a1] = gold_clear[k_plane][t0:t1, a0:a1]
        blend_patch(planes(yuv), r.x, r.y, tuple(premult), tuple(clear))
        return yuv

    def draw(self, frame: np.ndarray, t_s: float, out: np.ndarray | None = None) -> np.ndarray:
        """The frame with the caption active at `t_s` drawn on: a new array (the input untouched), or
        `out` (which may be `frame` itself, to draw in place). Words sung by `t_s` are gold; the word
        being sung turns gold from left to right."""
        k = self.active_index(t_s)
        if k is None:
            if out is not None and out is not frame:
                np.copyto(out, frame)
                return out
            return frame
        if frame.shape[:2] != (self.height_px, self.width_px):
            raise ValueError(f"frame is {frame.shape[1]}x{frame.shape[0]}, the captions are for "
                             f"{self.width_px}x{self.height_px}")
        import cv2

        r = self._raster(k)
        rgb, clear = r.base_rgb, r.base_clear
        gold = self._sung(k, r.word_boxes, t_s)
        if gold:
            rgb, clear = rgb.copy(), clear.copy()
            for top, bottom, x0, xc in gold:
                rgb[top:bottom, x0:xc] = r.gold_rgb[top:bottom, x0:xc]
                clear[top:bottom, x0:xc] = r.gold_clear[top:bottom, x0:xc]
        ph, pw = rgb.shape[:2]
        if out is None:
            out = frame.copy()
        elif out is not frame:
            np.copyto(out, frame)
        # out = caption + frame * (1 - opacity), in saturating uint8 arithmetic on the patch only.
        roi = np.ascontiguousarray(out[r.y:r.y + ph, r.x:r.x + pw])
        cv2.multiply(roi, clear, dst=roi, scale=1.0 / 255.0)
        cv2.add(roi, rgb, dst=roi)
        out[r.y:r.y + ph, r.x:r.x + pw] = roi
        return out
