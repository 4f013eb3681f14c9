"""The studio look: a dark theme with gold accents, passed to launch()."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

CSS_PATH = Path(__file__).resolve().parent.parent / "assets" / "theme.css"

# Dark mode regardless of the visitor's system setting.
FORCE_DARK_JS = """
() => {
  if (!document.body.classList.contains('dark')) document.body.classList.add('dark');
}
"""


def studio_theme() -> gr.themes.Base:
    return gr.themes.Soft(
        primary_hue=gr.themes.colors.amber,
        secondary_hue=gr.themes.colors.yellow,
        neutral_hue=gr.themes.colors.stone,
        font=["ui-sans-serif", "system-ui", "sans-serif"],  # no web fonts: works offline
    ).set(
        body_background_fill_dark="#0e0d0b",
        block_background_fill_dark="#171512",
        block_border_color_dark="#3a3222",
        button_primary_background_fill_dark="#c9a227",
        button_primary_background_fill_hover_dark="#e0b93a",
        button_primary_text_color_dark="#14110a",
        slider_color_dark="#d4af37",
        checkbox_background_color_selected_dark="#d4af37",
        link_text_color_dark="#e9cf7a",
    )


def studio_css() -> str:
    return CSS_PATH.read_text(encoding="utf-8")
