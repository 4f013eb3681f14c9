"""The public client API for projects and media (names and parameters are a stable contract).

    /create_project(name) -> project JSON with an "id"
    /upload_media(project_id, file) -> asset JSON
    /list_assets(project_id) -> list of asset JSON
    /list_generations(project_id) -> list of generation JSON
    /export_project(project_id) -> zip file
    /import_project(file) -> project JSON
    /capabilities() -> engines/backends and their availability
    /cancel(generation_id) -> {"generation_id", "stopping", "status"}: stop a running generation
    /share_project(project_id, username, role="viewer"), /unshare_project(project_id, username),
    /list_shares() -> {"given": [...], "received": [...]}
"""

from __future__ import annotations

import contextlib
import logging

import gradio as gr
from gradio import FileData

from core.errors import InputError
from services import Services
from storage import archive
from storage.library import asset_json, project_json
from tabs.common import (
    Downloads,
    actor_from,
    checked_arguments,
    private_folder,
    uploaded_file,
    user_errors,
    warn_non_commercial,
    with_sidecars,
)
from tabs.hf_oauth import NO_NEW_ACCOUNTS

log = logging.getLogger(__name__)

# Marks the endpoints that are also MCP tools (when the MCP server is on).
MCP_TOOL = "studio_mcp_tool"


def expose(fn, *, tool: bool = False, **options) -> None:
    """Publish `fn` as the endpoint /<its name>. Every argument is checked against its type hints first
    (`checked_arguments`): a wrong type is answered with the parameter's name and the type it takes.
    tool=True: also an MCP tool for AI agents, described by its docstring (a line per parameter under Args:);
    endpoints that are not (admin, sharing, cancel, import and export) stay out of MCP."""
    checked = checked_arguments(fn)
    setattr(checked, MCP_TOOL, tool)
    gr.api(checked, api_name=fn.__name__, **options)


def mcp_tool_endpoints(demo: gr.Blocks) -> set[str]:
    """The endpoints ("/speak", ...) exposed as MCP tools."""
    return {f"/{f.api_name}" for f in demo.fns.values() if f.fn is not None and getattr(f.fn, MCP_TOOL, False)}


def keep_only_mcp_tools(demo: gr.Blocks) -> list[str]:
    """Gradio's MCP server offers every public endpoint as a tool; drop those not exposed with tool=True, so
    they are neither listed (tools, /gradio_api/mcp/schema) nor callable over MCP. Returns the dropped tools."""
    server = getattr(demo, "mcp_server_obj", None)
    if server is None:
        return []
    tools = mcp_tool_endpoints(demo)
    dropped = [name for name, endpoint in server.tool_to_endpoint.items() if endpoint not in tools]
    for name in dropped:
        del server.tool_to_endpoint[name]
    return dropped


# Why the MCP server is not started with sign-in on, for the log.
MCP_NEEDS_SIGN_IN_OFF = ("GRADIO_MCP_SERVER is set, but the MCP server is not started: sign-in is on, and Gradio's MCP "
                         "server would list the tools to anyone while calling the app back without the caller's "
                         "session, so no tool call could act as a signed-in user. Run it with sign-in off "
                         "(SIGN_IN=off), on a machine only you can reach.")


def serve_mcp(services: Services) -> bool:
    """Whether to start the MCP server: when asked for (GRADIO_MCP_SERVER, --mcp-server) and sign-in is off."""
    if services.settings.mcp_server and services.sign_in:
        log.warning(MCP_NEEDS_SIGN_IN_OFF)
        return False
    return services.settings.mcp_server


def mcp_lifespan(demo: gr.Blocks, wanted: bool):
    """For launch(app_kwargs={"lifespan": ...}): Gradio makes its MCP server during launch, and the app's
    lifespan starts before the first request, so that is where the tools are pruned."""

    @contextlib.asynccontextmanager
    async def lifespan(app):
        server = getattr(demo, "mcp_server_obj", None)
        if wanted and server is None:
            log.error("The MCP server was asked for (GRADIO_MCP_SERVER, --mcp-server) but did not start: %s",
                      getattr(demo, "mcp_error", None) or "unknown reason")
        elif server is not None:
            dropped = keep_only_mcp_tools(demo)
            log.info("MCP tools: %s (not tools: %s)", ", ".join(sorted(server.tool_to_endpoint)),
                     ", ".join(sorted(dropped)))
        yield

    return lifespan


