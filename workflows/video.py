"""Video workflows: photos to video, scene videos over audio, and music videos from stored songs,
each recorded as a job with its inputs (photos, audio, song) and outputs (MP4, poster, captions).

Scene videos can take their captions from the soundtrack: the captions text "auto" (or
`captions_from_audio=True`) runs the speech recogniser over the audio and captions what it hears,
word by word; the result's notes say when recognition is unavailable or heard nothing."""

from __future__ import annotations

import logging
from pathlib import Path

from core.audio import Audio
from core.errors import EngineError, InputError
from core.progress import CancelToken, ProgressFn, Stages, no_progress
from engines.video.types import VideoResult
from settings import Settings
from storage.jobs import Finished, JobContext, JobOutput, JobResult, JobRunner
from storage.library import ANONYMOUS, Actor, Library, Staged, StagedFile
from storage.models import MediaKind
from workflows.music import MusicWorkflows

log = logging.getLogger(__name__)

# Most photos one video takes (checked before anything is stored).
MAX_IMAGES = 100
# The captions text that asks for captions recognised from the soundtrack (any case, spaces ignored).
AUTO_CAPTIONS = "auto"


def video_outputs(res: VideoResult, name: str, *, captions=None, lrc: bool = False) -> list[JobOutput]:
    """The MP4, its poster and (when captions were drawn) SRT and WebVTT files; with `lrc`, the captions
    as enhanced LRC too (word times kept: edited, it can be given back as captions)."""
    outs = [JobOutput(Path(res.path), MediaKind.video, f"{name}.mp4", duration_s=round(res.duration_s, 4),
                      width=res.width_px, height=res.height_px,
                      meta={"fps": res.fps, "frames": res.frames, "notes": res.notes,
                            "chapters": [{"start_s": c.start_s, "title": c.title} for c in res.chapters]})]
    if res.poster_path and Path(res.poster_path).is_file():
        outs.append(JobOutput(Path(res.poster_path), MediaKind.photo, f"{name} poster.jpg",
                              width=res.width_px, height=res.height_px, meta={"role": "poster"}))
    if captions:
        from engines.video.captions import to_srt, to_vtt

        folder = Path(res.path).parent
        (folder / "captions.srt").write_text(to_srt(captions), encoding="utf-8")
        (folder / "captions.vtt").write_text(to_vtt(captions), encoding="utf-8")
        outs.append(JobOutput(folder / "captions.srt", MediaKind.text, f"{name}.srt", meta={"role": "captions"}))
        outs.append(JobOutput(folder / "captions.vtt", MediaKind.text, f"{name}.vtt", meta={"role": "captions"}))
        if lrc:
            from engines.video.captions import to_lrc

            (folder / "captions.lrc").write_text(to_lrc(captions), encoding="utf-8")
            outs.append(JobOutput(folder / "captions.lrc", MediaKind.text, f"{name}.lrc", meta={"role": "captions"}))
    return outs


def _stored(item: StagedFile | None):
    """The asset a staged upload became (None for none)."""
    return item.asset if item is not None else None


def _result(res: VideoResult, name: str, model: str, captions=None, lrc: bool = False) -> JobResult:
    return JobResult(video_outputs(res, name, captions=captions, lrc=lrc), backend="embedded", model=model,
                     model_licence="", metrics={**res.metrics, "notes": res.notes, "frames": res.frames,
                                                "duration_s": res.duration_s})


