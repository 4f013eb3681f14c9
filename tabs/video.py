"""Video tab: photos to video, scene templates moving to audio (with captions and visualisers), and
music videos from stored songs."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from services import Services
from tabs.common import (
    Downloads,
    actor_from,
    gradio_progress,
    licence_md,
    stop_button,
    stop_token,
    user_errors,
    wire_stop,
)

SIZES = [("720p (1280x720)", "1280x720"), ("1080p (1920x1080)", "1920x1080"), ("Square (1080x1080)", "1080x1080"),
         ("Vertical (1080x1920)", "1080x1920")]
VISUALISERS = [("None", ""), ("Spectrum bars", "bars"), ("Waveform", "waveform"), ("Circular spectrum", "circle")]


def build(services: Services) -> None:
    from engines.video.scenes import template_names

    video, lib = services.video, services.library
    templates = template_names()

    with gr.Row(equal_height=False):
        with gr.Column(scale=1):
            gallery = gr.Gallery(label="Scene templates (click one to choose it)", columns=3, height=170,
                                 allow_preview=False, elem_id="video-templates")
            template = gr.Radio(label="Template", choices=templates, value=templates[0], elem_id="video-template")
            with gr.Row():
                size = gr.Dropdown(label="Size", choices=SIZES, value="1280x720", allow_custom_value=True,
                                   elem_id="video-size")
                fps = gr.Radio(label="Frames per second", choices=[24, 25, 30], value=30)
            project = gr.Dropdown(label="Save into project", choices=[("(Unsorted)", 0)], value=0)
            with gr.Tab("Scene video"):
                audio = gr.Audio(label="Audio (music or speech)", type="filepath", sources=["upload"],
                                 elem_id="video-audio")
                photos = gr.File(label="Photos under the scene (optional)", file_count="multiple",
                                 file_types=["image"], elem_id="video-photos")
                with gr.Row():
                    head = gr.Video(label="Talking head over the scene (optional; its speech is the soundtrack "
                                          "when no audio is given)", sources=["upload"], elem_id="video-head")
                    head_pos = gr.Radio(label="Talking head position", value="bottom-right",
                                        choices=["bottom-right", "bottom-left", "top-right", "top-left", "full"])
                with gr.Row():
                    captions_on = gr.Checkbox(label="Captions", value=True)
                    captions_auto = gr.Checkbox(
                        label="Captions from the audio", value=False, elem_id="video-captions-auto",
                        info="Recognise the spoken or sung words and caption them word by word (when no "
                             "captions are typed below)")
                captions = gr.Textbox(label="Captions: LRC lines ([mm:ss.xx] text) or plain text spread over the audio",
                                      lines=5, elem_id="video-captions")
                visualiser = gr.Dropdown(label="Visualiser", choices=VISUALISERS, value="")
                with gr.Row():
                    scene_btn = gr.Button("Make the scene video", variant="primary", elem_id="scene-button", scale=4)
                    scene_stop = stop_button("scene-stop")
            with gr.Tab("Photos to video"):
                slide_photos = gr.File(label="Photos", file_count="multiple", file_types=["image"],
                                       elem_id="i2v-photos")
                slide_audio = gr.Audio(label="Soundtrack (optional: sets the length)", type="filepath",
                                       sources=["upload"])
                seconds = gr.Slider(1, 20, value=4, step=0.5, label="Seconds per photo (without a soundtrack)")
                with gr.Row():
                    i2v_btn = gr.Button("Make the photo video", variant="primary", elem_id="i2v-button", scale=4)
                    i2v_stop = stop_button("i2v-stop")
            with gr.Tab("Music video"):
                song = gr.Dropdown(label="Song", choices=[], elem_id="mv-song",
                                   info="Songs made in the Music & Lyrics tab")
                with gr.Row():
                    mv_btn = gr.Button("Make the music video", variant="primary", elem_id="mv-button", scale=4)
                    mv_stop = stop_button("mv-stop")
        with gr.Column(scale=1):
            player = gr.Video(label="Video", interactive=False, elem_id="video-player")
            info = gr.Markdown(elem_id="video-info")
            files = gr.File(label="Downloads", file_count="multiple", interactive=False, elem_id="video-files")

    def _show(done, request: gr.Request):
        actor = actor_from(request, services)
        vid = next(a for a in done.outputs if a.kind.value == "video")
        g = done.generation
        out = Downloads(actor)
        copies = [out.copy(lib.asset_path(a), a.name) for a in done.outputs]
        md = (f"{vid.width}x{vid.height}, {vid.meta.get('fps')} fps, {vid.duration_s:.2f} s, "
              f"made in {g.seconds:.1f} s.")
        md += "".join(f"\n> {n}" for n in (g.metrics.get("notes") or [])) + licence_md(g)
        return copies[0], md, copies

    def _files(items) -> list[tuple[Path, str]]:
        return [(Path(p), Path(p).name) for p in (items or [])]

    @user_errors
    def on_scene(audio_, photos_, head_, head_pos_, cap_on, cap_auto, captions_, visualiser_, template_, size_,
                 fps_, project_, request: gr.Request, progress=gr.Progress()):
        if not audio_ and not head_:
            raise gr.Error("Upload the audio the scene moves to (or a talking-head video).")
        done = video.scene_video((Path(audio_), Path(audio_).name) if audio_ else None, template_, _files(photos_),
                                 captions_ if cap_on else "", size_, int(fps_), project_,
                                 visualiser=visualiser_ or None,
                                 talking_head=(Path(head_), Path(head_).name) if head_ else None,
                                 presenter_position=head_pos_, captions_from_audio=bool(cap_auto),
                                 actor=actor_from(request, services), progress=gradio_progress(progress),
                                 cancel=stop_token(services, request, "scene"))
        return _show(done, request)

    @user_errors
    def on_i2v(photos_, audio_, seconds_, size_, fps_, project_, request: gr.Request,
               progress=gr.Progress()):
        done = video.image_to_video(_files(photos_), (Path(audio_), Path(audio_).name) if audio_ else None,
                                    float(seconds_), size_, int(fps_), project_, actor=actor_from(request, services),
                                    progress=gradio_progress(progress), cancel=stop_token(services, request, "i2v"))
        return _show(done, request)

    @user_errors
    def on_mv(song_, template_, size_, fps_, request: gr.Request, progress=gr.Progress()):
        if not song_:
            raise gr.Error("Choose a song (make one in the Music & Lyrics tab first).")
        done = video.music_video(int(song_), template_, size_, fps=int(fps_), actor=actor_from(request, services),
                                 progress=gradio_progress(progress), cancel=stop_token(services, request, "mv"))
        return _show(done, request)

    def on_pick(evt: gr.SelectData):
        return templates[evt.index]

    def refresh(request: gr.Request):
        from engines.video.previews import template_preview

        actor = actor_from(request, services)
        projects = lib.list_projects(actor)
        choices = [("(Unsorted)", 0)] + [(f"{p.name} (#{p.id})", p.id) for p, _ in projects]
        songs = [(f"#{g['id']} {g['params'].get('title') or g['params'].get('theme', '')[:40]} ({p.name})", g["id"])
                 for p, _ in projects for g in lib.list_generations(p.id, actor)
                 if g["kind"] == "song" and g["status"] == "succeeded"]
        previews = [(template_preview(name), name) for name in templates]
        return gr.update(choices=choices), gr.update(choices=songs), previews

    private = {"api_visibility": "private"}
    gallery.select(on_pick, None, [template], **private)
    scene = scene_btn.click(on_scene, [audio, photos, head, head_pos, captions_on, captions_auto, captions,
                                       visualiser, template, size, fps, project],
                            [player, info, files], concurrency_id="cpu", **private)
    i2v = i2v_btn.click(on_i2v, [slide_photos, slide_audio, seconds, size, fps, project], [player, info, files],
                        concurrency_id="cpu", **private)
    mv = mv_btn.click(on_mv, [song, template, size, fps], [player, info, files], concurrency_id="cpu", **private)
    for button, event, action in ((scene_stop, scene, "scene"), (i2v_stop, i2v, "i2v"), (mv_stop, mv, "mv")):
        wire_stop(services, button, event, action)
    gr.context.Context.root_block.load(refresh, None, [project, song, gallery], **private)