def register(services: Services) -> None:
    lib = services.library

    @user_errors
    def create_project(name: str, request: gr.Request = None) -> dict:
        """Create a project. Returns it as JSON with its id."""
        return project_json(lib.create_project(name, actor_from(request, services)), 0)

    @user_errors
    def list_projects(request: gr.Request = None) -> list[dict]:
        """Your projects and those shared with you ("shared": {"role", "by"}), most recently changed first. A project's
        "id" is the project_id the generating tools take to save their outputs into it.

        Returns:
            A list of projects: id, name, number of assets, when changed, and "shared" for another user's project."""
        actor = actor_from(request, services)
        shared = lib.shared_with(actor)
        return [project_json(p, n, shared.get(p.id)) for p, n in lib.list_projects(actor)]

    @user_errors
    def upload_media(project_id: int, file: FileData, request: gr.Request = None) -> dict:
        """Add a file (text, photo, audio, video or .pptx) to a project. Returns the stored asset."""
        actor = actor_from(request, services)
        path, name = uploaded_file(file, actor=actor)
        return asset_json(lib.add_upload(project_id, path, name, actor))

    @user_errors
    def list_assets(project_id: int, request: gr.Request = None) -> list[dict]:
        """The project's assets with their metadata."""
        return [asset_json(a) for a in lib.list_assets(project_id, actor_from(request, services))]

    @user_errors
    def list_generations(project_id: int, request: gr.Request = None) -> list[dict]:
        """The project's generations (newest first): what was made (speech, song, video, deck), its status and
        progress, parameters, timings, output files and whether they may be used commercially.

        Args:
            project_id: The project's id, from list_projects.
        """
        return lib.list_generations(project_id, actor_from(request, services))

    @user_errors
    def export_project(project_id: int, request: gr.Request = None) -> FileData:
        """The project as a zip: its media and a JSON manifest. Warns (a log message to the client) when
        some of its outputs may not be used commercially."""
        actor = actor_from(request, services)
        out = archive.export_project(lib, project_id, private_folder(actor), actor)
        warn_non_commercial(lib.non_commercial(project_id, actor))
        return FileData(path=str(out), orig_name=out.name)

    @user_errors
    def import_project(file: FileData, request: gr.Request = None) -> dict:
        """Re-create a project from an exported zip. Returns the new project."""
        actor = actor_from(request, services)
        path, name = uploaded_file(file, "project zip", actor)
        p = archive.import_project(lib, path, name, actor)
        return project_json(p, len(lib.list_assets(p.id, actor)))

    @user_errors
    def cancel(generation_id: int, request: gr.Request = None) -> dict:
        """Stop a running generation (its id and status are in /list_generations). It ends "cancelled"
        at its next step and keeps no partial files. "stopping" is false when it was not running."""
        actor = actor_from(request, services)
        g, _, _ = lib.get_generation(generation_id, actor=actor)
        stopping = services.jobs.cancel(g.id, actor)
        return {"generation_id": g.id, "stopping": stopping, "status": g.status.value}

    @user_errors
    def rerun(generation_id: int, overrides_json: str = "", request: gr.Request = None) -> tuple[dict, list[FileData]]:
        """Run a past generation again from its stored parameters and input files, with some parameters
        changed. Returns the new generation (as in list_generations) and its files.

        Args:
            generation_id: The generation to run again, from list_generations.
            overrides_json: JSON object of parameters to change, e.g. {"speed": 0.9} (empty: the same again).
        """
        from workflows.rerun import parse_overrides

        actor = actor_from(request, services)
        done = services.rerun(generation_id, parse_overrides(overrides_json), actor=actor)
        (row,) = [g for g in lib.list_generations(done.generation.project_id, actor) if g["id"] == done.generation.id]
        out = Downloads(actor)
        return row, [_file(services, a, out) for a in done.outputs]

    @user_errors
    def rate(generation_id: int, stars: int, tags: str = "", request: gr.Request = None) -> dict:
        """Rate what a generation made, 1-5 stars, with optional comma-separated tags ("too fast", "too slow",
        "too quiet", "too loud", "robotic", "not my voice", "words wrong", "great"). Rating again replaces it.

        Args:
            generation_id: The generation to rate, from list_generations.
            stars: 1 (bad) to 5 (great).
            tags: Comma-separated tags, e.g. "too fast, robotic" (optional).
        """
        from workflows.preferences import rate as save

        return save(lib, generation_id, stars, tags, actor_from(request, services))

    @user_errors
    def suggestions(kind: str = "speak", request: gr.Request = None) -> list[dict]:
        """Settings suggested for you from your ratings, per parameter of a kind of generation ("speak",
        "talking_head", "song", "scene_video", "music_video", "deck"), each with the reason in your figures;
        the default while your ratings do not favour another value.

        Args:
            kind: The kind of generation, e.g. "speak".
        """
        from workflows.preferences import suggestions as find

        return [s.to_json() for s in find(lib, kind, actor_from(request, services))]

    @user_errors
    def share_project(project_id: int, username: str, role: str = "viewer", request: gr.Request = None) -> dict:
        """Share your project with another user as "viewer" (read and export) or "editor" (also add files
        and generate into it). Sharing again changes the role."""
        actor = actor_from(request, services)
        share = services.sharing.share_project(project_id, username, role, actor)
        warnings = lib.non_commercial(project_id, actor)
        warn_non_commercial(warnings)
        return {"project_id": share.object_id, "user": username.strip(), "role": share.role,
                "licence_warnings": warnings}

    @user_errors
    def unshare_project(project_id: int, username: str, request: gr.Request = None) -> dict:
        """Revoke a share: the user no longer sees the project. "revoked" is false if they did not have it."""
        revoked = services.sharing.unshare_project(project_id, username, actor_from(request, services))
        return {"project_id": int(project_id), "user": username.strip(), "revoked": revoked}

    @user_errors
    def list_shares(request: gr.Request = None) -> dict:
        """What you share ("given") and what others share with you ("received"): projects and voices."""
        return services.sharing.shares(actor_from(request, services))

    @user_errors
    def capabilities() -> dict:
        """Which engines and backends can run on this server, and why not where one cannot (missing model
        weights, API key, GPU). Call it first to know which voice backends and features are available."""
        return services.capabilities()

    @user_errors
    def verify_media(file: FileData, sidecar: FileData | None = None, request: gr.Request = None) -> dict:
        """Was this file made here? Reads its Content Credentials (C2PA, any media file) and the studio's
        audio watermark (at least 5 s; it survives MP3/AAC re-encoding, resampling, mono and excerpts): the
        generation, when, the model and licence, a confidence; who made it only to that user or an admin.
        Text and data files (lyrics, .lrc, subtitles, JSON, MIDI) carry theirs in a sidecar, "<name>.c2pa",
        stored beside them: give both to check the file is unchanged, or the sidecar alone.

        Args:
            file: The file to check (audio, video, image, .pptx, text or data, or a .c2pa sidecar), as an http(s) URL.
            sidecar: The .c2pa sidecar of a text or data file given as `file` (optional).
        """
        actor = actor_from(request, services)
        path, name = uploaded_file(file, "file", actor)
        side, side_name = uploaded_file(sidecar, "sidecar", actor) if sidecar not in (None, "") else (None, "")
        return services.verify_media(path, name, actor, side, side_name)

    for fn in (create_project, list_projects, upload_media, list_assets, list_generations,
               export_project, import_project, capabilities, cancel, share_project, unshare_project, list_shares):
        expose(fn, tool=fn in (list_projects, list_generations, capabilities),
               concurrency_limit=None if fn in (capabilities, cancel) else 4)
    expose(verify_media, tool=True, concurrency_id="cpu", concurrency_limit=2)
    expose(rerun, concurrency_id="cpu", concurrency_limit=2)
    for fn in (rate, suggestions):
        expose(fn, concurrency_limit=4)