class VideoWorkflows:
    def __init__(self, settings: Settings, library: Library, jobs: JobRunner, music: MusicWorkflows) -> None:
        self.settings, self.library, self.jobs, self.music = settings, library, jobs, music

    def _inputs(self, staged: Staged, *, audio: tuple[Path, str] | None = None,
                images: list[tuple[Path, str]] | None = None, head: tuple[Path, str] | None = None,
                images_required: bool = False) -> tuple[StagedFile | None, StagedFile | None, list[StagedFile]]:
        """A request's uploads through intake, every one before any is stored (they are stored with the
        generation): (audio, talking-head video, photos), each None or [] when not given."""
        images = list(images or [])
        if images_required and not images:
            raise InputError("give at least one photo")
        if len(images) > MAX_IMAGES:
            raise InputError(f"{len(images)} photos given; one video takes at most {MAX_IMAGES}")
        photos = staged.add_all(images, MediaKind.photo, "only photos can go in the video")
        sound = staged.add(audio, MediaKind.audio, "the soundtrack must be audio") if audio else None
        video = staged.add(head, MediaKind.video, "the talking head must be a video") if head else None
        return sound, video, photos

    def image_to_video(self, images: list[tuple[Path, str]], audio: tuple[Path, str] | None = None,
                       seconds_per_image: float = 4.0, size: str = "1280x720", fps: int = 30, project_id=None, *,
                       transition: str = "crossfade", actor: Actor = ANONYMOUS, progress: ProgressFn = no_progress,
                       cancel: CancelToken | None = None) -> Finished:
        from engines.video.photos import ImageToVideoRequest, check_request, image_to_video

        self.library.check_project(project_id, actor)
        if not images:
            raise InputError("give at least one photo")
        check_request(ImageToVideoRequest(images=[Path(p) for p, _ in images], audio=None,
                                          seconds_per_image=seconds_per_image, size=size, fps=fps,
                                          transition=transition), validate_files=False)
        params = {"seconds_per_image": seconds_per_image, "size": size, "fps": fps, "transition": transition,
                  "images": len(images), "audio": audio is not None}

        def work(ctx: JobContext) -> JobResult:
            sound, photos = _stored(sound_in), [p.asset for p in photos_in]
            req = ImageToVideoRequest(
                images=[self.library.asset_path(a) for a in photos],
                audio=Audio.read(self.library.asset_path(sound)) if sound else None,
                seconds_per_image=float(seconds_per_image), size=size, fps=int(fps), transition=transition)
            res = image_to_video(req, ctx.workdir / "photos.mp4", ctx.progress, ctx.cancel, ctx.scratch)
            return _result(res, "photo video", "Ken Burns slideshow")

        with self.library.stage(actor) as staged:  # checked by intake, stored with the generation
            sound_in, _, photos_in = self._inputs(staged, audio=audio, images=images, images_required=True)
            return self.jobs.run(kind="image_to_video", params=params, work=work, project_id=project_id,
                                 uploads=staged, progress=progress, cancel=cancel, actor=actor)

    def scene_video(self, audio: tuple[Path, str] | None, template: str = "epic_battle",
                    images: list[tuple[Path, str]] | None = None, captions: str = "", size: str = "1280x720",
                    fps: int = 30, project_id=None, *, visualiser: str | None = None, title: str = "",
                    seed: int = 0, talking_head: tuple[Path, str] | None = None,
                    presenter_position: str = "bottom-right", captions_from_audio: bool = False,
                    actor: Actor = ANONYMOUS, progress: ProgressFn = no_progress,
                    cancel: CancelToken | None = None) -> Finished:
        """The scene moving to the audio; with a talking-head video it is composited over the scene
        (and, without separate audio, its own speech is the soundtrack).

        Captions: LRC or plain text; or "auto" (or captions_from_audio=True with no text) for the words
        recognised in the soundtrack, timed word by word. Given text wins over recognition."""
        from engines.video.captions import parse_captions
        from engines.video.scene_video import SceneVideoRequest, check_request, render_scene_video

        if audio is None and talking_head is None:
            raise InputError("give the audio the scene moves to (or a talking-head video that speaks)")
        captions = captions or ""
        if captions.strip().lower() == AUTO_CAPTIONS:
            captions, captions_from_audio = "", True
        notes: list[str] = []
        if captions_from_audio and captions.strip():
            notes.append("Captions were given, so none were recognised from the audio.")
            captions_from_audio = False
        self.library.check_project(project_id, actor)
        check_request(SceneVideoRequest(audio=None, template=template, captions=captions, size=size, fps=fps,
                                        visualiser=visualiser, title=title, seed=int(seed),
                                        presenter_video=Path(talking_head[0]) if talking_head else None,
                                        presenter_position=presenter_position))
        params = {"template": template, "size": size, "fps": fps, "captions": captions, "visualiser": visualiser,
                  "title": title, "seed": int(seed), "images": len(images or []),
                  "talking_head": talking_head is not None,
                  "presenter_position": presenter_position if talking_head else None,
                  "captions_from_audio": bool(captions_from_audio)}

        def work(ctx: JobContext) -> JobResult:
            from engines.video.composite import audio_from_video

            sound, head, photos = _stored(sound_in), _stored(head_in), [p.asset for p in photos_in]

            stages = Stages(ctx.progress, {"captions": 1, "video": 4} if captions_from_audio else {"video": 1})
            if sound is not None:
                track = Audio.read(self.library.asset_path(sound))
            else:
                track = audio_from_video(self.library.asset_path(head))
                if track is None:
                    raise InputError("the talking-head video has no sound: give the audio too")
            heard, heard_notes, heard_metrics = [], [], {}
            if captions_from_audio:
                heard, heard_notes, heard_metrics = self._captions_from_audio(
                    track, lambda d, t, m="": stages.report("captions", d / (t or 1), m), ctx.cancel)
            req = SceneVideoRequest(audio=track, template=template,
                                    images=[self.library.asset_path(a) for a in photos] or None, captions=captions,
                                    caption_lines=heard or None, size=size, fps=int(fps), visualiser=visualiser,
                                    title=title, seed=int(seed),
                                    presenter_video=self.library.asset_path(head) if head else None,
                                    presenter_position=presenter_position)
            res = render_scene_video(req, ctx.workdir / "scene.mp4",
                                     lambda d, t, m="": stages.report("video", d / (t or 1), m), ctx.cancel,
                                     ctx.scratch)
            res.notes += notes + heard_notes
            lines = heard or (parse_captions(captions, track.duration_s) if captions.strip() else None)
            result = _result(res, f"{template} scene", f"scene template {template}", captions=lines,
                             lrc=bool(heard))
            if captions_from_audio:
                result.metrics["captions_from_audio"] = heard_metrics
            return result

        with self.library.stage(actor) as staged:  # checked by intake, stored with the generation
            sound_in, head_in, photos_in = self._inputs(staged, audio=audio, images=images, head=talking_head)
            return self.jobs.run(kind="scene_video", params=params, work=work, project_id=project_id,
                                 uploads=staged, progress=progress, cancel=cancel, actor=actor)

    def _captions_from_audio(self, track: Audio, progress: ProgressFn, cancel: CancelToken | None):
        """(caption lines, notes, metrics) from the words the recogniser hears in `track`. When it cannot
        run, fails, or hears nothing, there are no lines and a note says why (the video is still made)."""
        from engines import asr
        from engines.video.word_captions import lines_from_words

        none = "so the video has no captions"
        ready = asr.available(self.settings)
        if not ready.available:
            return [], [f"Captions from the audio: speech recognition is not available here ({ready.reason}); "
                        f"{none}."], {"available": False, "reason": ready.reason}
        progress(0, 1, "recognising the words in the soundtrack")
        if cancel is not None:
            cancel.raise_if_set()
        try:
            transcript = asr.transcribe(track, self.settings, word_timestamps=True, vad=True)
        except (EngineError, RuntimeError, OSError, ValueError) as e:  # a missing or broken model, bad audio
            log.warning("captions from the audio: recognition failed: %s", e, exc_info=not isinstance(e, EngineError))
            return [], [f"Captions from the audio: speech recognition failed ({e}); {none}."], {"error": str(e)}
        if cancel is not None:
            cancel.raise_if_set()
        words = transcript.words()
        lines = lines_from_words(words, track.duration_s)
        metrics = {"model": transcript.model, "language": transcript.language, "words": len(words),
                   "lines": len(lines)}
        if not lines:
            progress(1, 1, "no words recognised")
            return [], [f"Captions from the audio: no words were recognised in the soundtrack (no speech or "
                        f"singing was heard); {none}."], metrics
        progress(1, 1, f"{len(words)} words recognised")
        return lines, [f"Captions recognised from the audio ({transcript.model}, language "
                       f"{transcript.language}): {len(words)} words in {len(lines)} lines. They are kept as .lrc, "
                       f".srt and .vtt; a corrected .lrc can be given back as the captions."], metrics

    def music_video(self, song_id, template: str = "epic_battle", size: str = "1280x720", *,
                    fps: int = 30, visualiser: str | None = "bars", actor: Actor = ANONYMOUS,
                    progress: ProgressFn = no_progress, cancel: CancelToken | None = None) -> Finished:
        """A music video for a stored song (or one of its re-mixes): scene + visualiser + lyric captions."""
        from engines.video.captions import parse_captions
        from engines.video.scene_video import MusicVideoRequest, check_request, render_music_video

        g, song_outputs = self._song(song_id, actor)
        check_request(MusicVideoRequest(audio=None, lrc="", title="", template=template, size=size, fps=fps,
                                        visualiser=visualiser))
        wav = next(a for a in song_outputs if a.meta.get("role") == "song")
        lrc_asset = next((a for a in song_outputs if a.meta.get("role") == "lrc"), None)
        lrc = self.library.asset_path(lrc_asset).read_text(encoding="utf-8") if lrc_asset else ""
        title = g.params.get("title") or g.params.get("theme") or "Song"
        params = {"song_id": g.id, "template": template, "size": size, "fps": fps, "visualiser": visualiser}

        def work(ctx: JobContext) -> JobResult:
            track = Audio.read(self.library.asset_path(wav))
            req = MusicVideoRequest(audio=track, lrc=lrc, title=title, template=template, size=size, fps=int(fps),
                                    visualiser=visualiser)
            res = render_music_video(req, ctx.workdir / "music_video.mp4", ctx.progress, ctx.cancel, ctx.scratch)
            lines = parse_captions(lrc, track.duration_s) if lrc.strip() else None
            return _result(res, f"{title} music video"[:80], f"scene template {template}", captions=lines)

        inputs = [wav.id] + ([lrc_asset.id] if lrc_asset else [])
        return self.jobs.run(kind="music_video", params=params, work=work, project_id=g.project_id, inputs=inputs,
                             progress=progress, cancel=cancel, actor=actor)

    def _song(self, song_id, actor: Actor):
        """A song generation, or a re-mix of one (its audio, with the original song's lyrics)."""
        g, inputs, outputs = self.library.get_generation(song_id, None, actor)
        if g.kind == "mix":
            original, _, original_outputs = self.library.get_generation(g.params["song_id"], "song", actor)
            lrc = [a for a in original_outputs if a.meta.get("role") == "lrc"]
            return original, [a for a in outputs if a.meta.get("role") == "song"] + lrc
        if g.kind != "song":
            raise InputError(f"generation {g.id} is a {g.kind}, not a song: give the id /compose_song returned")
        return g, outputs
