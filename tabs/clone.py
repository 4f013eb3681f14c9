"""Clone tab: a portrait, a voice sample and an idea -> a finished video (explainer, announcement), with its
script to read and edit: making it again after an edit redoes only the parts that changed."""

from __future__ import annotations

import gradio as gr

from services import Services
from tabs.common import (
    LIKENESS_LABEL,
    actor_from,
    download_copy,
    gradio_progress,
    licence_md,
    stop_button,
    stop_token,
    user_errors,
    wire_stop,
    with_sidecars,
)
from tabs.voice import _voice_choices

KINDS = [("Explainer: you beside slides of the points", "explainer"),
         ("Announcement: you over a scene", "announcement"),
         ("Music video: you sing a song on the idea", "music_video")]
STAGE_NAMES = {"script": "script", "voice": "voice", "speech": "speech", "song": "song", "slides": "slides",
               "head": "talking head", "music": "music", "mix": "mix", "video": "video"}


def _music_choices() -> list[tuple[str, str]]:
    from engines.music.styles import style_names

    return [(n.replace("_", " ").capitalize(), n) for n in style_names()] + [("No music", "none")]


def _figures_md(g) -> str:
    m = g.metrics
    seconds = m.get("stage_seconds", {})
    reused = m.get("stages_reused", {})
    run = m.get("stages_run", {})
    rows = []
    for k, label in STAGE_NAMES.items():
        if k not in seconds:
            continue
        kept = reused.get(k, 0)
        made = run.get(k, 0)
        how = f"{kept} kept, {made} made" if (kept or made) and k in ("speech", "head") else \
            ("kept from before" if kept and not made else "made")
        rows.append(f"| {label} | {seconds[k]:.1f} s | {how} |")
    md = (f"**{m.get('duration_s', 0):.1f} s video** in {g.seconds:.1f} s. Speech heard back by the recogniser: "
          f"word error rate {m.get('word_error_rate')}, voice similarity {m.get('similarity')}.\n\n"
          "| stage | time | |\n|---|---|---|\n" + "\n".join(rows))
    notes = m.get("notes") or []
    return md + "".join(f"\n> {n}" for n in notes) + licence_md(g)


def build(services: Services) -> None:
    clones, lib = services.clones, services.library

    with gr.Row(equal_height=False):
        with gr.Column(scale=1):
            portrait = gr.Image(label="Portrait", type="filepath", sources=["upload"], elem_id="clone-portrait")
            sample = gr.Audio(label="Voice sample (3 s to 2 min of the person speaking)", type="filepath",
                              sources=["upload", "microphone"], elem_id="clone-voice")
            voice_name = gr.Dropdown(label="...or a saved voice", choices=[("Default (embedded)", "default")],
                                     value=None, allow_custom_value=True, elem_id="clone-voice-name")
            likeness = gr.Checkbox(label=LIKENESS_LABEL, elem_id="clone-likeness")
        with gr.Column(scale=1):
            idea = gr.Textbox(label="Idea, text or script", lines=8, elem_id="clone-idea",
                              placeholder="What the video is about, e.g. 'why bees matter for our food'; or paste a "
                                          "text; or write the script ('# Title', '## Point', 'Notes: what is said').")
            kind = gr.Radio(label="Kind", choices=KINDS, value="explainer", elem_id="clone-kind")
            with gr.Row():
                length = gr.Slider(10, 300, value=60, step=5, label="Length (seconds)", elem_id="clone-length")
                music = gr.Dropdown(label="Music bed", choices=_music_choices(), value="emotional",
                                    elem_id="clone-music")
            with gr.Row():
                captions = gr.Checkbox(label="Captions", value=True, elem_id="clone-captions")
                size = gr.Dropdown(label="Size", choices=["1280x720", "1920x1080", "1080x1920"], value="1280x720")
            project = gr.Dropdown(label="Save into project", choices=[("(Unsorted)", 0)], value=0)
            with gr.Row():
                write = gr.Button("Write the script", elem_id="clone-write")
                go = gr.Button("Make the video", variant="primary", elem_id="clone-button", scale=3)
                go_stop = stop_button("clone-stop")
        with gr.Column(scale=1):
            video = gr.Video(label="Your clone video", interactive=False, elem_id="clone-video")
            parts = gr.File(label="Parts: script, narration, music, talking head, captions", file_count="multiple",
                            interactive=False, elem_id="clone-parts")
            info = gr.Markdown(elem_id="clone-info")

    @user_errors
    def on_write(idea_, kind_, length_, request: gr.Request):
        actor_from(request, services)
        return clones.write_script(idea_ or "", kind_, float(length_))

    @user_errors
    def on_make(portrait_, sample_, voice_name_, likeness_, idea_, kind_, length_, music_, captions_, size_, project_,
                request: gr.Request, progress=gr.Progress()):
        if not portrait_:
            raise gr.Error("Upload a portrait first.")
        actor = actor_from(request, services)
        done = clones.make((portrait_, portrait_.rsplit("/", 1)[-1]), voice_name_ or "default", idea_ or "", kind_,
                           float(length_), music_, "", size_, bool(captions_), project_,
                           voice_sample=(sample_, sample_.rsplit("/", 1)[-1]) if sample_ else None,
                           likeness_consent=bool(likeness_), actor=actor, progress=gradio_progress(progress),
                           cancel=stop_token(services, request, "clone"))
        vid = next(a for a in done.outputs if a.meta.get("role") == "video")
        roles = ("script", "narration", "music", "head", "captions")
        parts = with_sidecars([a for a in done.outputs if a.meta.get("role") in roles], done.outputs)
        files = [download_copy(lib.asset_path(a), a.name, actor) for a in parts]
        script = next((a for a in done.outputs if a.meta.get("role") == "script"), None)
        text = lib.asset_path(script).read_text(encoding="utf-8") if script else idea_
        return download_copy(lib.asset_path(vid), vid.name, actor), files, _figures_md(done.generation), text

    def refresh(request: gr.Request):
        projects = [("(Unsorted)", 0)] + [(f"{p.name} (#{p.id})", p.id)
                                           for p, _ in lib.list_projects(actor_from(request, services))]
        return gr.update(choices=_voice_choices(services, request)), gr.update(choices=projects)

    private = {"api_visibility": "private"}
    write.click(on_write, [idea, kind, length], [idea], **private)
    making = go.click(on_make, [portrait, sample, voice_name, likeness, idea, kind, length, music, captions, size,
                                project], [video, parts, info, idea], concurrency_id="cpu", **private)
    wire_stop(services, go_stop, making, "clone")
    gr.context.Context.root_block.load(refresh, None, [voice_name, project], **private)