def register_voice(services: Services) -> None:
    """Voice endpoints: /speak, /clone_voice, /create_voice, /list_voices and helpers."""
    from storage.voices import profile_json

    voices = services.voices

    def _audio_file(done, actor) -> FileData:
        return _file(services, next(a for a in done.outputs if a.kind.value == "audio"), Downloads(actor))

    @user_errors
    def speak(text: str, voice: str = "default", style: str = "natural", backend: str = "auto",
              speed: float = 1.0, pitch_semitones: float = 0, project_id: int | None = None,
              request: gr.Request = None) -> FileData:
        """Speak text with a preset voice or a voice profile ("profile:<id>"). Returns the audio file.

        Args:
            text: The words to speak: plain text, up to 20,000 characters.
            voice: "default", a language ("de", "fr", "en-gb"), a backend's preset or "profile:<id>" (see list_voices).
            style: Delivery: natural, heroic_male, soprano, choir or whisper.
            backend: "auto" (the best available), or embedded, piper, bark, openai or gtts (see capabilities).
            speed: Speaking rate from 0.5 to 2.0; 1.0 is normal.
            pitch_semitones: Pitch shift from -12 to 12 semitones; 0 keeps the voice's own pitch.
            project_id: A project (from list_projects) to save the speech into; empty for none.
        """
        actor = actor_from(request, services)
        done, _ = voices.speak(text, voice, style, backend, speed, pitch_semitones, project_id, actor=actor)
        return _audio_file(done, actor)

    @user_errors
    def clone_voice(reference_audio: FileData, text: str, style: str = "natural", project_id: int | None = None,
                    request: gr.Request = None) -> FileData:
        """Clone the voice in a 3 s - 2 min reference clip and speak the text with it (nothing is kept as a profile).
        Only clone a voice whose speaker agreed to it. Returns the audio file.

        Args:
            reference_audio: A recording of the speaker alone, 3 seconds to 2 minutes, as an http(s) URL.
            text: The words to speak in the cloned voice.
            style: Delivery: natural, heroic_male, soprano, choir or whisper.
            project_id: A project (from list_projects) to save the speech into; empty for none.
        """
        actor = actor_from(request, services)
        ref = uploaded_file(reference_audio, "reference audio", actor)
        done, _ = voices.clone_voice(ref, text, style, project_id, actor=actor)
        return _audio_file(done, actor)

    @user_errors
    def consent_prompt(speaker: str, request: gr.Request = None) -> dict:
        """A sentence for the speaker to read aloud before their voice is cloned: their name, a statement
        of consent and four random words. Returns prompt_id and text; valid once, for 30 minutes.

        Args:
            speaker: The name of the person whose voice is to be cloned, as they will say it.
        """
        return voices.consent_prompt(speaker, actor_from(request, services))

    @user_errors
    def create_voice(name: str, reference_audio: FileData, consent: bool, consent_recording: FileData | None = None,
                     prompt_id: int | None = None, attestation: str = "", request: gr.Request = None) -> dict:
        """Create a voice profile from a reference clip. consent=True confirms the speaker agreed; with spoken
        consent (the default) consent_recording is the speaker reading the text of /consent_prompt (prompt_id).
        Where the server cannot run speech recognition, attestation (that text, typed) stands in.
        Returns the profile: its id (use "profile:<id>" as the voice of speak) and name.

        Args:
            name: A name for the new voice profile.
            reference_audio: A recording of the speaker alone, 3 seconds to 2 minutes, as an http(s) URL.
            consent: True only when the speaker agreed to have their voice cloned.
            consent_recording: The speaker reading the consent_prompt text aloud, as a URL (spoken consent).
            prompt_id: The prompt_id that consent_prompt returned with that text.
            attestation: The consent_prompt text typed, only where the server cannot run speech recognition.
        """
        actor = actor_from(request, services)
        ref = uploaded_file(reference_audio, "reference audio", actor)
        rec = uploaded_file(consent_recording, "consent recording", actor) if consent_recording else None
        p = voices.create_profile(name, [ref], consent, actor, consent_recording=rec, prompt_id=prompt_id,
                                  attestation=attestation or "")
        return profile_json(p, voices.profiles.files(p.id))

    @user_errors
    def add_voice_clips(voice: str, reference_audio: FileData, request: gr.Request = None) -> dict:
        """Refine a voice profile with another clip of the same speaker."""
        actor = actor_from(request, services)
        ref = uploaded_file(reference_audio, "reference audio", actor)
        p = voices.add_clips(voice, [ref], actor)
        return profile_json(p, voices.profiles.files(p.id))

    @user_errors
    def list_voices(request: gr.Request = None) -> dict:
        """Voice profiles (yours, and those shared with you: "shared": {"role": "speak", "by"}), and each
        speech backend's availability and preset voices. Any of them is a voice for speak and the other tools."""
        return voices.list_voices(actor_from(request, services))

    @user_errors
    def share_voice(voice: str, username: str, request: gr.Request = None) -> dict:
        """Let another user speak with your voice profile ("profile:<id>"); they never get its references."""
        share = services.sharing.share_voice(voice, username, actor_from(request, services))
        return {"voice": f"profile:{share.object_id}", "user": username.strip(), "role": share.role}

    @user_errors
    def unshare_voice(voice: str, username: str, request: gr.Request = None) -> dict:
        """Revoke: the user can no longer speak with the voice."""
        revoked = services.sharing.unshare_voice(voice, username, actor_from(request, services))
        return {"voice": str(voice), "user": username.strip(), "revoked": revoked}

    @user_errors
    def regenerate_sentence(generation_id: int, sentence: int, text: str = "", request: gr.Request = None) -> FileData:
        """Redo one sentence (numbered from 1) of an earlier /speak, optionally with new text."""
        actor = actor_from(request, services)
        done, _ = voices.regenerate_sentence(generation_id, sentence, text or None, actor=actor)
        return _audio_file(done, actor)

    for fn in (speak, clone_voice, create_voice, add_voice_clips, list_voices, regenerate_sentence):
        expose(fn, tool=fn in (speak, clone_voice, create_voice, list_voices), concurrency_id="cpu",
               concurrency_limit=2)
    expose(consent_prompt, tool=True, concurrency_limit=4)
    for fn in (share_voice, unshare_voice):
        expose(fn, concurrency_limit=4)


