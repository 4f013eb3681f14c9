"""The public client API for projects and media (names and parameters are a stable contract).

    /create_project(name) -> project JSON with an "id"
    /upload_media(project_id, file) -> asset JSON
    /list_assets(project_id) -> list of asset JSON
    /list_generations(project_id) -> list of generation JSON
    /export_project(project_id) -> zip file
    /import_project(file) -> project JSON
    /capabilities() -> engines/backends and their availability
    /cancel(generation_id) -> {"generation_id", "stopping", "status"}: stop a running generation
"""

from __future__ import annotations

import tempfile

import gradio as gr
from gradio import FileData
from gradio.utils import get_upload_folder

from services import Services
from storage.library import asset_json, project_json
from tabs.common import actor_from, uploaded_file, user_errors


def register(services: Services) -> None:
    lib = services.library

    @user_errors
    def create_project(name: str, request: gr.Request = None) -> dict:
        """Create a project. Returns it as JSON with its id."""
        return project_json(lib.create_project(name, actor_from(request)), 0)

    @user_errors
    def list_projects(request: gr.Request = None) -> list[dict]:
        """All projects, most recently changed first."""
        return [project_json(p, n) for p, n in lib.list_projects(actor_from(request))]

    @user_errors
    def upload_media(project_id: int, file: FileData, request: gr.Request = None) -> dict:
        """Add a file (text, photo, audio, video or .pptx) to a project. Returns the stored asset."""
        path, name = uploaded_file(file)
        return asset_json(lib.add_upload(project_id, path, name, actor_from(request)))

    @user_errors
    def list_assets(project_id: int, request: gr.Request = None) -> list[dict]:
        """The project's assets with their metadata."""
        return [asset_json(a) for a in lib.list_assets(project_id, actor_from(request))]

    @user_errors
    def list_generations(project_id: int, request: gr.Request = None) -> list[dict]:
        """The project's generations (newest first) with status, progress, parameters and timings."""
        return lib.list_generations(project_id, actor_from(request))

    @user_errors
    def export_project(project_id: int, request: gr.Request = None) -> FileData:
        """The project as a zip: its media and a JSON manifest."""
        out = lib.export_project(project_id, tempfile.mkdtemp(prefix="export-", dir=get_upload_folder()),
                                 actor_from(request))
        return FileData(path=str(out), orig_name=out.name)

    @user_errors
    def import_project(file: FileData, request: gr.Request = None) -> dict:
        """Re-create a project from an exported zip. Returns the new project."""
        path, name = uploaded_file(file, "project zip")
        actor = actor_from(request)
        p = lib.import_project(path, name, actor)
        return project_json(p, len(lib.list_assets(p.id, actor)))

    @user_errors
    def cancel(generation_id: int, request: gr.Request = None) -> dict:
        """Stop a running generation (its id and status are in /list_generations). It ends "cancelled"
        at its next step and keeps no partial files. "stopping" is false when it was not running."""
        actor = actor_from(request)
        g, _, _ = lib.get_generation(generation_id, actor=actor)
        stopping = services.jobs.cancel(g.id, actor)
        return {"generation_id": g.id, "stopping": stopping, "status": g.status.value}

    @user_errors
    def capabilities() -> dict:
        """Which engines and backends can run here, and why not (missing weights, key, GPU)."""
        return services.capabilities()

    for fn in (create_project, list_projects, upload_media, list_assets, list_generations,
               export_project, import_project, capabilities, cancel):
        gr.api(fn, api_name=fn.__name__, concurrency_limit=None if fn in (capabilities, cancel) else 4)


