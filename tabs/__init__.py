"""The UI: one module per tab, each built around the services passed in."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import gradio as gr

from services import Services

TITLE = "Digital Clone Studio"
TAGLINE = "A photo, a voice and an idea: cloned voices, talking heads, songs, music videos and narrated decks."


@contextmanager
def server_app_made_at_launch() -> Iterator[None]:
    """Gradio builds a server app (FastAPI routes, middleware) and its page config when a Blocks is made,
    when its `with` ends and in queue(); launch() builds the ones it serves and drops the others. Inside this
    block the interim builds are skipped (0.5-0.9 s of start-up on 2 cores); `demo.app` and `demo.config`
    are set by launch()."""
    from gradio.blocks import Blocks
    from gradio.routes import App

    made = App.__dict__["create_app"], Blocks.get_config_file
    App.create_app = staticmethod(lambda blocks, *args, **kwargs: None)
    Blocks.get_config_file = lambda self: None
    try:
        yield
    finally:
        App.create_app, Blocks.get_config_file = made


def build_app(services: Services) -> gr.Blocks:
    from tabs import admin, api, clone, music, projects, slides, talking_head, verify, video, voice

    # Files Gradio tracks (uploads, files it serves) are removed CACHE_MAX_AGE_S after they were made; the
    # rest of its cache (download folders, uploads from before a restart) goes by Services.start_cache_expiry.
    settings = services.settings
    with gr.Blocks(title=TITLE, analytics_enabled=False,
                   delete_cache=(settings.cache_sweep_s, settings.cache_max_age_s)) as demo:
        # The public API first, so its endpoints own their names (UI events are private).
        api.register(services)
        api.register_voice(services)
        api.register_talking_head(services)
        api.register_music(services)
        api.register_video(services)
        api.register_slides(services)
        api.register_clone(services)
        api.register_admin(services)
        if services.sign_in_mode == "huggingface":
            from tabs.hf_oauth import login_button

            with gr.Row(equal_height=True):
                gr.Markdown(f"# {TITLE}\n{TAGLINE}", elem_id="studio-title")
                login_button()
        else:
            gr.Markdown(f"# {TITLE}\n{TAGLINE}", elem_id="studio-title")
        with gr.Tabs():
            with gr.Tab("Voice", id="voice"):
                voice.build(services)
            with gr.Tab("Clone", id="clone"):
                clone.build(services)
            with gr.Tab("Talking Head", id="talking_head"):
                talking_head.build(services)
            with gr.Tab("Music & Lyrics", id="music"):
                music.build(services)
            with gr.Tab("Video", id="video"):
                video.build(services)
            with gr.Tab("Slides", id="slides"):
                slides.build(services)
            with gr.Tab("Projects", id="projects"):
                projects.build(services)
            with gr.Tab("Verify", id="verify"):
                verify.build(services)
            # Shown to admins only (each of its handlers checks again).
            with gr.Tab("Admin", id="admin", visible=False) as admin_tab:
                admin.build(services)

        def show_admin(request: gr.Request):
            return gr.update(visible=admin.is_admin(services, request))

        demo.load(show_admin, None, [admin_tab], api_visibility="private")
    return demo