def register_talking_head(services: Services) -> None:
    """/talking_head(portrait, audio=None, text="", voice="default", size=512, fps=25, still=False, project_id=None)."""

    @user_errors
    def talking_head(portrait: FileData, audio: FileData | None = None, text: str = "", voice: str = "default",
                     size: int | str = 512, fps: int = 25, still: bool = False, project_id: int | None = None,
                     likeness_consent: bool = False, request: gr.Request = None) -> FileData:
        """A video of the portrait speaking the audio (or the text, spoken first in the given voice): the face
        is animated to the speech. Returns the .mp4 file.

        Args:
            portrait: A photo or painting of one face, seen from the front, as an http(s) URL.
            audio: Speech to lip-sync to, as a URL; leave empty to speak the text instead.
            text: Words to speak when no audio is given.
            voice: The voice for the text: "default", a preset voice or "profile:<id>" (see list_voices).
            size: Video size: 256, 512 or "original" (the portrait's own size).
            fps: Frames per second: 25 or 30.
            still: True keeps the head still (the mouth still moves); false adds natural head motion.
            project_id: A project (from list_projects) to save the video into; empty for none.
            likeness_consent: True only when the user may use this face (it is theirs, or they have permission).
        """
        actor = actor_from(request, services)
        photo = uploaded_file(portrait, "portrait", actor)
        speech = uploaded_file(audio, "audio", actor) if audio else None
        done = services.talking_heads.render(photo, speech, text, voice, size, fps, still, project_id,
                                             likeness_consent=likeness_consent, actor=actor)
        return _file(services, next(a for a in done.outputs if a.kind.value == "video"), Downloads(actor))

    expose(talking_head, tool=True, concurrency_id="cpu", concurrency_limit=2)