def register_voice(services: Services) -> None:
    """Voice endpoints: /speak, /clone_voice, /create_voice, /list_voices and helpers."""
    from storage.voices import profile_json
    from tabs.common import download_copy

    voices = services.voices

    def _audio_file(done) -> FileData:
        audio = next(a for a in done.outputs if a.kind.value == "audio")
        return FileData(path=download_copy(services.library.asset_path(audio), audio.name), orig_name=audio.name)

    @user_errors
    def speak(text: str, voice: str = "default", style: str = "natural", backend: str = "auto",
              speed: float = 1.0, pitch_semitones: float = 0, project_id: int | None = None,
              request: gr.Request = None) -> FileData:
        """Speak text with a preset voice or a voice profile ("profile:<id>"). Returns the audio file."""
        done, _ = voices.speak(text, voice, style, backend, speed, pitch_semitones, project_id,
                               actor=actor_from(request))
        return _audio_file(done)

    @user_errors
    def clone_voice(reference_audio: FileData, text: str, style: str = "natural", project_id: int | None = None,
                    request: gr.Request = None) -> FileData:
        """Clone the voice in a 3 s - 2 min reference clip and speak the text with it (nothing is kept as a profile)."""
        ref = uploaded_file(reference_audio, "reference audio")
        done, _ = voices.clone_voice(ref, text, style, project_id, actor=actor_from(request))
        return _audio_file(done)

    @user_errors
    def create_voice(name: str, reference_audio: FileData, consent: bool, request: gr.Request = None) -> dict:
        """Create a voice profile from a reference clip. consent=True confirms the speaker agreed."""
        ref = uploaded_file(reference_audio, "reference audio")
        p = voices.create_profile(name, [ref], consent, actor_from(request))
        return profile_json(p, voices.profiles.files(p.id))

    @user_errors
    def add_voice_clips(voice: str, reference_audio: FileData, request: gr.Request = None) -> dict:
        """Refine a voice profile with another clip of the same speaker."""
        ref = uploaded_file(reference_audio, "reference audio")
        p = voices.add_clips(voice, [ref], actor_from(request))
        return profile_json(p, voices.profiles.files(p.id))

    @user_errors
    def list_voices(request: gr.Request = None) -> dict:
        """Voice profiles, and each speech backend's availability and preset voices."""
        return voices.list_voices(actor_from(request))

    @user_errors
    def regenerate_sentence(generation_id: int, sentence: int, text: str = "", request: gr.Request = None) -> FileData:
        """Redo one sentence (numbered from 1) of an earlier /speak, optionally with new text."""
        done, _ = voices.regenerate_sentence(generation_id, sentence, text or None, actor=actor_from(request))
        return _audio_file(done)

    for fn in (speak, clone_voice, create_voice, add_voice_clips, list_voices, regenerate_sentence):
        gr.api(fn, api_name=fn.__name__, concurrency_id="cpu", concurrency_limit=2)


def register_talking_head(services: Services) -> None:
    """/talking_head(portrait, audio=None, text="", voice="default", size=512, fps=25, still=False, project_id=None)."""
    from tabs.common import download_copy

    @user_errors
    def talking_head(portrait: FileData, audio: FileData | None = None, text: str = "", voice: str = "default",
                     size: int | str = 512, fps: int = 25, still: bool = False, project_id: int | None = None,
                     request: gr.Request = None) -> FileData:
        """A video of the portrait speaking the audio (or the text, spoken first in the given voice)."""
        photo = uploaded_file(portrait, "portrait")
        speech = uploaded_file(audio, "audio") if audio else None
        done = services.talking_heads.render(photo, speech, text, voice, size, fps, still, project_id,
                                             actor=actor_from(request))
        vid = next(a for a in done.outputs if a.kind.value == "video")
        return FileData(path=download_copy(services.library.asset_path(vid), vid.name), orig_name=vid.name)

    gr.api(talking_head, api_name="talking_head", concurrency_id="cpu", concurrency_limit=2)


def register_music(services: Services) -> None:
    """/write_lyrics, /compose_song, /mix."""
    from pathlib import Path

    from tabs.common import download_copy

    music, lib = services.music, services.library

    @user_errors
    def write_lyrics(theme: str, title: str = "", music_style: str = "epic", mood: str = "",
                     request: gr.Request = None) -> str:
        """Lyrics for a theme: [Verse]/[Chorus]/[Bridge] sections with rhymes (a language model when configured)."""
        _, text = music.write_lyrics(theme, title, music_style, mood, actor=actor_from(request))
        return text

    @user_errors
    def compose_song(theme: str, title: str = "", lyrics: str = "", music_style: str = "epic",
                     voice_style: str = "heroic_male", voice: str = "default", duration_s: float = 60,
                     bpm: float = 0, seed: int = 0, project_id: int | None = None,
                     request: gr.Request = None) -> tuple[FileData, str, FileData, FileData]:
        """Compose, sing, mix and master a song. Returns (song WAV, lyrics as LRC, stems zip, MIDI).
        The song's id (for /mix and /music_video) is in the file names: "... - song 12.wav"."""
        actor = actor_from(request)
        done, res = music.compose(theme, title, lyrics, music_style, voice_style, voice, duration_s, bpm, seed,
                                  project_id, actor=actor)
        by_role = {a.meta.get("role"): a for a in done.outputs}
        song, midi = by_role["song"], by_role["midi"]
        folder = Path(tempfile.mkdtemp(prefix="stems-", dir=get_upload_folder()))
        stems = music.stems_zip(done.generation.id, folder / song.name.replace(".wav", " stems.zip"), actor)
        return (FileData(path=download_copy(lib.asset_path(song), song.name), orig_name=song.name), res.lrc,
                FileData(path=str(stems), orig_name=stems.name),
                FileData(path=download_copy(lib.asset_path(midi), midi.name), orig_name=midi.name))

    @user_errors
    def mix(song_id: int, settings_json: str = "", request: gr.Request = None) -> FileData:
        """Re-mix a song's stems: JSON {"tracks": {"vocals": {"gain_db": 2, "pan": 0, "eq_low_db": 0,
        "eq_mid_db": 0, "eq_high_db": 0, "reverb": 0.2, "compression": 0.3, "mute": false}},
        "master": {"target_lufs": -14}}; fields left out keep the song's mix."""
        done = music.mix(song_id, settings_json, actor=actor_from(request))
        out = done.outputs[0]
        return FileData(path=download_copy(lib.asset_path(out), out.name), orig_name=out.name)

    gr.api(write_lyrics, api_name="write_lyrics", concurrency_limit=4)
    for fn in (compose_song, mix):
        gr.api(fn, api_name=fn.__name__, concurrency_id="cpu", concurrency_limit=2)


