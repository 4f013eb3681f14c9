"""The UI: one module per tab, each built around the services passed in."""

from __future__ import annotations

import gradio as gr

from services import Services

TITLE = "Digital Clone Studio"
TAGLINE = "A photo, a voice and an idea: cloned voices, talking heads, songs, music videos and narrated decks."


def build_app(services: Services) -> gr.Blocks:
    from tabs import api, projects

    with gr.Blocks(title=TITLE, analytics_enabled=False) as demo:
        gr.Markdown(f"# {TITLE}\n{TAGLINE}", elem_id="studio-title")
        with gr.Tabs():
            with gr.Tab("Projects", id="projects"):
                projects.build(services)
        api.register(services)
    return demo
