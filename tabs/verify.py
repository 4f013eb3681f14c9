"""Verify tab: was this file made here? Its Content Credentials and the studio's watermark, read back."""

from __future__ import annotations

import gradio as gr

from services import Services
from tabs.common import actor_from, uploaded_file, user_errors

# What the checker takes: anything the studio makes, and the sidecar manifests of its text and data files.
TEXT_TYPES = [".txt", ".md", ".lrc", ".srt", ".vtt", ".json", ".mid"]
SIDECAR_TYPES = [".c2pa"]
FILE_TYPES = [".wav", ".flac", ".mp3", ".m4a", ".aac", ".ogg", ".mp4", ".mov", ".webm", ".mkv", ".png", ".jpg",
              ".jpeg", ".webp", ".pptx", *TEXT_TYPES, *SIDECAR_TYPES]
# What a sidecar says of the file it was given with.
CONTENT = {"matches": "the file is unchanged since it was signed",
           "changed": "the file was changed after it was signed (its hash differs)",
           "not given": "read alone: give the file it is for too, to check it is unchanged"}


def _mark_line(what: str, reading: dict, threshold) -> str:
    return (f"- **{what}**: {'found' if reading.get('found') else 'not found'} "
            f"(score {reading.get('confidence')}, {threshold} needed)")


def verdict_markdown(report: dict) -> str:
    """The report as a person reads it: the verdict first, then what each mark said."""
    lines = [f"### {'Made here' if report.get('made_here') else 'Not made here'}", report.get("verdict", "")]
    if report.get("made_here"):
        facts = [("Generation", report.get("generation_id")), ("Kind", report.get("kind")),
                 ("Made", report.get("made_at")), ("By", report.get("made_by")), ("Model", report.get("model")),
                 ("Model licence", report.get("model_licence")), ("Licence flag", report.get("licence_note"))]
        lines += [f"- **{k}**: {v}" for k, v in facts if v not in (None, "")]
    cc = report.get("content_credentials")
    if cc:
        state = cc.get("state") or ("unreadable" if cc.get("problem") else "")
        note = " (signed with the studio's self-made test chain)" if cc.get("signed_with_test_chain") else ""
        where = " (sidecar)" if cc.get("sidecar") else ""
        lines.append(f"- **Content Credentials{where}**: {state}{note}; signer {cc.get('signer') or 'unknown'}"
                     + ("; AI-generated" if cc.get("ai_generated") else ""))
        if cc.get("content"):
            lines.append(f"- **Content**: {CONTENT.get(cc['content'], cc['content'])}")
    else:
        lines.append("- **Content Credentials**: none in this file (re-encoding removes them)")
    audio, picture = report.get("watermark"), report.get("video_watermark")
    if audio:
        lines.append(_mark_line("Audio watermark", audio, report.get("threshold", 6.0)))
    elif not (cc or {}).get("sidecar"):  # text carries no watermark: nothing to say of one
        lines.append("- **Audio watermark**: not read (no sound of at least 5 s)")
    if picture:
        lines.append(_mark_line("Picture watermark", picture, picture.get("threshold")))
    if report.get("warning"):
        lines.append(f"\n> {report['warning']}")
    return "\n".join(lines)


def build(services: Services) -> None:
    gr.Markdown("Check a file found anywhere: a copy of your clone, a song, a video or a deck. Content "
                "Credentials say who made it when they are still in the file; the sound's watermark survives MP3 "
                "and AAC re-encoding, resampling and excerpts of 10 s, the picture's re-encoding, scaling and "
                "10 % crops. Lyrics, subtitles, MIDI and other text or data files keep theirs in a sidecar "
                "(`<name>.c2pa`, downloaded with them): give both, or the sidecar alone. Who made it is shown "
                "only to them and to admins.")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1):
            file = gr.File(label="File to check", file_types=FILE_TYPES, type="filepath", elem_id="verify-file")
            sidecar = gr.File(label="Its Content Credentials sidecar (.c2pa), for a text or data file",
                              file_types=SIDECAR_TYPES, type="filepath", elem_id="verify-sidecar")
            go = gr.Button("Check", variant="primary", elem_id="verify-button")
        with gr.Column(scale=2):
            verdict = gr.Markdown(elem_id="verify-verdict")
            with gr.Accordion("Details", open=False):
                details = gr.JSON(elem_id="verify-details")

    @user_errors
    def on_check(path, sidecar_path, request: gr.Request):
        if not path and not sidecar_path:
            raise gr.Error("Choose a file to check first.")
        actor = actor_from(request, services)
        local, name = uploaded_file(path or sidecar_path, "file", actor)
        side, side_name = uploaded_file(sidecar_path, "sidecar", actor) if path and sidecar_path else (None, "")
        report = services.verify_media(local, name, actor, side, side_name)
        return verdict_markdown(report), report

    go.click(on_check, [file, sidecar], [verdict, details], concurrency_id="cpu", api_visibility="private")
