"""Talking Head tab: a portrait plus an audio file (or text and a voice) -> a talking video."""

from __future__ import annotations

import gradio as gr
from PIL import Image

from engines.talking_head.preview import preview
from services import Services
from tabs.common import (
    LIKENESS_LABEL,
    actor_from,
    download_copy,
    gradio_progress,
    licence_md,
    private_folder,
    stop_button,
    stop_token,
    user_errors,
    wire_stop,
)
from tabs.voice import _voice_choices


def build(services: Services) -> None:
    heads, lib = services.talking_heads, services.library

    with gr.Row(equal_height=False):
        with gr.Column(scale=1):
            portrait = gr.Image(label="Portrait", type="filepath", sources=["upload"], elem_id="th-portrait")
            face = gr.Image(label="Detected face and mouth", interactive=False, elem_id="th-face")
            face_notes = gr.Markdown(elem_id="th-face-notes")
        with gr.Column(scale=1):
            with gr.Tab("Speech from audio"):
                audio = gr.Audio(label="Speech", type="filepath", sources=["upload", "microphone"],
                                 elem_id="th-audio")
            with gr.Tab("Speech from text"):
                text = gr.Textbox(label="Text", lines=4, elem_id="th-text",
                                  placeholder="Used when no audio is given: the voice speaks it first.")
                voice = gr.Dropdown(label="Voice", choices=[("Default (embedded)", "default")], value="default",
                                    allow_custom_value=True, elem_id="th-voice")
            with gr.Row():
                size = gr.Radio(label="Size", choices=[("256", "256"), ("512", "512"), ("Original", "original")],
                                value="512")
                fps = gr.Radio(label="Frames per second", choices=[25, 30], value=25)
            with gr.Row():
                expression = gr.Slider(0, 2, value=1.0, step=0.1, label="Expression strength")
                motion = gr.Slider(0, 2, value=1.0, step=0.1, label="Head motion")
            with gr.Row():
                still = gr.Checkbox(label="Still (no head motion)")
                crop = gr.Checkbox(label="Crop to the face")
            likeness = gr.Checkbox(label=LIKENESS_LABEL, elem_id="th-likeness")
            project = gr.Dropdown(label="Save into project", choices=[("(Unsorted)", 0)], value=0)
            with gr.Row():
                go = gr.Button("Make the video", variant="primary", elem_id="th-button", scale=4)
                go_stop = stop_button("th-stop")
        with gr.Column(scale=1):
            video = gr.Video(label="Talking head", interactive=False, elem_id="th-video")
            info = gr.Markdown(elem_id="th-info")

    @user_errors
    def on_portrait(path, request: gr.Request):
        if not path:
            return None, ""
        img, notes = preview(path, services.settings.max_image_pixels)
        # A file in the user's own folder: an array would be cached where anyone with its URL could fetch it.
        shown = private_folder(actor_from(request, services)) / "face.png"
        Image.fromarray(img).save(shown)
        return str(shown), "\n".join(f"> {n}" for n in notes) or "One face found: gold lines show the lips and eyes."

    @user_errors
    def on_make(portrait_, audio_, text_, voice_, size_, fps_, expr_, motion_, still_, crop_, likeness_, project_,
                request: gr.Request, progress=gr.Progress()):
        if not portrait_:
            raise gr.Error("Upload a portrait first.")
        done = heads.render((portrait_, portrait_.rsplit("/", 1)[-1]),
                            (audio_, audio_.rsplit("/", 1)[-1]) if audio_ else None, text_ or "", voice_,
                            size_, int(fps_), bool(still_), project_, expression=expr_, head_motion=motion_,
                            crop=bool(crop_), likeness_consent=bool(likeness_), actor=actor_from(request, services),
                            progress=gradio_progress(progress),
                            cancel=stop_token(services, request, "talking_head"))
        vid = next(a for a in done.outputs if a.kind.value == "video")
        g = done.generation
        notes = g.metrics.get("notes") or []
        md = (f"{vid.width}x{vid.height}, {g.metrics['frames']} frames, {vid.duration_s:.2f} s, "
              f"rendered in {g.seconds:.1f} s by the {g.backend} engine.")
        md += "".join(f"\n> {n}" for n in notes) + licence_md(g)
        return download_copy(lib.asset_path(vid), vid.name, actor_from(request, services)), md

    def refresh(request: gr.Request):
        projects = [("(Unsorted)", 0)] + [(f"{p.name} (#{p.id})", p.id)
                                           for p, _ in lib.list_projects(actor_from(request, services))]
        return gr.update(choices=_voice_choices(services, request)), gr.update(choices=projects)

    private = {"api_visibility": "private"}
    portrait.change(on_portrait, [portrait], [face, face_notes], **private)
    making = go.click(on_make, [portrait, audio, text, voice, size, fps, expression, motion, still, crop, likeness,
                                project],
                      [video, info], concurrency_id="cpu", **private)
    wire_stop(services, go_stop, making, "talking_head")
    gr.context.Context.root_block.load(refresh, None, [voice, project], **private)