def register_music(services: Services) -> None:
    """/write_lyrics, /compose_song, /mix."""
    music = services.music

    @user_errors
    def write_lyrics(theme: str, title: str = "", music_style: str = "epic", mood: str = "",
                     request: gr.Request = None) -> str:
        """Lyrics for a theme: [Verse]/[Chorus]/[Bridge] sections with rhymes (a language model when configured).
        Returns the lyrics as text, ready for compose_song.

        Args:
            theme: What the song is about, in a few words or sentences.
            title: The song's title; empty to let one be chosen.
            music_style: epic, pop, dark, gregorian, fantasy, gladiator or emotional.
            mood: A mood to colour the words (e.g. "hopeful"); empty for the style's own.
        """
        _, text = music.write_lyrics(theme, title, music_style, mood, actor=actor_from(request, services))
        return text

    @user_errors
    def compose_song(theme: str, title: str = "", lyrics: str = "", music_style: str = "epic",
                     voice_style: str = "heroic_male", voice: str = "default", duration_s: float = 60,
                     bpm: float = 0, seed: int = 0, project_id: int | None = None,
                     request: gr.Request = None) -> tuple[FileData, str, FileData, FileData]:
        """Compose, sing, mix and master a song. Returns (song WAV, lyrics as LRC, stems zip, MIDI).
        The song's id (for /mix and /music_video) is in the file names: "... - song 12.wav".

        Args:
            theme: What the song is about; used for the lyrics when none are given.
            title: The song's title; empty to let one be chosen.
            lyrics: Lyrics with [Verse]/[Chorus] sections (e.g. from write_lyrics); empty to write them from the theme.
            music_style: epic, pop, dark, gregorian, fantasy, gladiator or emotional.
            voice_style: The singing: heroic_male, soprano, choir or whisper.
            voice: The singer: "default" or "profile:<id>" for a voice profile (see list_voices).
            duration_s: Length of the song in seconds, 10 to 600.
            bpm: Tempo in beats per minute, 40 to 240; 0 for the style's own.
            seed: A number for the random choices; the same seed and inputs give the same song.
            project_id: A project (from list_projects) to save the song into; empty for none.
        """
        actor = actor_from(request, services)
        done, res = music.compose(theme, title, lyrics, music_style, voice_style, voice, duration_s, bpm, seed,
                                  project_id, actor=actor)
        by_role = {a.meta.get("role"): a for a in done.outputs}
        song, midi = by_role["song"], by_role["midi"]
        out = Downloads(actor)
        stems = music.stems_zip(done.generation.id, out.folder / song.name.replace(".wav", " stems.zip"), actor)
        return (_file(services, song, out), res.lrc, FileData(path=str(stems), orig_name=stems.name),
                _file(services, midi, out))

    @user_errors
    def mix(song_id: int, settings_json: str = "", request: gr.Request = None) -> FileData:
        """Re-mix a song's stems: JSON {"tracks": {"vocals": {"gain_db": 2, "pan": 0, "eq_low_db": 0,
        "eq_mid_db": 0, "eq_high_db": 0, "reverb": 0.2, "compression": 0.3, "mute": false}},
        "master": {"target_lufs": -14}}; fields left out keep the song's mix. Returns the new mix as a WAV file.

        Args:
            song_id: The song's id, from compose_song's file names ("... - song 12.wav" is 12).
            settings_json: The mix as JSON (tracks by stem name, and master), as above; empty keeps the song's mix.
        """
        actor = actor_from(request, services)
        done = music.mix(song_id, settings_json, actor=actor)
        return _file(services, done.outputs[0], Downloads(actor))

    expose(write_lyrics, tool=True, concurrency_limit=4)
    for fn in (compose_song, mix):
        expose(fn, tool=True, concurrency_id="cpu", concurrency_limit=2)


