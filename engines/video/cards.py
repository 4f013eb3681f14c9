"""Title and end cards in the app's look: a dark background with a soft vignette, the title in gold
between two thin gold rules, an optional subtitle in light grey; faded in from and out to black."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engines.video.frames import fade_black

log = logging.getLogger(__name__)

BOLD_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
REGULAR_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
GOLD = (0xD4, 0xAF, 0x37)
# Background: near black with a warm tint, lighter in the middle.
BACKGROUND_CENTRE = (34, 31, 27)
BACKGROUND_EDGE = (10, 10, 12)
SUBTITLE = (0xB9, 0xB4, 0xA5)


def _font(path: Path, px: int):
    from PIL import ImageFont

    try:
        return ImageFont.truetype(str(path), px)
    except OSError:
        return ImageFont.load_default(size=px)


def _fit_font(draw, text: str, path: Path, px: int, max_w: float):
    while px > 10:
        font = _font(path, px)
        if draw.textlength(text, font=font) <= max_w:
            return font
        px = int(px * 0.9)
    return _font(path, px)


def render_card(width_px: int, height_px: int, title: str, subtitle: str = "") -> np.ndarray:
    """One still card (RGB uint8, height x width x 3): gold title, gold rules, grey subtitle."""
    from PIL import Image, ImageDraw

    w, h = int(width_px), int(height_px)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = np.sqrt(((xx - w / 2) / (w / 2)) ** 2 + ((yy - h / 2) / (h / 2)) ** 2) / np.sqrt(2)
    mix = np.clip(r, 0, 1)[:, :, None]
    bg = (np.asarray(BACKGROUND_CENTRE, np.float32) * (1 - mix) + np.asarray(BACKGROUND_EDGE, np.float32) * mix)
    im = Image.fromarray((bg + 0.5).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(im)
    title = " ".join((title or "").split())
    subtitle = " ".join((subtitle or "").split())
    max_w = 0.82 * w
    tfont = _fit_font(draw, title, BOLD_FONT, max(14, int(h * 0.09)), max_w)
    sfont = _fit_font(draw, subtitle, REGULAR_FONT, max(11, int(h * 0.045)), max_w) if subtitle else None
    ta, td = tfont.getmetrics()
    block = ta + td + ((sum(sfont.getmetrics()) + int(h * 0.04)) if sfont else 0)
    top = (h - block) / 2.0
    tw = draw.textlength(title, font=tfont)
    draw.text(((w - tw) / 2.0, top), title, font=tfont, fill=GOLD)
    rule_w = max(tw * 0.6, w * 0.18)
    line_px = max(1, h // 240)
    for y in (top - h * 0.05, top + ta + td + h * 0.02):
        draw.rectangle(((w - rule_w) / 2.0, y, (w + rule_w) / 2.0, y + line_px), fill=GOLD)
    if sfont:
        sw = draw.textlength(subtitle, font=sfont)
        draw.text(((w - sw) / 2.0, top + ta + td + h * 0.05), subtitle, font=sfont, fill=SUBTITLE)
    return np.asarray(im, dtype=np.uint8).copy()


@dataclass
class Card:
    """A card shown for `duration_s`, fading in from and out to black over `fade_s`: `frame(t_s)`."""
    # Size in pixels.
    width_px: int
    height_px: int
    # Gold title text.
    title: str
    # Smaller grey line under the title ("" for none).
    subtitle: str = ""
    # Time on screen, seconds.
    duration_s: float = 3.0
    # Fade in and fade out length, seconds (each at most half the duration).
    fade_s: float = 0.6

    def __post_init__(self) -> None:
        self._still = render_card(self.width_px, self.height_px, self.title, self.subtitle)

    @property
    def still(self) -> np.ndarray:
        return self._still

    def frame(self, t_s: float) -> np.ndarray:
        fade = min(self.fade_s, self.duration_s / 2.0)
        if fade <= 0:
            return self._still
        level = min(1.0, max(0.0, t_s / fade), max(0.0, (self.duration_s - t_s) / fade))
        return fade_black(self._still, level)


def title_card(width_px: int, height_px: int, title: str, subtitle: str = "", duration_s: float = 3.0,
               fade_s: float = 0.6) -> Card:
    return Card(width_px, height_px, title, subtitle, duration_s, fade_s)


def end_card(width_px: int, height_px: int, title: str = "Thank you", subtitle: str = "",
             duration_s: float = 3.0, fade_s: float = 0.8) -> Card:
    return Card(width_px, height_px, title, subtitle, duration_s, fade_s)
