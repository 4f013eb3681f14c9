"""Slides workflows: an outline (or a long text) -> a themed deck with notes and narration -> a
narrated video, optionally presented by a talking head; and the same for an uploaded .pptx.

Stages of one deck: narration (each slide's notes spoken), the .pptx (narration embedded per slide),
slide images (LibreOffice), the presenter (a talking head speaking the whole narration) and the video
(slides timed to their narration, chapters per slide, the presenter in a corner).
"""

from __future__ import annotations

import logging
from pathlib import Path

from core.audio import Audio
from core.errors import InputError
from core.licences import join as join_licences
from core.progress import CancelToken, ProgressFn, Stages, no_progress
from settings import Settings
from storage.jobs import Finished, JobContext, JobOutput, JobResult, JobRunner
from storage.library import ANONYMOUS, Actor, Library, Staged, StagedFile
from storage.models import MediaKind
from workflows import likeness
from workflows.video import video_outputs
from workflows.voice import VoiceWorkflows

log = logging.getLogger(__name__)

# Longest outline or text accepted (characters).
MAX_OUTLINE_CHARS = 100_000
# Video settings of a narrated deck: 720p at 30 frames per second.
VIDEO_SIZE, VIDEO_FPS = "1280x720", 30
# The presenter: a face crop this many pixels square, in the bottom-right corner.
PRESENTER_PX = 256


# A text this short, in one paragraph of at most one sentence, is a topic rather than a text to split.
TOPIC_MAX_CHARS = 200
# Photo names a message about a missing slide image lists, at most.
MAX_NAMES_SHOWN = 8


def is_topic(text: str) -> bool:
    """"How solar panels work" is a topic (it needs a language model); a pasted article is a text."""
    t = text.strip()
    sentences = [x for x in t.replace("!", ".").replace("?", ".").split(".") if x.strip()]
    return len(t) <= TOPIC_MAX_CHARS and "\n\n" not in t and len(sentences) <= 1


def _stored(item: StagedFile | None):
    """The asset a staged upload became (None for none)."""
    return item.asset if item is not None else None