def _file(services: Services, asset, out: Downloads) -> FileData:
    """A copy of a stored asset among the request's downloads."""
    return FileData(path=out.copy(services.library.asset_path(asset), asset.name), orig_name=asset.name)


def register_video(services: Services) -> None:
    """/image_to_video, /scene_video (captions="auto": captions recognised from the audio), /music_video."""
    video = services.video

    def _video(done, actor) -> FileData:
        return _file(services, next(a for a in done.outputs if a.kind.value == "video"), Downloads(actor))

    @user_errors
    def image_to_video(images: list[FileData], audio: FileData | None = None, seconds_per_image: float = 4.0,
                       size: str = "1280x720", fps: int = 30, project_id: int | None = None,
                       request: gr.Request = None) -> FileData:
        """Photos -> a video with Ken Burns motion and crossfades, timed to the audio or seconds_per_image.
        Returns the .mp4 file.

        Args:
            images: The photos in order, each as an http(s) URL.
            audio: A soundtrack as a URL; the photos share its length. Empty for a silent video.
            seconds_per_image: How long each photo shows when there is no audio.
            size: Width x height, such as "1280x720", "1920x1080" or "1080x1920".
            fps: Frames per second: 24, 25 or 30.
            project_id: A project (from list_projects) to save the video into; empty for none.
        """
        actor = actor_from(request, services)
        photos = [uploaded_file(f, "photo", actor) for f in (images or [])]
        sound = uploaded_file(audio, "audio", actor) if audio else None
        return _video(video.image_to_video(photos, sound, seconds_per_image, size, fps, project_id, actor=actor),
                      actor)

    @user_errors
    def scene_video(audio: FileData, template: str = "epic_battle", images: list[FileData] | None = None,
                    captions: str = "", size: str = "1280x720", fps: int = 30, project_id: int | None = None,
                    request: gr.Request = None) -> FileData:
        """A scene template (epic_battle, sacred_temple, emotional_closeup, plain_dark) moving to the audio,
        over optional photos, with optional captions: LRC or plain text, or "auto" for the words recognised
        in the audio (speech or singing), timed word by word; the video's notes say if none were heard.
        Returns the .mp4 file.

        Args:
            audio: The soundtrack the scene moves to (speech, song or music), as an http(s) URL.
            template: epic_battle, sacred_temple, emotional_closeup or plain_dark.
            images: Optional photos shown in the scene, each as a URL.
            captions: LRC or plain text, "auto" for the words heard in the audio, or empty for none.
            size: Width x height, such as "1280x720", "1920x1080" or "1080x1920".
            fps: Frames per second: 24, 25 or 30.
            project_id: A project (from list_projects) to save the video into; empty for none.
        """
        actor = actor_from(request, services)
        sound = uploaded_file(audio, "audio", actor)
        photos = [uploaded_file(f, "photo", actor) for f in (images or [])]
        return _video(video.scene_video(sound, template, photos, captions, size, fps, project_id, actor=actor),
                      actor)

    @user_errors
    def music_video(song_id: int, template: str = "epic_battle", size: str = "1280x720",
                    request: gr.Request = None) -> FileData:
        """A music video for a song made by /compose_song (its id is in the song's file name), with its lyrics
        as captions. Returns the .mp4 file.

        Args:
            song_id: The song's id, from compose_song's file names ("... - song 12.wav" is 12).
            template: epic_battle, sacred_temple, emotional_closeup or plain_dark.
            size: Width x height, such as "1280x720", "1920x1080" or "1080x1920".
        """
        actor = actor_from(request, services)
        return _video(video.music_video(song_id, template, size, actor=actor), actor)

    for fn in (image_to_video, scene_video, music_video):
        expose(fn, tool=True, concurrency_id="cpu", concurrency_limit=2)


