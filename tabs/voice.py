"""Voice tab: speak text with a preset or a cloned voice, in a style, with effects; regenerate
one sentence; build and refine voice profiles from recordings or uploads."""

from __future__ import annotations

import gradio as gr

from engines.voice.styles import styles
from services import Services
from storage.voices import profile_json
from tabs.common import (
    actor_from,
    download_copy,
    gradio_progress,
    licence_md,
    stop_button,
    stop_token,
    suggested_md,
    user_errors,
    wire_stop,
)

PROFILE_COLUMNS = ["id", "name", "speaks through", "pitch (Hz)", "speech (s)", "clips", "updated"]


def _voice_choices(services: Services, request: gr.Request | None) -> list[tuple[str, str]]:
    actor = actor_from(request, services)
    out = [("Default (Piper; espeak-ng for other languages)", "default")]
    shared = services.voices.profiles.shared_with(actor)
    out += [(f"{p.name} — cloned voice #{p.id}" + (f", shared by {shared[p.id]}" if p.id in shared else ""),
             f"profile:{p.id}") for p in services.voices.profiles.list(actor)]
    out += [(f"{lang} (embedded)", lang) for lang in ("en-us", "en-gb", "en-us+f2", "en-us+m3", "de", "fr", "es",
                                                      "it", "pt", "nl", "pl", "ru", "tr", "ja", "cmn", "hi")]
    backends = services.backends
    for name in ("bark", "openai"):
        if name in backends.names("voice") and backends.availability("voice", name, services.settings).available:
            out += [(f"{p} ({name})", p) for p in backends.get("voice", name).presets()[:12]]
    return out


def _figures_md(metrics: dict, notes: list[str]) -> str:
    rows = []
    if "similarity" in metrics:
        rows.append(f"| similarity to the voice's reference | **{metrics['similarity']:.2f}** |")
    if metrics.get("word_error_rate") is not None:
        rows.append(f"| words heard right (speech recogniser) | **{1 - min(metrics['word_error_rate'], 1):.0%}** "
                    f"(word error rate {metrics['word_error_rate']:.2f}) |")
    elif metrics.get("words_note"):
        rows.append(f"| words | {metrics['words_note']} |")
    rows += [
        f"| loudness | {metrics.get('loudness_lufs', float('nan')):.1f} LUFS |",
        f"| peak | {metrics.get('peak_dbfs', float('nan')):.1f} dBFS"
        + (" (clipping!)" if metrics.get("clipped_fraction", 0) > 0 else "") + " |",
        f"| signal to noise | {metrics.get('snr_db', 0):.0f} dB |",
        f"| length | {metrics.get('duration_s', 0):.2f} s |",
    ]
    if "real_time_factor" in metrics:
        rows.append(f"| render time | {metrics['seconds_to_render']:.2f} s (RTF {metrics['real_time_factor']:.3f}) |")
    md = "| figure | value |\n|---|---|\n" + "\n".join(rows)
    if notes:
        md += "\n\n" + "\n".join(f"> {n}" for n in notes)
    return md