def _file(services: Services, asset) -> FileData:
    from tabs.common import download_copy

    return FileData(path=download_copy(services.library.asset_path(asset), asset.name), orig_name=asset.name)


def register_video(services: Services) -> None:
    """/image_to_video, /scene_video (captions="auto": captions recognised from the audio), /music_video."""
    video = services.video

    def _video(done) -> FileData:
        return _file(services, next(a for a in done.outputs if a.kind.value == "video"))

    @user_errors
    def image_to_video(images: list[FileData], audio: FileData | None = None, seconds_per_image: float = 4.0,
                       size: str = "1280x720", fps: int = 30, project_id: int | None = None,
                       request: gr.Request = None) -> FileData:
        """Photos -> a video with Ken Burns motion and crossfades, timed to the audio or seconds_per_image."""
        photos = [uploaded_file(f, "photo") for f in (images or [])]
        sound = uploaded_file(audio, "audio") if audio else None
        return _video(video.image_to_video(photos, sound, seconds_per_image, size, fps, project_id,
                                           actor=actor_from(request)))

    @user_errors
    def scene_video(audio: FileData, template: str = "epic_battle", images: list[FileData] | None = None,
                    captions: str = "", size: str = "1280x720", fps: int = 30, project_id: int | None = None,
                    request: gr.Request = None) -> FileData:
        """A scene template (epic_battle, sacred_temple, emotional_closeup, plain_dark) moving to the audio,
        over optional photos, with optional captions: LRC or plain text, or "auto" for the words recognised
        in the audio (speech or singing), timed word by word; the video's notes say if none were heard."""
        sound = uploaded_file(audio, "audio")
        photos = [uploaded_file(f, "photo") for f in (images or [])]
        return _video(video.scene_video(sound, template, photos, captions, size, fps, project_id,
                                        actor=actor_from(request)))

    @user_errors
    def music_video(song_id: int, template: str = "epic_battle", size: str = "1280x720",
                    request: gr.Request = None) -> FileData:
        """A music video for a song made by /compose_song (its id is in the song's file name)."""
        return _video(video.music_video(song_id, template, size, actor=actor_from(request)))

    for fn in (image_to_video, scene_video, music_video):
        gr.api(fn, api_name=fn.__name__, concurrency_id="cpu", concurrency_limit=2)


def register_slides(services: Services) -> None:
    """/make_deck, /narrate_pptx."""
    slides = services.slides

    def _pair(done) -> tuple[FileData, FileData]:
        deck = next(a for a in done.outputs if a.kind.value == "pptx")
        vid = next(a for a in done.outputs if a.kind.value == "video")
        return _file(services, deck), _file(services, vid)

    @user_errors
    def make_deck(outline: str, voice: str = "default", presenter: FileData | None = None, theme: str = "dark",
                  project_id: int | None = None, request: gr.Request = None) -> tuple[FileData, FileData]:
        """Markdown outline ('# Title', '## Slide', '- bullet', tables, charts, quotes, 'Notes:') -> (.pptx with
        notes and narration, narrated .mp4). presenter: a portrait that presents the deck as a talking head."""
        face = uploaded_file(presenter, "presenter portrait") if presenter else None
        return _pair(slides.make_deck(outline, voice, face, theme, project_id, actor=actor_from(request)))

    @user_errors
    def narrate_pptx(pptx: FileData, voice: str = "default", presenter: FileData | None = None,
                     project_id: int | None = None, request: gr.Request = None) -> tuple[FileData, FileData]:
        """An existing .pptx -> (the deck with narration on every slide, its narrated .mp4)."""
        deck = uploaded_file(pptx, "deck")
        face = uploaded_file(presenter, "presenter portrait") if presenter else None
        return _pair(slides.narrate_pptx(deck, voice, face, project_id, actor=actor_from(request)))

    for fn in (make_deck, narrate_pptx):
        gr.api(fn, api_name=fn.__name__, concurrency_id="cpu", concurrency_limit=2)