def register_slides(services: Services) -> None:
    """/make_deck, /narrate_pptx."""
    slides = services.slides

    def _pair(done, actor) -> tuple[FileData, FileData]:
        deck = next(a for a in done.outputs if a.kind.value == "pptx")
        vid = next(a for a in done.outputs if a.kind.value == "video")
        out = Downloads(actor)
        return _file(services, deck, out), _file(services, vid, out)

    @user_errors
    def make_deck(outline: str, voice: str = "default", presenter: FileData | None = None, theme: str = "dark",
                  project_id: int | None = None, likeness_consent: bool = False,
                  request: gr.Request = None) -> tuple[FileData, FileData]:
        """Markdown outline ('# Title', '## Slide', '- bullet', tables, charts, quotes, 'Notes:') -> (.pptx with
        notes and narration, narrated .mp4). presenter: a portrait that presents the deck as a talking head;
        it needs likeness_consent=true (you may use that likeness).

        Args:
            outline: The deck in Markdown: '# Title', '## Slide', '- bullet', tables, charts, quotes, 'Notes:'.
            voice: The narrating voice: "default", a preset voice or "profile:<id>" (see list_voices).
            presenter: Optional portrait (one face, from the front), as a URL, that presents as a talking head.
            theme: dark or light.
            project_id: A project (from list_projects) to save the deck and video into; empty for none.
            likeness_consent: True only when the user may use the presenter's likeness; required with a presenter.
        """
        actor = actor_from(request, services)
        face = uploaded_file(presenter, "presenter portrait", actor) if presenter else None
        return _pair(slides.make_deck(outline, voice, face, theme, project_id, likeness_consent=likeness_consent,
                                      actor=actor), actor)

    @user_errors
    def narrate_pptx(pptx: FileData, voice: str = "default", presenter: FileData | None = None,
                     project_id: int | None = None, likeness_consent: bool = False,
                     request: gr.Request = None) -> tuple[FileData, FileData]:
        """An existing .pptx -> (the deck with narration on every slide, its narrated .mp4). Each slide's speaker
        notes are spoken (notes are completed where a slide has none). A presenter portrait needs
        likeness_consent=true (you may use that likeness).

        Args:
            pptx: The PowerPoint file (.pptx), as an http(s) URL.
            voice: The narrating voice: "default", a preset voice or "profile:<id>" (see list_voices).
            presenter: Optional portrait (one face, from the front), as a URL, that presents as a talking head.
            project_id: A project (from list_projects) to save the deck and video into; empty for none.
            likeness_consent: True only when the user may use the presenter's likeness; required with a presenter.
        """
        actor = actor_from(request, services)
        deck = uploaded_file(pptx, "deck", actor)
        face = uploaded_file(presenter, "presenter portrait", actor) if presenter else None
        return _pair(slides.narrate_pptx(deck, voice, face, project_id, likeness_consent=likeness_consent,
                                         actor=actor), actor)

    for fn in (make_deck, narrate_pptx):
        expose(fn, tool=True, concurrency_id="cpu", concurrency_limit=2)


