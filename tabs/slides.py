"""Slides tab: write an outline (or paste a long text), see the slides as you go, then make the deck:
a .pptx with notes and narration on every slide, and a narrated video, presented by your digital
clone when a portrait is given. Or narrate an existing .pptx."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from services import Services
from tabs.common import (
    LIKENESS_LABEL,
    Downloads,
    actor_from,
    gradio_progress,
    licence_md,
    private_folder,
    stop_button,
    stop_token,
    user_errors,
    wire_stop,
)
from tabs.voice import _voice_choices

EXAMPLE = """# Digital Clone Studio
Your voice, your face, your ideas

## What it does
- Clones a voice from a short recording
- Animates a portrait that speaks
  - on an ordinary computer
- Writes, sings and mixes songs
Notes: Digital Clone Studio turns a photo, a voice sample and an idea into finished media.

## Where the time goes
```chart
type: bar
task, minutes
voice, 1
video, 3
deck, 2
```

## A word from a user
> It sounds like me, and it looks like me.
> — An early user
"""


def build(services: Services) -> None:
    from engines.slides.themes import names as theme_names

    slides, lib = services.slides, services.library

    with gr.Row(equal_height=False):
        with gr.Column(scale=1):
            with gr.Tab("From an outline"):
                outline = gr.Code(label="Outline (Markdown): '# ' title slide, '## ' one slide each, '- ' bullets, "
                                        "tables, ```chart blocks, '> ' quotes, 'Notes:' for speaker notes. "
                                        "Or paste a long text (split into slides), or just a topic (needs a "
                                        "language model: OPENAI_API_KEY)",
                                  value=EXAMPLE, language="markdown", lines=22, elem_id="slides-outline")
                with gr.Row():
                    theme = gr.Radio(label="Theme", choices=theme_names(), value="dark", elem_id="slides-theme")
                    voice = gr.Dropdown(label="Voice", choices=[("Default (embedded)", "default")],
                                        value="default", allow_custom_value=True, elem_id="slides-voice")
                preview_btn = gr.Button("Preview slides", elem_id="slides-preview")
                with gr.Row():
                    make_btn = gr.Button("Make the deck and its video", variant="primary", elem_id="slides-make",
                                         scale=4)
                    make_stop = stop_button("slides-make-stop")
            with gr.Tab("Narrate a .pptx"):
                upload = gr.File(label="PowerPoint deck (.pptx)", file_types=[".pptx"], elem_id="slides-pptx")
                with gr.Row():
                    narrate_btn = gr.Button("Narrate it", variant="primary", elem_id="slides-narrate", scale=4)
                    narrate_stop = stop_button("slides-narrate-stop")
            presenter = gr.Image(label="Presenter (optional): a portrait that presents the deck", type="filepath",
                                 sources=["upload"], elem_id="slides-presenter", height=220)
            likeness = gr.Checkbox(label=LIKENESS_LABEL, elem_id="slides-likeness")
            project = gr.Dropdown(label="Save into project", choices=[("(Unsorted)", 0)], value=0,
                                  info="Image references in the outline name photos in this project")
        with gr.Column(scale=1):
            gallery = gr.Gallery(label="Slides", columns=3, height=360, elem_id="slides-gallery", object_fit="contain")
            video = gr.Video(label="Narrated video", interactive=False, elem_id="slides-video")
            files = gr.File(label="Downloads: .pptx and .mp4", file_count="multiple", interactive=False,
                            elem_id="slides-files")
            info = gr.Markdown(elem_id="slides-info")

    @user_errors
    def on_preview(outline_, theme_, project_, request: gr.Request):
        actor = actor_from(request, services)
        thumbs = slides.preview(outline_, theme_, private_folder(actor), project_, actor)
        return [(str(p), f"Slide {i + 1}") for i, p in enumerate(thumbs)]

    def _show(done, request: gr.Request):
        actor = actor_from(request, services)
        g = done.generation
        deck = next(a for a in done.outputs if a.kind.value == "pptx")
        vid = next(a for a in done.outputs if a.kind.value == "video")
        images = [a for a in done.outputs if a.meta.get("role") == "slide"]
        m = g.metrics
        md = (f"{m['slides']} slides, narration {m['narration_s']:.1f} s, video {m['video_s']:.1f} s; "
              f"made in {g.seconds:.1f} s.")
        md += "\n\n| # | slide | starts at |\n|---|---|---|\n" + "\n".join(
            f"| {t['slide']} | {t['title']} | {t['start_s']:.1f} s |" for t in m.get("timeline", []))
        md += "".join(f"\n> {n}" for n in m.get("notes") or []) + licence_md(g)
        out = Downloads(actor)
        video_copy = out.copy(lib.asset_path(vid), vid.name)
        return ([(out.copy(lib.asset_path(a), a.name), f"Slide {a.meta['slide']}") for a in images],
                video_copy, [out.copy(lib.asset_path(deck), deck.name), video_copy], md)

    @user_errors
    def on_make(outline_, voice_, presenter_, likeness_, theme_, project_, request: gr.Request,
                progress=gr.Progress()):
        face = (presenter_, Path(presenter_).name) if presenter_ else None
        return _show(slides.make_deck(outline_, voice_, face, theme_, project_, likeness_consent=bool(likeness_),
                                      actor=actor_from(request, services),
                                      progress=gradio_progress(progress),
                                      cancel=stop_token(services, request, "deck")), request)

    @user_errors
    def on_narrate(upload_, voice_, presenter_, likeness_, project_, request: gr.Request,
                   progress=gr.Progress()):
        if not upload_:
            raise gr.Error("Upload a .pptx deck first.")
        face = (presenter_, Path(presenter_).name) if presenter_ else None
        return _show(slides.narrate_pptx((upload_, Path(upload_).name), voice_, face, project_,
                                         likeness_consent=bool(likeness_), actor=actor_from(request, services),
                                         progress=gradio_progress(progress),
                                         cancel=stop_token(services, request, "narrate")), request)

    def refresh(request: gr.Request):
        projects = [("(Unsorted)", 0)] + [(f"{p.name} (#{p.id})", p.id)
                                           for p, _ in lib.list_projects(actor_from(request, services))]
        return gr.update(choices=_voice_choices(services, request)), gr.update(choices=projects)

    private = {"api_visibility": "private"}
    preview_btn.click(on_preview, [outline, theme, project], [gallery], concurrency_id="cpu", **private)
    outline.blur(on_preview, [outline, theme, project], [gallery], concurrency_id="cpu",
                 trigger_mode="always_last", **private)
    theme.change(on_preview, [outline, theme, project], [gallery], concurrency_id="cpu",
                 trigger_mode="always_last", **private)
    making = make_btn.click(on_make, [outline, voice, presenter, likeness, theme, project],
                            [gallery, video, files, info], concurrency_id="cpu", **private)
    narrating = narrate_btn.click(on_narrate, [upload, voice, presenter, likeness, project],
                                  [gallery, video, files, info], concurrency_id="cpu", **private)
    wire_stop(services, make_stop, making, "deck")
    wire_stop(services, narrate_stop, narrating, "narrate")
    gr.context.Context.root_block.load(refresh, None, [voice, project], **private)