def build(services: Services) -> None:
    voices = services.voices
    lib = services.library
    style_choices = [(s.label, name) for name, s in styles().items()]

    with gr.Row(equal_height=False):
        with gr.Column(scale=1):
            text = gr.Textbox(label="Text", lines=7, max_lines=30, elem_id="voice-text",
                              placeholder="Type what should be said. Long texts are spoken sentence by sentence.")
            voice = gr.Dropdown(label="Voice", choices=[("Default (embedded)", "default")], value="default",
                                allow_custom_value=True, elem_id="voice-select",
                                info="A cloned voice, a language (de, fr ...), a variant (en-us+f2) or a preset")
            style = gr.Radio(label="Style", choices=style_choices, value="natural", elem_id="voice-style")
            with gr.Row():
                speed = gr.Slider(0.5, 2.0, value=1.0, step=0.05, label="Speed")
                pitch = gr.Slider(-12, 12, value=0, step=0.5, label="Pitch (semitones)")
            suggested = gr.Markdown(elem_id="voice-suggested")
            with gr.Accordion("Backend and effects", open=False):
                backend = gr.Dropdown(label="Backend", choices=["auto", *services.backends.names("voice")],
                                      value="auto")
                reverb = gr.Slider(0, 0.6, value=0, step=0.02, label="Reverb (wet level; 0 = the style's own)")
                bass = gr.Slider(0, 12, value=0, step=0.5, label="Bass boost (dB; 0 = the style's own)")
                loudness = gr.Slider(-30, -9, value=-16, step=0.5, label="Loudness target (LUFS)")
            project = gr.Dropdown(label="Save into project", choices=[], value=None, allow_custom_value=False,
                                  elem_id="voice-project",
                                  info="Empty: the 'Unsorted' project")
            with gr.Row():
                speak_btn = gr.Button("Speak", variant="primary", elem_id="speak-button", scale=4)
                speak_stop = stop_button("speak-stop")
        with gr.Column(scale=1):
            audio = gr.Audio(label="Speech", type="filepath", interactive=False, elem_id="speech-audio")
            figures = gr.Markdown(elem_id="voice-figures")
            generation = gr.State(None)
            with gr.Accordion("Sentences: edit and regenerate one", open=False):
                sentences = gr.Dataframe(headers=["#", "sentence"], value=[], interactive=False, wrap=True)
                with gr.Row():
                    which = gr.Number(label="Sentence #", value=1, precision=0, minimum=1)
                    new_text = gr.Textbox(label="New text (empty: same text again)", max_lines=3)
                regen_btn = gr.Button("Regenerate this sentence")

    with gr.Accordion("Voice profiles: clone a voice", open=False, elem_id="voice-profiles"):
        gr.Markdown("Record or upload 3 s to 2 min of one person speaking (several clips give a closer voice). "
                    "Only clone a voice with its owner's consent.")
        with gr.Row():
            with gr.Column():
                rec = gr.Audio(label="Record or upload a clip", sources=["upload", "microphone"], type="filepath",
                               elem_id="profile-recording")
                more = gr.File(label="More clips (optional)", file_count="multiple", type="filepath")
                prof_name = gr.Textbox(label="Profile name", max_lines=1, elem_id="profile-name")
                consent = gr.Checkbox(label="I have the speaker's consent to clone this voice", elem_id="consent")
                spoken = services.settings.voice_consent == "spoken"
                with gr.Group(visible=spoken, elem_id="spoken-consent"):
                    gr.Markdown("**Spoken consent.** The speaker reads aloud a sentence made for this profile; "
                                "the studio checks the words and that it is the same voice as the clips.")
                    with gr.Row():
                        speaker = gr.Textbox(label="Speaker's name (as they will say it)", max_lines=1,
                                             elem_id="consent-speaker")
                        prompt_btn = gr.Button("Get the sentence to read", elem_id="consent-prompt-button")
                    prompt_text = gr.Textbox(label="Sentence to read aloud", interactive=False, lines=2,
                                             elem_id="consent-prompt")
                    prompt_id = gr.State(None)
                    consent_rec = gr.Audio(label="Record the speaker reading it", sources=["microphone", "upload"],
                                           type="filepath", elem_id="consent-recording")
                    attestation = gr.Textbox(label="Only if the server cannot run speech recognition: type the "
                                                   "sentence (attested, not verified)", max_lines=3,
                                             elem_id="consent-attestation")
                with gr.Row():
                    create_btn = gr.Button("Create profile", variant="primary", elem_id="create-profile")
                    add_btn = gr.Button("Add clips to the selected profile")
            with gr.Column():
                profiles = gr.Dataframe(headers=PROFILE_COLUMNS, value=[], interactive=False,
                                        label="Profiles (select one)", elem_id="profiles-table")
                selected = gr.State(None)
                prof_info = gr.JSON(label="Profile", visible=False, elem_id="profile-info")
                with gr.Row():
                    rename_to = gr.Textbox(label="Rename to", max_lines=1)
                    rename_btn = gr.Button("Rename")
                    delete_btn = gr.Button("Delete profile", variant="stop")
                with gr.Row(visible=services.sign_in):
                    share_user = gr.Textbox(label="Let this user speak with it", max_lines=1,
                                            info="They never get its recordings", elem_id="share-voice-user")
                    share_btn = gr.Button("Share voice", elem_id="share-voice")
                    unshare_btn = gr.Button("Revoke", elem_id="unshare-voice")
        prof_status = gr.Markdown(elem_id="profile-status")

    # ---------------------------------------------------------------- handlers

    def profile_rows(request: gr.Request):
        rows = []
        actor = actor_from(request, services)
        shared = voices.profiles.shared_with(actor)
        for p in voices.profiles.list(actor):
            st = p.stats or {}
            f0 = st.get("f0_median_hz")
            name = f"{p.name} (shared by {shared[p.id]})" if p.id in shared else p.name
            rows.append([p.id, name, p.base_voice, f"{f0:.0f}" if f0 else "", st.get("reference_seconds", ""),
                         len(st.get("clips", [])), p.updated_at.strftime("%Y-%m-%d %H:%M")])
        return rows

    def refresh(request: gr.Request):
        projects = [("(Unsorted)", 0)] + [(f"{p.name} (#{p.id})", p.id)
                                              for p, _ in lib.list_projects(actor_from(request, services))]
        return (gr.update(choices=_voice_choices(services, request)), gr.update(choices=projects),
                profile_rows(request))

    def effect_overrides(reverb_wet, bass_db, lufs) -> dict:
        fx: dict = {"loudness_lufs": float(lufs)}
        if reverb_wet:
            fx["reverb"] = {"room_size": 0.6, "wet_level": float(reverb_wet), "width": 0.8}
        if bass_db:
            fx["bass_boost_db"] = float(bass_db)
        return fx

    def show(done, result, request: gr.Request):
        wav = next(a for a in done.outputs if a.kind.value == "audio")
        path = download_copy(lib.asset_path(wav), wav.name, actor_from(request, services))
        rows = [[i + 1, t.text] for i, t in enumerate(result.takes)]
        return path, _figures_md(result.metrics, result.notes) + licence_md(done.generation), done.generation.id, rows

    @user_errors
    def on_speak(text_, voice_, style_, backend_, speed_, pitch_, reverb_, bass_, lufs_, project_,
                 request: gr.Request, progress=gr.Progress()):
        done, result = voices.speak(text_, voice_, style_, backend_, speed_, pitch_, project_,
                                    effects=effect_overrides(reverb_, bass_, lufs_),
                                    actor=actor_from(request, services), progress=gradio_progress(progress),
                                    cancel=stop_token(services, request, "speak"))
        return show(done, result, request)

    @user_errors
    def on_regenerate(gen_id, index, text_, request: gr.Request, progress=gr.Progress()):
        if not gen_id:
            raise gr.Error("Speak something first; then one of its sentences can be regenerated.")
        done, result = voices.regenerate_sentence(gen_id, int(index or 1), text_ or None,
                                                  actor=actor_from(request, services),
                                                  progress=gradio_progress(progress))
        return show(done, result, request)

    def clip_list(rec_path, more_paths) -> list:
        files = [rec_path] if rec_path else []
        files += list(more_paths or [])
        return [(p, p.rsplit("/", 1)[-1]) for p in files]

    @user_errors
    def on_prompt(speaker_name, request: gr.Request):
        got = voices.consent_prompt(speaker_name or "", actor_from(request, services))
        return got["text"], got["prompt_id"]

    @user_errors
    def on_create(rec_path, more_paths, name, consent_, prompt, consent_path, typed, request: gr.Request,
                  progress=gr.Progress()):
        recording = (consent_path, consent_path.rsplit("/", 1)[-1]) if consent_path else None
        p = voices.create_profile(name, clip_list(rec_path, more_paths), consent_, actor_from(request, services),
                                  gradio_progress(progress), consent_recording=recording, prompt_id=prompt,
                                  attestation=typed or "")
        st = p.stats
        how = {"spoken": "consent spoken and checked", "attested": "consent attested, not verified"}.get(
            p.consent_method, "")
        return (f"Created **{p.name}** (voice `profile:{p.id}`): {st.get('reference_seconds', 0):.1f} s of speech, "
                f"speaks through {p.base_voice}; {how}.", p.id, None)

    @user_errors
    def on_add(selected_id, rec_path, more_paths, request: gr.Request, progress=gr.Progress()):
        if not selected_id:
            raise gr.Error("Select a profile in the table first.")
        p = voices.add_clips(f"profile:{selected_id}", clip_list(rec_path, more_paths), actor_from(request, services),
                             gradio_progress(progress))
        return f"Refined **{p.name}** with the new clips.", p.id

    @user_errors
    def on_select(evt: gr.SelectData, request: gr.Request):
        row = evt.row_value if evt is not None else None
        if not row:
            return None, gr.update(visible=False)
        actor = actor_from(request, services)
        p = voices.profiles.get(row[0], actor, need="speak")
        by = voices.profiles.shared_with(actor).get(p.id)
        return p.id, gr.update(visible=True, value=profile_json(p, [] if by else voices.profiles.files(p.id), by))

    @user_errors
    def on_rename(selected_id, name, request: gr.Request):
        if not selected_id:
            raise gr.Error("Select a profile in the table first.")
        p = voices.profiles.rename(selected_id, name, actor_from(request, services))
        return f"Renamed to **{p.name}**."

    @user_errors
    def on_delete(selected_id, request: gr.Request):
        if not selected_id:
            raise gr.Error("Select a profile in the table first.")
        voices.profiles.delete(selected_id, actor_from(request, services))
        return "Profile deleted.", None, gr.update(visible=False)

    @user_errors
    def on_share(selected_id, username, request: gr.Request):
        if not selected_id:
            raise gr.Error("Select a profile in the table first.")
        services.sharing.share_voice(selected_id, username, actor_from(request, services))
        return f"**{username.strip()}** may now speak with this voice (never read its recordings)."

    @user_errors
    def on_unshare(selected_id, username, request: gr.Request):
        if not selected_id:
            raise gr.Error("Select a profile in the table first.")
        done = services.sharing.unshare_voice(selected_id, username, actor_from(request, services))
        return f"Revoked: **{username.strip()}** can no longer speak with it." if done else \
            f"**{username.strip()}** did not have it."

    private = {"api_visibility": "private"}
    share_btn.click(on_share, [selected, share_user], [prof_status], **private)
    unshare_btn.click(on_unshare, [selected, share_user], [prof_status], **private)
    speaking = speak_btn.click(on_speak, [text, voice, style, backend, speed, pitch, reverb, bass, loudness, project],
                               [audio, figures, generation, sentences], concurrency_id="cpu", **private)
    wire_stop(services, speak_stop, speaking, "speak")
    regen_btn.click(on_regenerate, [generation, which, new_text], [audio, figures, generation, sentences],
                    concurrency_id="cpu", **private)
    refresh_outputs = [voice, project, profiles]
    prompt_btn.click(on_prompt, [speaker], [prompt_text, prompt_id], **private)
    create_btn.click(on_create, [rec, more, prof_name, consent, prompt_id, consent_rec, attestation],
                     [prof_status, selected, prompt_id], concurrency_id="cpu",
                     **private).then(refresh, None, refresh_outputs, **private)
    add_btn.click(on_add, [selected, rec, more], [prof_status, selected], concurrency_id="cpu",
                  **private).then(refresh, None, refresh_outputs, **private)
    profiles.select(on_select, None, [selected, prof_info], **private)
    rename_btn.click(on_rename, [selected, rename_to], [prof_status], **private).then(
        refresh, None, refresh_outputs, **private)
    delete_btn.click(on_delete, [selected], [prof_status, selected, prof_info], **private).then(
        refresh, None, refresh_outputs, **private)
    gr.context.Context.root_block.load(refresh, None, refresh_outputs, **private)
    gr.context.Context.root_block.load(user_errors(lambda request: suggested_md(services, request, "speak")),
                                       None, [suggested], **private)