def register_clone(services: Services) -> None:
    """/make_clone_video, /write_script."""
    clones = services.clones

    @user_errors
    def make_clone_video(portrait: FileData, voice: str, idea: str, kind: str = "explainer", length_s: float = 60,
                         music_style: str = "emotional", template: str = "", size: str = "1280x720",
                         captions: bool = True, project_id: int | None = None, likeness_consent: bool = False,
                         voice_sample: FileData | None = None,
                         request: gr.Request = None) -> tuple[FileData, list[FileData], dict]:
        """A finished video from a portrait, a voice sample and an idea, in one request: a script is written from
        the idea, spoken in the cloned voice, the portrait animated speaking it, a music bed laid under the voice,
        and everything put together with a title, captions and an end card. Returns (the .mp4, its parts: the
        script, narration, music, talking head and captions as files, and details: the generation id, script,
        timeline, figures). Edit the script and send it back as the idea: only the parts that changed are made
        again.

        Args:
            portrait: A photo of one face, seen from the front, as an http(s) URL.
            voice: The voice: "default", a preset voice or "profile:<id>" (see list_voices); ignored when a
                voice_sample is given.
            idea: What the video is about ("why bees matter"), a text to present, an edited script ('# Title',
                '## Point', 'Notes: what is said'), or for a music video lyrics ('[Verse]', '[Chorus]').
            kind: explainer (the presenter beside slides of the points), announcement (the presenter over a
                scene) or music_video (the clone sings a song on the idea: lyrics, song, the portrait singing it).
            length_s: The length aimed at, 10 to 300 seconds.
            music_style: The music bed's style (emotional, epic, pop, ...) or "none".
            template: The slide theme (explainer: dark, light) or scene (announcement); empty for the default.
            size: Video size, e.g. "1280x720", "1920x1080", "720p".
            captions: True to show captions timed to the speech.
            project_id: A project (from list_projects) to save the video and its parts into; empty for none.
            likeness_consent: True only when the user may use this face (it is theirs, or they have permission).
            voice_sample: A recording of the voice to clone for this video (3 s to 2 min of speech), as a URL.
        """
        from storage.library import asset_json

        actor = actor_from(request, services)
        photo = uploaded_file(portrait, "portrait", actor)
        sample = uploaded_file(voice_sample, "voice sample", actor) if voice_sample else None
        done = clones.make(photo, voice, idea, kind, length_s, music_style, template, size, captions, project_id,
                           voice_sample=sample, likeness_consent=likeness_consent, actor=actor)
        out = Downloads(actor)
        video = next(a for a in done.outputs if a.meta.get("role") == "video")
        parts = [a for a in done.outputs if a.meta.get("role") in ("script", "narration", "music", "head", "captions")]
        parts = with_sidecars(parts, done.outputs)  # the script's and the captions' Content Credentials
        script = next((a for a in parts if a.meta.get("role") == "script"), None)
        g = done.generation
        details = {"generation_id": g.id, "project_id": g.project_id,
                   "script": services.library.asset_path(script).read_text(encoding="utf-8") if script else "",
                   "timeline": g.metrics.get("timeline", []), "metrics": g.metrics,
                   "parts": [asset_json(a) for a in parts], "model_licence": g.model_licence}
        return _file(services, video, out), [_file(services, a, out) for a in parts], details

    @user_errors
    def write_script(idea: str, kind: str = "explainer", length_s: float = 60, request: gr.Request = None) -> str:
        """The script a clone video of this idea would speak, to read and edit before make_clone_video (send the
        edited script as its idea).

        Args:
            idea: What the video is about ("why bees matter"), or a text to present.
            kind: explainer, announcement or music_video (then the lyrics are written).
            length_s: The length aimed at, 10 to 300 seconds.
        """
        actor_from(request, services)  # signed in, when sign-in is on
        return clones.write_script(idea, kind, length_s)

    expose(make_clone_video, tool=True, concurrency_id="cpu", concurrency_limit=2)
    expose(write_script, tool=True, concurrency_limit=4)


def register_admin(services: Services) -> None:
    """/list_users, /create_user, /set_user_disabled, /security_events: for admins only."""
    accounts = services.accounts

    @user_errors
    def create_user(username: str, password: str, is_admin: bool = False, request: gr.Request = None) -> dict:
        """Create an account (password of 8 or more characters). Admins only."""
        actor = actor_from(request, services)
        accounts.require_admin(actor)
        if services.sign_in_mode == "huggingface":
            raise InputError(NO_NEW_ACCOUNTS)
        u = accounts.create_user(username, password or "", is_admin=bool(is_admin), actor=actor)
        return {"user": u.username, "is_admin": u.is_admin}

    @user_errors
    def list_users(request: gr.Request = None) -> list[dict]:
        """Every account with its flags and what it keeps (projects, voices, stored bytes). Admins only."""
        accounts.require_admin(actor_from(request, services))
        return accounts.usage()

    @user_errors
    def set_user_disabled(username: str, disabled: bool = True, request: gr.Request = None) -> dict:
        """Disable an account (it cannot sign in, and its open sessions are refused) or enable it again.
        Admins only."""
        actor = actor_from(request, services)
        admin = accounts.require_admin(actor)
        if disabled and (username or "").strip() == admin.username:
            raise gr.Error("You cannot disable your own account.", print_exception=False)
        u = accounts.set_disabled(username, bool(disabled), actor)
        return {"user": u.username, "disabled": u.disabled}

    @user_errors
    def security_events(type: str = "", username: str = "", limit: int = 200,
                        request: gr.Request = None) -> list[dict]:
        """The security log, newest first: sign-ins (ok, failed, held back), consents, shares, refused
        uploads, admin actions, with user, IP and user agent. type: a prefix such as "login". Admins only."""
        accounts.require_admin(actor_from(request, services))
        return [{"time": e.created_at.isoformat(timespec="seconds"), "type": e.type, "user": e.username,
                 "ip": e.ip, "user_agent": e.user_agent, "detail": e.detail}
                for e in services.library.security_events(limit, type, username)]

    for fn in (list_users, create_user, set_user_disabled, security_events):
        expose(fn, concurrency_limit=4)
