"""Talking-head workflow: a portrait plus speech (an audio file, or text spoken by the voice
engine in any voice) -> a talking video, recorded as a job with its inputs and outputs."""

from __future__ import annotations

import logging
from pathlib import Path

from core.audio import Audio
from core.errors import BackendUnavailable, InputError
from core.licences import join as join_licences
from core.progress import CancelToken, ProgressFn, Stages, no_progress
from engines.backend import Backends
from engines.talking_head import TalkingHeadRequest, render_with
from engines.talking_head.types import FPS_CHOICES, SIZES
from settings import Settings
from storage.jobs import Finished, JobContext, JobOutput, JobResult, JobRunner
from storage.library import ANONYMOUS, Actor, Library
from storage.models import MediaKind
from workflows import likeness
from workflows.voice import VoiceWorkflows

log = logging.getLogger(__name__)


def check_size(size) -> int | str:
    if isinstance(size, str) and size.strip().lower() == "original":
        return "original"
    try:
        value = int(float(size))
    except (TypeError, ValueError):
        value = None
    if value not in [s for s in SIZES if isinstance(s, int)]:
        raise InputError(f"size must be 256, 512 or 'original'; got {size!r}")
    return value


class TalkingHeadWorkflows:
    def __init__(self, settings: Settings, library: Library, jobs: JobRunner, voices: VoiceWorkflows,
                 backends: Backends) -> None:
        self.settings, self.library, self.jobs, self.voices = settings, library, jobs, voices
        self.backends = backends

    def render(self, portrait: tuple[Path, str], audio: tuple[Path, str] | None = None, text: str = "",
               voice: str = "default", size=512, fps: int = 25, still: bool = False, project_id=None, *,
               style: str = "natural", expression: float = 1.0, head_motion: float = 1.0, crop: bool = False,
               backend: str = "auto", likeness_consent: bool = False, actor: Actor = ANONYMOUS,
               progress: ProgressFn = no_progress, cancel: CancelToken | None = None) -> Finished:
        """`backend` names a talking-head backend of the catalogue, or "auto" (the first available).
        `likeness_consent`: the user's word that they may use the portrait's likeness (required; logged).
        The whole request is checked (the speech's text, or the uploaded audio's length, too) before the
        portrait and audio are stored, with the generation."""
        from engines.talking_head.render import check_request as check_head
        from engines.voice.engine import SpeakRequest
        from engines.voice.engine import check_request as check_speech

        size = check_size(size)
        backend = (backend or "auto").strip().lower()
        if backend != "auto":  # refused before anything is stored: an unknown name, or one that cannot run
            avail = self.backends.availability("talking_head", backend, self.settings)
            if not avail.available:
                raise BackendUnavailable(f"talking-head backend {backend!r} is unavailable: {avail.reason}")
        if int(fps) not in FPS_CHOICES:
            raise InputError(f"fps must be 25 or 30; got {fps}")
        if audio is None and not (text or "").strip():
            raise InputError("give the speech: an audio file, or text for the voice to speak")
        if audio is not None and (text or "").strip():
            log.info("talking head: both audio and text given; the audio is used")

        def head_request(speech: Audio | None) -> TalkingHeadRequest:  # for the checks
            return TalkingHeadRequest(portrait=None, audio=speech, size=size, fps=int(fps), expression=expression,
                                      head_motion=head_motion, still=bool(still), crop=bool(crop))

        check_head(head_request(None), audio_required=False)
        voice_choice = self.voices.resolve(voice, actor) if audio is None else None
        if audio is None:
            check_speech(SpeakRequest(text, voice_choice, style))
        lib = self.library
        lib.check_project(project_id, actor)

        params = {"voice": voice if audio is None else None, "text": text if audio is None else "",
                  "size": size, "fps": int(fps), "still": bool(still), "style": style, "expression": expression,
                  "head_motion": head_motion, "crop": crop, "backend": backend, "likeness_consent": True}

        def work(ctx: JobContext) -> JobResult:
            photo, speech_asset = photo_in.asset, speech_in.asset if speech_in else None  # stored by now
            likeness.log(lib, actor, ctx.generation_id, "talking_head", photo)
            stages = Stages(ctx.progress, {"speech": 1 if audio is None else 0.01, "video": 4})
            outputs = []
            notes: list[str] = []
            licences: list[str] = []
            if audio is None:
                from engines.voice.engine import SpeakRequest, check_request, speak

                req = check_request(SpeakRequest(text, voice_choice, style)).request
                spoken = speak(req, self.settings, lambda d, t, m="": stages.report("speech", d / (t or 1), m),
                               ctx.cancel, backends=self.backends)
                speech = spoken.audio
                notes += spoken.notes
                licences.append(spoken.licence)
                wav = speech.write(ctx.workdir / "speech.wav", subtype="PCM_16")
                figures = {k: spoken.metrics[k] for k in ("similarity", "word_error_rate", "words_heard")
                           if spoken.metrics.get(k) is not None}
                outputs.append(JobOutput(wav, MediaKind.audio, "talking-head-speech.wav",
                                         duration_s=round(speech.duration_s, 4), sample_rate=speech.sample_rate,
                                         channels=speech.channels, meta=figures))
            else:
                speech = Audio.read(lib.asset_path(speech_asset))
            result = render_with(
                self.backends,
                TalkingHeadRequest(portrait=lib.asset_path(photo), audio=speech, text=text, size=size, fps=int(fps),
                                   expression=float(expression), head_motion=float(head_motion), still=bool(still),
                                   crop=bool(crop), output_path=ctx.workdir / "talking_head.mp4",
                                   scratch=ctx.scratch, max_image_pixels=self.settings.max_image_pixels),
                self.settings, backend, progress=lambda d, t, m="": stages.report("video", d / (t or 1), m),
                cancel=ctx.cancel)
            notes += result.notes
            outputs.insert(0, JobOutput(Path(result.video_path), MediaKind.video, "talking-head.mp4",
                                        duration_s=round(result.duration_s, 4), width=result.width,
                                        height=result.height, meta={"fps": result.fps, "notes": notes}))
            return JobResult(outputs, backend=result.backend, model=result.model,
                             model_licence=join_licences([result.licence, *licences]),
                             metrics={"frames": result.frames, "duration_s": result.duration_s, "notes": notes,
                                      "timings": result.timings,
                                      "face_box": [result.face_box.x, result.face_box.y, result.face_box.width,
                                                   result.face_box.height]})

        with lib.stage(actor) as staged:  # checked by intake, stored with the generation
            photo_in = staged.add(portrait, MediaKind.photo, "the portrait must be an image")
            speech_in = staged.add(audio, MediaKind.audio, "the speech must be audio") if audio is not None else None
            if speech_in is not None:
                check_head(head_request(Audio.read(speech_in.probed.path)))  # its length
            likeness.require(likeness_consent, "the portrait")  # asked last: what is wrong with the files first
            return self.jobs.run(kind="talking_head", params=params, work=work, project_id=project_id,
                                 uploads=staged, progress=progress, cancel=cancel, actor=actor)
