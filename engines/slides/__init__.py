"""Slide decks: an outline, a long text or an uploaded .pptx -> a themed 16:9 deck with speaker
notes on every slide, optional narration audio per slide, and slide images for video.

    deck = parse_outline(markdown, resolve_image)        # or deck_from_text(text), read_pptx(path)
    narration = narrate(deck, speak)                     # notes spoken, slide timeline
    write_pptx(deck, "talk.pptx", narration.write_clips(tmp))
    images = render_slides("talk.pptx", out_dir)         # one PNG per slide

Heavy libraries (python-pptx, matplotlib) are imported inside the functions that use them.
"""

from engines.slides.deck import MAX_SLIDES, Bullet, ChartSpec, Deck, Slide
from engines.slides.narration import Narration, SlideTiming, narrate
from engines.slides.outline import parse_outline
from engines.slides.read import read_pptx
from engines.slides.render import render_slides, render_thumbnails
from engines.slides.text_outline import deck_from_text, looks_like_outline, outline_from_text, outline_from_topic
from engines.slides.write import write_pptx

__all__ = ["MAX_SLIDES", "Bullet", "ChartSpec", "Deck", "Slide", "Narration", "SlideTiming", "narrate",
           "parse_outline", "read_pptx", "render_slides", "render_thumbnails", "deck_from_text",
           "outline_from_text", "outline_from_topic", "looks_like_outline", "write_pptx"]