class SlidesWorkflows:
    def __init__(self, settings: Settings, library: Library, jobs: JobRunner, voices: VoiceWorkflows) -> None:
        self.settings, self.library, self.jobs, self.voices = settings, library, jobs, voices

    def resolver(self, project_id: int | None, actor: Actor):
        """Image references in an outline name photos in the project (never server paths): the resolver, and
        what it accepts (the message when an image is not found). `project_id` None: a project not made yet."""
        photos = {}
        for a in self.library.list_assets(project_id, actor) if project_id is not None else []:
            if a.kind is MediaKind.photo:
                photos.setdefault(a.name, a)
                photos.setdefault(Path(a.name).stem, a)

        def resolve(ref: str) -> Path | None:
            a = photos.get(ref.strip()) or photos.get(Path(ref.strip()).name)
            return self.library.asset_path(a) if a else None

        names = sorted({a.name for a in photos.values()})
        hint = ("images on slides are photos uploaded to the project, named by their file name, e.g. "
                "![a photo](portrait.png) (files on the server are never read); ")
        if names:
            shown = ", ".join(names[:MAX_NAMES_SHOWN]) + (" ..." if len(names) > MAX_NAMES_SHOWN else "")
            hint += f"this project's photos: {shown}"
        else:
            hint += "this project has no photos yet: upload one (Projects tab, or /upload_media) first"
        return resolve, hint

    def parse(self, outline: str, theme: str = "dark", project_id=None, actor: Actor = ANONYMOUS):
        """The deck an outline (or a long text) makes; InputError names what is wrong. Nothing is stored."""
        from engines.slides import deck_from_text, looks_like_outline, parse_outline
        from engines.slides.themes import get_theme

        text = outline or ""
        if not text.strip():
            raise InputError("the outline is empty: write '# Title' for the title slide and '## Slide title' "
                             "for each slide, with '- ' bullets under it")
        if len(text) > MAX_OUTLINE_CHARS:
            raise InputError(f"the outline is {len(text):,} characters; at most {MAX_OUTLINE_CHARS:,}")
        get_theme(theme)
        project = self.library.check_project(project_id, actor, "viewer")
        resolve, hint = self.resolver(project.id if project else None, actor)
        if looks_like_outline(text):
            deck = parse_outline(text, resolve, theme, hint)
        elif is_topic(text):
            from engines import llm
            from engines.slides import outline_from_topic

            write = llm.complete if llm.available(self.settings).available else None
            deck = parse_outline(outline_from_topic(text, self.settings, write), resolve, theme, hint)
        else:
            deck = deck_from_text(text, theme)
        self._check_notes(deck)
        return deck

    @staticmethod
    def _check_notes(deck) -> None:
        """Each slide's notes are spoken in one go: refused here when too long, not halfway through a job."""
        from engines.voice.text import MAX_TEXT_CHARS

        for i, slide in enumerate(deck.slides, start=1):
            if len(slide.notes or "") > MAX_TEXT_CHARS:
                raise InputError(f"the notes of slide {i} are {len(slide.notes):,} characters; at most "
                                 f"{MAX_TEXT_CHARS:,} are spoken for one slide")

    def preview(self, outline: str, theme: str, out_dir: Path, project_id=None,
                actor: Actor = ANONYMOUS) -> list[Path]:
        """Thumbnails of the deck an outline makes (nothing stored)."""
        from engines.slides import render_thumbnails, write_pptx

        deck = self.parse(outline, theme, project_id, actor)
        pptx = write_pptx(deck, out_dir / "preview.pptx")
        return render_thumbnails(pptx, out_dir / "thumbs")

    def _speak_fn(self, voice_choice, licences: list[str] | None = None):
        """A narrator for `narrate`; the licence of the voice that spoke is added to `licences`."""
        from engines.voice.engine import SpeakRequest, check_request, speak

        def say(text: str) -> Audio:
            # Each slide's narration; the deck keeps no per-slide figures, so its words are not checked.
            req = check_request(SpeakRequest(text, voice_choice, check_words=False)).request
            res = speak(req, self.settings, backends=self.voices.backends)
            if licences is not None and res.licence not in licences:
                licences.append(res.licence)
            return res.audio

        return say

    def make_deck(self, outline: str, voice: str = "default", presenter: tuple[Path, str] | None = None,
                  theme: str = "dark", project_id=None, *, likeness_consent: bool = False, actor: Actor = ANONYMOUS,
                  progress: ProgressFn = no_progress, cancel: CancelToken | None = None) -> Finished:
        """Outline -> narrated .pptx and narrated 720p video. A presenter photo needs `likeness_consent`."""
        deck = self.parse(outline, theme, project_id, actor)
        choice = self.voices.resolve(voice, actor)
        self.library.check_project(project_id, actor)
        params = {"outline": outline, "voice": voice, "theme": theme, "slides": len(deck.slides),
                  "presenter": presenter is not None, "likeness_consent": presenter is not None}

        def work(ctx: JobContext) -> JobResult:
            from engines.slides import write_pptx

            photo = _stored(photo_in)
            if photo is not None:
                likeness.log(self.library, actor, ctx.generation_id, "deck", photo)

            def pptx_writer(narrations: dict, out: Path, progress: ProgressFn) -> Path:
                return write_pptx(deck, out, narrations, progress, ctx.cancel, ctx.scratch)

            return self._narrated(ctx, deck, choice, photo, pptx_writer, deck.title or "deck")

        with self.library.stage(actor) as staged:  # checked by intake, stored with the generation
            photo_in = self._presenter(staged, presenter)
            if photo_in is not None:  # asked last: what is wrong with the files first
                likeness.require(likeness_consent, "the presenter photo")
            return self.jobs.run(kind="deck", params=params, work=work, project_id=project_id, uploads=staged,
                                 progress=progress, cancel=cancel, actor=actor)

    def narrate_pptx(self, pptx: tuple[Path, str], voice: str = "default",
                     presenter: tuple[Path, str] | None = None, project_id=None, *, likeness_consent: bool = False,
                     actor: Actor = ANONYMOUS, progress: ProgressFn = no_progress,
                     cancel: CancelToken | None = None) -> Finished:
        """An uploaded deck, design kept: notes completed and spoken, narration embedded, narrated video. A
        presenter photo needs `likeness_consent`."""
        from engines.slides import read_pptx

        if pptx is None:
            raise InputError("give a .pptx deck to narrate")
        choice = self.voices.resolve(voice, actor)
        self.library.check_project(project_id, actor)
        params = {"voice": voice, "presenter": presenter is not None, "deck": Path(pptx[1] or "").name,
                  "likeness_consent": presenter is not None}

        def work(ctx: JobContext) -> JobResult:
            from engines.slides.write import add_narration

            deck_asset, photo = deck_in.asset, _stored(photo_in)
            if photo is not None:
                likeness.log(self.library, actor, ctx.generation_id, "narrated_deck", photo)
            src = self.library.asset_path(deck_asset)
            deck = read_pptx(src, ctx.workdir / "images")

            def pptx_writer(narrations: dict, out: Path, progress: ProgressFn) -> Path:
                return add_narration(src, out, deck, narrations, progress, ctx.cancel, ctx.scratch)

            return self._narrated(ctx, deck, choice, photo, pptx_writer, Path(deck_asset.name).stem)

        with self.library.stage(actor) as staged:  # checked by intake, stored with the generation
            deck_in = staged.add(pptx, MediaKind.pptx, "give a .pptx deck")
            # Read in full (and its notes checked) before anything is stored.
            self._check_notes(read_pptx(deck_in.probed.path, staged.work / "deck-check"))
            photo_in = self._presenter(staged, presenter)
            if photo_in is not None:  # asked last: what is wrong with the files first
                likeness.require(likeness_consent, "the presenter photo")
            return self.jobs.run(kind="narrated_deck", params=params, work=work, project_id=project_id,
                                 uploads=staged, progress=progress, cancel=cancel, actor=actor)

    @staticmethod
    def _presenter(staged: Staged, presenter: tuple[Path, str] | None) -> StagedFile | None:
        if presenter is None:
            return None
        return staged.add(presenter, MediaKind.photo, "the presenter must be a portrait photo")

    def _narrated(self, ctx: JobContext, deck, choice, photo, pptx_writer, name: str) -> JobResult:
        from engines.slides import narrate, render_slides
        from engines.video.slideshow import Slide, SlideshowRequest, render_slideshow

        weights = {"narration": 3, "deck": 1, "images": 2, "presenter": 6 if photo else 0, "video": 3}
        stages = Stages(ctx.progress, weights)

        def stage(name_: str) -> ProgressFn:
            return lambda d, t, m="": stages.report(name_, d / (t or 1), m)

        licences: list[str] = []
        narration = narrate(deck, self._speak_fn(choice, licences), progress=stage("narration"), cancel=ctx.cancel)
        clips = narration.write_clips(ctx.workdir / "clips")
        pptx = pptx_writer(clips, ctx.workdir / "deck.pptx", stage("deck"))
        stages.report("images", 0.0, "rendering slide images")
        images = render_slides(pptx, ctx.workdir / "slides", scratch=ctx.scratch)
        stages.report("images", 1.0, f"{len(images)} slide images")
        soundtrack = narration.soundtrack
        head = None
        notes: list[str] = []
        if photo is not None:
            from engines.talking_head import TalkingHeadRequest, render_with

            th = render_with(
                self.voices.backends,
                TalkingHeadRequest(portrait=self.library.asset_path(photo), audio=soundtrack, size=PRESENTER_PX,
                                   fps=VIDEO_FPS, crop=True, output_path=ctx.workdir / "presenter.mp4",
                                   scratch=ctx.scratch, max_image_pixels=self.settings.max_image_pixels),
                self.settings, progress=stage("presenter"), cancel=ctx.cancel)
            head = Path(th.video_path)
            notes += th.notes
            licences.append(th.licence)
        slides = [Slide(image_path=img, duration_s=t.duration_s, title=t.title or f"Slide {t.index + 1}")
                  for img, t in zip(images, narration.timeline)]
        res = render_slideshow(SlideshowRequest(slides=slides, audio=soundtrack, size=VIDEO_SIZE, fps=VIDEO_FPS,
                                                presenter_video=head),
                               ctx.workdir / "deck.mp4", stage("video"), ctx.cancel, ctx.scratch)
        res.notes[:0] = notes
        outputs = [JobOutput(pptx, MediaKind.pptx, f"{name}.pptx", meta={"slides": len(images), "role": "deck"})]
        outputs += video_outputs(res, name)
        wav = soundtrack.write(ctx.workdir / "narration.wav", subtype="PCM_16")
        outputs.append(JobOutput(wav, MediaKind.audio, f"{name} narration.wav",
                                 duration_s=round(soundtrack.duration_s, 4), sample_rate=soundtrack.sample_rate,
                                 channels=soundtrack.channels, meta={"role": "narration"}))
        for i, img in enumerate(images):
            outputs.append(JobOutput(img, MediaKind.photo, f"{name} slide {i + 1}.png",
                                     meta={"role": "slide", "slide": i + 1}))
        return JobResult(outputs, backend="embedded", model="python-pptx + LibreOffice + espeak-ng",
                         model_licence=join_licences(licences),
                         metrics={"slides": len(images), "narration_s": round(narration.total_s, 3),
                                  "video_s": res.duration_s, "notes": res.notes,
                                  "timeline": [{"slide": t.index + 1, "title": t.title, "start_s": t.start_s,
                                                "duration_s": t.duration_s} for t in narration.timeline]})
