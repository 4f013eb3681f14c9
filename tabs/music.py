"""Music & Lyrics tab: theme -> lyrics (editable) -> composed, sung, mixed and mastered song;
a mixing console that re-mixes the stored stems without composing again."""

from __future__ import annotations

import json

import gradio as gr

from services import Services
from tabs.common import (
    Downloads,
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

MIX_COLUMNS = ["stem", "gain_db", "pan", "eq_low_db", "eq_mid_db", "eq_high_db", "reverb", "compression", "mute"]


def mix_table(settings: dict) -> list[list]:
    """Mix settings (as stored) -> rows of the mixing console."""
    rows = []
    for stem, t in (settings.get("tracks") or {}).items():
        rows.append([stem] + [t.get(c, 0.0) for c in MIX_COLUMNS[1:-1]] + [bool(t.get("mute", False))])
    return rows


def mix_json(rows, master_lufs: float) -> str:
    """Rows of the mixing console -> the JSON /mix takes."""
    values = rows.values.tolist() if hasattr(rows, "values") else list(rows or [])
    tracks = {}
    for row in values:
        if not row or not str(row[0]).strip():
            continue
        t = {}
        for col, v in zip(MIX_COLUMNS[1:], row[1:]):
            if col == "mute":
                t[col] = str(v).strip().lower() in ("true", "1", "yes")
            else:
                try:
                    t[col] = float(v)
                except (TypeError, ValueError):
                    raise gr.Error(f"{col} of track {row[0]!r} must be a number, got {v!r}") from None
        tracks[str(row[0])] = t
    return json.dumps({"tracks": tracks, "master": {"target_lufs": float(master_lufs)}})


def song_md(g) -> str:
    m = g.metrics
    secs = m.get("seconds") or {}
    rows = [f"| song | #{g.id} |", f"| tempo | {m.get('bpm', 0):.0f} bpm |", f"| key | {m.get('key', '')} |",
            f"| loudness | {m.get('lufs', float('nan')):.1f} LUFS |",
            f"| true peak | {m.get('true_peak_dbtp', float('nan')):.1f} dBTP |",
            f"| made in | {g.seconds:.1f} s" + (" (" + ", ".join(f"{k} {v:.1f}" for k, v in secs.items()) + ")"
                                                if secs else "") + " |"]
    md = "| | |\n|---|---|\n" + "\n".join(rows)
    notes = m.get("notes") or []
    return md + ("\n\n" + "\n".join(f"> {n}" for n in notes) if notes else "") + licence_md(g)


def build(services: Services) -> None:
    from engines.music.sing import vocal_style_names
    from engines.music.styles import styles

    music, lib = services.music, services.library
    style_choices = [(s.label, name) for name, s in styles().items()]

    with gr.Row(equal_height=False):
        with gr.Column(scale=1):
            theme = gr.Textbox(label="Theme", lines=2, elem_id="music-theme",
                               placeholder="What is the song about? e.g. a knight returning home after the war")
            with gr.Row():
                title = gr.Textbox(label="Title", elem_id="music-title")
                mood = gr.Textbox(label="Mood", placeholder="e.g. hopeful, defiant")
            music_style = gr.Dropdown(label="Music style", choices=style_choices, value="epic",
                                      elem_id="music-style")
            with gr.Row():
                voice_style = gr.Dropdown(label="Vocal style", choices=vocal_style_names(), value="heroic_male",
                                          elem_id="music-voice-style")
                voice = gr.Dropdown(label="Voice", choices=[("Default (embedded)", "default")], value="default",
                                    allow_custom_value=True, elem_id="music-voice",
                                    info="A cloned voice sings in its own timbre")
            with gr.Row():
                duration = gr.Slider(10, 600, value=60, step=5, label="Length (s)")
                bpm = gr.Number(label="Tempo (bpm, 0 = the style's)", value=0, precision=0, minimum=0)
                seed = gr.Number(label="Seed", value=0, precision=0, minimum=0)
            backend = gr.Radio(label="Instrumental", value="embedded", elem_id="music-backend",
                               choices=[("Embedded composer (FluidSynth)", "embedded"),
                                        ("MusicGen (needs its weights)", "musicgen")])
            project = gr.Dropdown(label="Save into project", choices=[("(Unsorted)", 0)], value=0,
                                  elem_id="music-project")
            write_btn = gr.Button("Write lyrics", elem_id="write-lyrics")
            lyrics = gr.Textbox(label="Lyrics (edit freely; [Verse], [Chorus], [Bridge] mark the sections)",
                                lines=14, max_lines=40, elem_id="music-lyrics")
            with gr.Row():
                compose_btn = gr.Button("Compose the song", variant="primary", elem_id="compose-button", scale=4)
                compose_stop = stop_button("compose-stop")
        with gr.Column(scale=1):
            song = gr.Audio(label="Song", type="filepath", interactive=False, elem_id="song-audio",
                            waveform_options=gr.WaveformOptions(waveform_color="#8a7330",
                                                                waveform_progress_color="#d4af37"))
            info = gr.Markdown(elem_id="song-info")
            lrc = gr.Textbox(label="Lyrics with timestamps (LRC)", lines=6, interactive=False, elem_id="song-lrc")
            files = gr.File(label="Downloads: MP3, WAV, stems, MIDI, LRC", file_count="multiple", interactive=False,
                            elem_id="song-files")
            song_id = gr.State(None)
            with gr.Accordion("Mixing console", open=False, elem_id="mixer"):
                console = gr.Dataframe(headers=MIX_COLUMNS, value=[], interactive=True, elem_id="mixer-table",
                                       datatype=["str", "number", "number", "number", "number", "number", "number",
                                                 "number", "bool"])
                with gr.Row():
                    master_lufs = gr.Slider(-23, -9, value=-14, step=0.5, label="Master loudness (LUFS)")
                    remix_btn = gr.Button("Re-mix", elem_id="remix-button")

    @user_errors
    def on_write(theme_, title_, style_, mood_, seed_, project_, request: gr.Request):
        done, text = music.write_lyrics(theme_, title_, style_, mood_, seed=int(seed_ or 0), project_id=project_,
                                        actor=actor_from(request, services))
        notes = done.generation.metrics.get("notes") or []
        if notes:
            gr.Info(" ".join(notes))
        return text

    @user_errors
    def on_compose(theme_, title_, lyrics_, style_, vstyle_, voice_, dur_, bpm_, seed_, backend_, project_,
                   request: gr.Request, progress=gr.Progress()):
        actor = actor_from(request, services)
        done, res = music.compose(theme_, title_, lyrics_, style_, vstyle_, voice_, float(dur_), float(bpm_ or 0),
                                  int(seed_ or 0), project_, backend=backend_, actor=actor,
                                  progress=gradio_progress(progress), cancel=stop_token(services, request, "compose"))
        g = done.generation
        by_role = {}
        for a in done.outputs:
            by_role.setdefault(a.meta.get("role", ""), []).append(a)
        out = Downloads(actor)
        song_file = out.copy(lib.asset_path(by_role["song"][0]), by_role["song"][0].name)
        stems_zip = music.stems_zip(g.id, out.folder / f"song {g.id} stems.zip", actor)
        # The MIDI's and the LRC's Content Credentials are in sidecars (.c2pa): they go with them.
        given = with_sidecars([a for role in ("song-mp3", "song", "midi", "lrc") for a in by_role.get(role, [])],
                              done.outputs)
        downloads = [out.copy(lib.asset_path(a), a.name) for a in given]
        downloads.insert(2, str(stems_zip))
        return (song_file, song_md(g), res.lrc, downloads, g.id, mix_table(g.metrics.get("mix_settings") or {}),
                res.lyrics_text)

    @user_errors
    def on_remix(song_id_, rows, lufs, request: gr.Request, progress=gr.Progress()):
        if not song_id_:
            raise gr.Error("Compose a song first: the console re-mixes its stems.")
        actor = actor_from(request, services)
        done = music.mix(song_id_, mix_json(rows, lufs), actor=actor, progress=gradio_progress(progress))
        out = done.outputs[0]
        m = done.generation.metrics
        return (download_copy(lib.asset_path(out), out.name, actor),
                f"Re-mixed: {m['lufs']:.1f} LUFS, true peak {m['true_peak_dbtp']:.1f} dBTP."
                + licence_md(done.generation))

    def refresh(request: gr.Request):
        projects = [("(Unsorted)", 0)] + [(f"{p.name} (#{p.id})", p.id)
                                           for p, _ in lib.list_projects(actor_from(request, services))]
        voices = [c for c in _voice_choices(services, request) if "(bark)" not in c[0] and "(openai)" not in c[0]]
        voices[0] = ("Default (the style's embedded singer)", "default")
        return gr.update(choices=voices), gr.update(choices=projects)

    private = {"api_visibility": "private"}
    write_btn.click(on_write, [theme, title, music_style, mood, seed, project], [lyrics], **private)
    composing = compose_btn.click(on_compose, [theme, title, lyrics, music_style, voice_style, voice, duration, bpm,
                                               seed, backend, project],
                                  [song, info, lrc, files, song_id, console, lyrics], concurrency_id="cpu", **private)
    wire_stop(services, compose_stop, composing, "compose")
    remix_btn.click(on_remix, [song_id, console, master_lufs], [song, info], concurrency_id="cpu", **private)
    gr.context.Context.root_block.load(refresh, None, [voice, project], **private)
