"""The digital clone in one request: a portrait, a voice and an idea -> a finished video, with its parts.

    done = clones.make(portrait, voice, "why bees matter", kind="explainer", length_s=60, likeness_consent=True)

One job, in stages (each shown in the progress):
  script   the idea -> a script (engines.script): a title and hook, 3-5 points, a close; or the idea is a script
  voice    the voice sample analysed (a temporary clone, nothing kept as a profile); or a named voice
  speech   each part of the script spoken in that voice (a part per slide: hook, points, close)
  slides   explainer: the script's points as slides (the deck engine), and an end card
  head     the portrait speaking each part (the talking-head engine)
  music    a music bed in the chosen style, ducked 18 dB under the voice wherever it speaks
  video    explainer: the slides with the presenter in a side panel; announcement: the presenter over a
           scene; both with captions timed from the speech and a title; music video: the clone sings a song on
           the idea (lyrics -> song in the cloned voice -> scene video with the head as the singer, karaoke
           captions)
Every stage's result is kept by content (storage.stages): editing one word of the script speaks again only the
sentence it is in and animates again only its part, and a chain that failed at a stage starts again at that stage
when re-run. Parts
kept for later jobs carry no watermark; what a job returns carries its own generation's marks.
"""

from __future__ import annotations

import hashlib
import logging
import math
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from core.audio import Audio
from core.errors import InputError
from core.licences import join as join_licences
from core.progress import CancelToken, ProgressFn, Stages, no_progress
from engines.backend import Backends
from engines.voice.engine import Take
from settings import Settings
from storage.jobs import PREMARKED, Finished, JobContext, JobOutput, JobResult, JobRunner
from storage.library import ANONYMOUS, Actor, Library
from storage.models import MediaKind
from storage.stages import StageCache, StageHit, key
from workflows import likeness
from workflows.video import video_outputs
from workflows.voice import VoiceWorkflows

log = logging.getLogger(__name__)

# Frame rate of clone videos; every part of the speech is padded to whole frames so the parts' heads join
# exactly as long as the speech.
FPS = 30
# Silence after each part of the script (a breath between points), seconds.
PART_GAP_S = 0.3
# The end card: music only, seconds.
END_CARD_S = 2.5
# The talking head's size per kind (its longer side in pixels: the engine's 256 or 512).
HEAD_PX = {"explainer": 256, "announcement": 512, "music_video": 512}
# Where the presenter goes over a scene (captions take the bottom, the title the middle).
SCENE_PRESENTER = "top-right"
# Default template per kind: a slide theme for explainers, a scene for the others.
DEFAULT_TEMPLATE = {"explainer": "dark", "announcement": "plain_dark", "music_video": "emotional_closeup"}
# What a clone video can be: spoken (engines.script's kinds) or sung.
KINDS = ("explainer", "announcement", "music_video")
# "none": no music bed.
NO_MUSIC = "none"
# The music bed is made in lengths rounded up to this many seconds, so a small edit keeps the same bed.
BED_STEP_S = 10.0
# Bumped when a stage's output changes for the same inputs (old results are then not reused).
STAGE_VERSION = {"script": 1, "voice": 1, "speech": 1, "sentence": 1, "slides": 1, "head": 1, "music": 1, "song": 1,
                 "lyrics": 1, "segment": 2, "head_marked": 1}
# An explainer's video is made a part at a time (a segment per slide, joined without encoding again), so an
# edit draws and encodes again only the parts it changed. A segment is drawn with its neighbours' slides
# SEGMENT_LEAD_S long on each side, for the transitions into and out of it (at most half of it each).
SEGMENT_LEAD_S = 1.0
# The slides' transition (engines.video.slideshow).
TRANSITION = ("crossfade", 0.5)
# In the order they run. The music and the mix come before the heads, so their sound is encoded (in the
# background) while the heads and the picture are made.
STAGE_WEIGHTS = {"script": 0.3, "voice": 1, "speech": 3, "slides": 2, "music": 1, "head": 6, "video": 5}
SUNG_WEIGHTS = {"script": 0.3, "voice": 1, "song": 4, "head": 6, "video": 5}


@dataclass(frozen=True)
class CloneRequest:
    idea: str
    kind: str = "explainer"
    length_s: float = 60.0
    music_style: str = "emotional"
    template: str = ""
    size: str = "1280x720"
    captions: bool = True
    voice: str = "default"


class _KeptSentences:
    """The speech engine's SentenceMemory for one job's voice: every sentence spoken is kept by content, so a
    part edited in one sentence speaks and listens to that sentence only."""

    def __init__(self, chain: _Chain, voice_key: str) -> None:
        self.chain, self.voice_key = chain, voice_key

    def _key(self, backend: str, rate: float, text: str, pause: str) -> str:
        return key("sentence", STAGE_VERSION["sentence"], self.chain.owner, self.voice_key, backend, rate, text, pause)

    def recall(self, backend: str, rate: float, text: str, pause: str) -> tuple[Audio, str | None] | None:
        hit = self.chain.cache.get(self._key(backend, rate, text, pause))
        if hit is None:
            return None
        try:
            audio = Audio.read(hit.folder / "take.wav")
        except (OSError, ValueError, RuntimeError):  # trimmed away meanwhile, or cut short: spoken again
            shutil.rmtree(hit.folder, ignore_errors=True)
            return None
        self.chain.reused.setdefault("sentence", []).append(True)
        return audio, hit.meta.get("heard")

    def keep(self, backend: str, rate: float, take: Take, heard: str | None) -> None:
        k = self._key(backend, rate, take.text, take.pause)
        kept = self.chain.cache.get(k)
        if kept is not None:
            if heard is None or kept.meta.get("heard") is not None:
                return
            shutil.rmtree(kept.folder, ignore_errors=True)  # kept before without its words: now with them

        def make(folder: Path) -> dict:
            take.audio.write(folder / "take.wav", subtype="FLOAT")
            return {"text": take.text, "heard": heard}

        # The speech stage that asked trims the cache once its part is made.
        hit = self.chain.cache.run(k, make, trim=False)
        if kept is None and not hit.reused:
            self.chain.reused.setdefault("sentence", []).append(False)


@dataclass
class _Part:
    """One part of the script as spoken: its text and the speech's stage result."""

    text: str
    title: str
    folder: Path
    meta: dict
    audio: Audio = field(repr=False, default=None)

    @property
    def duration_s(self) -> float:
        return self.audio.duration_s


def _sha_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def script_request(idea: str, kind: str, length_s: float):
    """The script a clone video of `length_s` seconds speaks: its words fill the length less the breaks between
    parts (each rounded up to whole frames) and an explainer's end card."""
    from engines.script import ScriptRequest, points_for

    pauses = (points_for(float(length_s)) + 2) * (PART_GAP_S + 0.5 / FPS) + (END_CARD_S if kind == "explainer" else 0)
    return ScriptRequest(idea, kind, length_s, float(length_s) - pauses)


def check_request(req: CloneRequest) -> CloneRequest:
    """The request with its defaults filled in; InputError naming what is wrong."""
    from engines.music.styles import get_style
    from engines.script import ScriptRequest
    from engines.script import check_request as check_script
    from engines.video.types import parse_size

    if req.kind == "music_video":  # sung: the idea is a theme, or lyrics
        s = check_script(ScriptRequest(req.idea, "explainer", req.length_s))
        s = ScriptRequest(s.idea, "music_video", s.length_s)
    elif req.kind not in KINDS:
        raise InputError(f"kind {req.kind!r} is not offered: use one of {', '.join(KINDS)}")
    else:
        s = check_script(ScriptRequest(req.idea, req.kind, req.length_s))
    style = (req.music_style or NO_MUSIC).strip().lower()
    if style != NO_MUSIC:
        get_style(style)
    elif s.kind == "music_video":
        raise InputError("a music video is a song: choose its music style (emotional, epic, pop ...), not 'none'")
    template = (req.template or "").strip() or DEFAULT_TEMPLATE[s.kind]
    if s.kind == "explainer":
        from engines.slides.themes import get_theme

        get_theme(template)
    else:
        from engines.video.scenes import get_template

        get_template(template)
    parse_size(req.size)
    return CloneRequest(s.idea, s.kind, s.length_s, style, template, req.size, bool(req.captions),
                        (req.voice or "").strip() or "default")


class CloneWorkflows:
    def __init__(self, settings: Settings, library: Library, jobs: JobRunner, voices: VoiceWorkflows,
                 backends: Backends, stages: StageCache) -> None:
        self.settings, self.library, self.jobs, self.voices = settings, library, jobs, voices
        self.backends, self.stages = backends, stages

    # ------------------------------------------------------------ script

    def _llm(self):
        from engines import llm

        return llm.complete if llm.available(self.settings).available else None

    def write_script(self, idea: str, kind: str = "explainer", length_s: float = 60.0) -> str:
        """The script a clone video of this idea would speak (to read and edit before making it)."""
        from engines.script import write_script

        if kind == "music_video":  # the lyrics the clone will sing
            from engines.music.lyrics import write_lyrics

            check_request(CloneRequest(idea, kind, length_s))
            llm = self._llm()
            ask = (lambda system, user: llm(self.settings, system, user)) if llm is not None else None
            return write_lyrics(idea, _song_title(idea), "emotional", llm=ask)[0].to_text()
        text = write_script(script_request(idea, kind, length_s), self.settings, self._llm())
        self._deck(text, DEFAULT_TEMPLATE[kind] if kind == "explainer" else "dark")
        return text

    def _deck(self, script: str, theme: str):
        """The script as a deck (its slides and what is said over each); InputError when it is not one."""
        from engines.slides import parse_outline
        from engines.voice.text import MAX_TEXT_CHARS

        deck = parse_outline(script, None, theme)
        for i, slide in enumerate(deck.slides, start=1):
            if len(slide.notes or "") > MAX_TEXT_CHARS:
                raise InputError(f"part {i} of the script has {len(slide.notes):,} characters to say; at most "
                                 f"{MAX_TEXT_CHARS:,} per part")
        return deck

    @staticmethod
    def _check_sung(req: CloneRequest, named) -> None:
        from engines.music.lyrics import MAX_LYRICS_CHARS, check_theme, parse_lyrics

        if named is not None and named.backend not in ("", "embedded"):
            raise InputError(f"voice {req.voice!r} belongs to the {named.backend} backend, which cannot sing: use a "
                             "voice sample, 'default', an espeak-ng voice or a voice profile")
        if is_lyrics(req.idea):
            if len(req.idea) > MAX_LYRICS_CHARS:
                raise InputError(f"the lyrics have {len(req.idea):,} characters; at most {MAX_LYRICS_CHARS:,}")
            parse_lyrics(req.idea)
        else:
            check_theme(req.idea)

    # ------------------------------------------------------------ the request

    def make(self, portrait: tuple[Path, str] | None, voice: str, idea: str, kind: str = "explainer",
             length_s: float = 60.0, music_style: str = "emotional", template: str = "", size: str = "1280x720",
             captions: bool = True, project_id=None, *, voice_sample: tuple[Path, str] | None = None,
             likeness_consent: bool = False, actor: Actor = ANONYMOUS, progress: ProgressFn = no_progress,
             cancel: CancelToken | None = None) -> Finished:
        """Portrait + voice + idea -> the finished video and its parts. `voice`: "default", a preset, a voice
        profile ("profile:<id>" or its name); `voice_sample`: a recording cloned for this request instead."""
        from engines.script import is_script

        req = check_request(CloneRequest(idea, kind, length_s, music_style, template, size, captions, voice))
        if portrait is None:
            raise InputError("give a portrait: a photo of the face that will speak")
        self.library.check_project(project_id, actor)
        # A named voice is resolved (an unknown one refused) before anything is stored.
        named = self.voices.resolve(req.voice, actor) if voice_sample is None else None
        if req.kind == "music_video":
            self._check_sung(req, named)
        elif is_script(req.idea):
            self._deck(req.idea, req.template if req.kind == "explainer" else "dark")  # refused now if broken
        params = {"idea": req.idea, "kind": req.kind, "length_s": req.length_s, "music_style": req.music_style,
                  "template": req.template, "size": req.size, "captions": req.captions,
                  "voice": req.voice if voice_sample is None else "", "likeness_consent": True}

        def work(ctx: JobContext) -> JobResult:
            photo = photo_in.asset
            likeness.log(self.library, actor, ctx.generation_id, "clone_video", photo)
            chain = _Chain(self, req, ctx, actor, photo, voice_in.asset if voice_in is not None else None, named)
            return chain.run()

        with self.library.stage(actor) as staged:  # checked by intake, stored with the generation
            photo_in = staged.add(portrait, MediaKind.photo, "the portrait must be an image")
            voice_in = (staged.add(voice_sample, MediaKind.audio, "the voice sample must be a recording of speech")
                        if voice_sample is not None else None)
            likeness.require(likeness_consent, "the portrait")  # asked last: what is wrong with the files first
            return self.jobs.run(kind="clone_video", params=params, work=work, project_id=project_id,
                                 uploads=staged, progress=progress, cancel=cancel, actor=actor)


class _Chain:
    """One clone video's stages, run in a job."""

    def __init__(self, flows: CloneWorkflows, req: CloneRequest, ctx: JobContext, actor: Actor, photo,
                 voice_asset, named) -> None:
        self.flows, self.req, self.ctx, self.actor = flows, req, ctx, actor
        self.photo, self.voice_asset, self.named = photo, voice_asset, named
        self.settings = flows.settings
        self.cache = flows.stages
        self.owner = actor.user_id
        weights = dict(SUNG_WEIGHTS if req.kind == "music_video" else STAGE_WEIGHTS)
        if req.kind != "explainer":
            weights["slides"] = 0
        if req.music_style == NO_MUSIC:
            weights["music"] = 0
        self.progress = Stages(ctx.progress, weights)
        self.seconds: dict[str, float] = {}
        self.reused: dict[str, list[bool]] = {}
        self.licences: list[str] = []
        self.notes: list[str] = []
        # Each part's talking head (unmarked), its stage key and its frames (heads()).
        self.head_parts: list[tuple[Path, str, int]] = []
        # The generation whose picture mark the video's segments carry (an earlier version's, when its
        # segments are reused), and its payload, set by _segments.
        self.picture_generation: int | None = None
        self.picture_payload: int | None = None
        # The talking-head output (_head_output), made in the background once its picture mark is known.
        self.head_output = None

    # ---------------------------------------------------------------- helpers

    def _report(self, stage: str):
        return lambda d, t, m="": self.progress.report(stage, d / (t or 1), m)

    def _timed(self, stage: str, fn):
        self.ctx.cancel.raise_if_set()
        t0 = time.perf_counter()
        try:
            return fn()
        finally:
            self.seconds[stage] = round(self.seconds.get(stage, 0.0) + time.perf_counter() - t0, 3)

    def _stage(self, stage: str, k: str, make):
        hit = self.cache.run(k, make)
        self.reused.setdefault(stage, []).append(hit.reused)
        return hit

    # ---------------------------------------------------------------- stages

    def script(self) -> str:
        from engines.script import is_script, write_script

        req = self.req
        if is_script(req.idea):
            self.reused["script"] = [True]
            return req.idea.strip() + "\n"
        llm = self.flows._llm()
        model = (self.settings.openai_model or "") if llm is not None else "offline"

        def make(folder: Path) -> dict:
            text = write_script(script_request(req.idea, req.kind, req.length_s), self.settings, llm)
            return {"script": text, "writer": model}

        hit = self._stage("script", key("script", STAGE_VERSION["script"], req.idea, req.kind, req.length_s, model),
                          make)
        return hit.meta["script"]

    def voice(self):
        """(the voice to speak in, a key naming it for the later stages)."""
        if self.voice_asset is None:
            choice = self.named
            self.reused["voice"] = [True]
            return choice, key("voice-named", choice.label, choice.preset, choice.backend, choice.profile_id,
                               choice.version, self.req.voice)
        self.progress.report("voice", 0, "analysing the voice sample")
        choice = self.flows.voices.temporary_voice(self.voice_asset, self.actor, self._report("voice"))
        self.reused["voice"] = [bool(choice.notes)]
        return choice, key("voice-sample", STAGE_VERSION["voice"], self.voice_asset.sha256)

    def speech(self, texts: list[tuple[str, str]], choice, voice_key: str) -> list[_Part]:
        from engines.voice.engine import SpeakRequest, speak, take_spans

        parts = []
        for i, (title, text) in enumerate(texts):
            self.ctx.cancel.raise_if_set()
            self.progress.report("speech", i / len(texts), f"speaking part {i + 1} of {len(texts)}")

            def make(folder: Path, text: str = text) -> dict:
                res = speak(SpeakRequest(text, choice, "natural"), self.settings, cancel=self.ctx.cancel,
                            backends=self.flows.backends, memory=_KeptSentences(self, voice_key))
                audio = res.audio.mono()
                spans = take_spans(res.takes)
                joined = spans[-1][1] + 0.12 if spans else audio.duration_s
                scale = audio.duration_s / joined if joined > 0 else 1.0
                frames = math.ceil((audio.duration_s + PART_GAP_S) * FPS)
                n = int(round(frames / FPS * audio.sample_rate))
                y = np.zeros(n, np.float32)
                y[:min(n, len(audio.samples))] = audio.samples[:n]
                Audio(y, audio.sample_rate).write(folder / "speech.wav", subtype="FLOAT")
                words = _word_times(audio, [(t.text, a * scale, b * scale) for t, (a, b) in zip(res.takes, spans)])
                figures = {k: res.metrics[k] for k in ("word_error_rate", "similarity", "words_heard")
                           if res.metrics.get(k) is not None}
                return {"words": words, "frames": frames, "backend": res.backend, "model": res.model,
                        "licence": res.licence, "notes": res.notes, "figures": figures}

            hit = self._stage("speech", key("speech", STAGE_VERSION["speech"], self.owner, voice_key, text), make)
            part = _Part(text, title, hit.folder, hit.meta, Audio.read(hit.folder / "speech.wav"))
            parts.append(part)
            if hit.meta["licence"] not in self.licences:
                self.licences.append(hit.meta["licence"])
        self.progress.report("speech", 1, f"{len(parts)} parts spoken")
        return parts

    def heads(self, clips: list[Audio]) -> None:
        """The portrait speaking each clip (self.head_parts), each video exactly as long as its clip."""
        from engines.talking_head import TalkingHeadRequest, render_with
        from engines.trust.video_watermark import not_marking

        px = HEAD_PX[self.req.kind]
        crop = self.req.kind == "explainer"
        portrait = self.flows.library.asset_path(self.photo)
        for i, clip in enumerate(clips):
            self.ctx.cancel.raise_if_set()
            self.progress.report("head", i / len(clips), f"animating part {i + 1} of {len(clips)}")
            digest = hashlib.sha256(np.ascontiguousarray(clip.samples, np.float32).tobytes()).hexdigest()

            def make(folder: Path, clip: Audio = clip, i: int = i) -> dict:
                def report(d, t, m=""):
                    self.progress.report("head", (i + d / (t or 1)) / len(clips), m)

                with not_marking():  # kept for later jobs: each job marks what it makes from it
                    res = render_with(
                        self.flows.backends,
                        TalkingHeadRequest(portrait=portrait, audio=clip, size=px, fps=FPS, crop=crop,
                                           output_path=folder / "head.mp4", scratch=folder / "tmp",
                                           max_image_pixels=self.settings.max_image_pixels),
                        self.settings, progress=report, cancel=self.ctx.cancel)
                shutil.rmtree(folder / "tmp", ignore_errors=True)
                for extra in folder.glob("head.jpg"):
                    extra.unlink()
                return {"frames": res.frames, "backend": res.backend, "model": res.model, "licence": res.licence,
                        "notes": res.notes}

            k = key("head", STAGE_VERSION["head"], self.owner, self.photo.sha256, digest, clip.sample_rate, px, crop,
                    FPS)
            hit = self._stage("head", k, make)
            self.head_parts.append((hit.folder / "head.mp4", k, int(hit.meta["frames"])))
            if hit.meta["licence"] not in self.licences:
                self.licences.append(hit.meta["licence"])
            for note in hit.meta.get("notes", []):
                if note not in self.notes:
                    self.notes.append(note)
        self.progress.report("head", 1, "presenter ready")

    def joined_head(self) -> Path:
        """The parts' talking heads one after another (picture only, not encoded again): the presenter of a
        video composed whole."""
        from engines.video.encode import join_segments

        joined = self.ctx.scratch / "head-joined.mp4"
        join_segments([h for h, _, _ in self.head_parts], joined, FPS, scratch=self.ctx.scratch,
                      frames=sum(n for _, _, n in self.head_parts))
        return joined

    def slides(self, deck, end_title: str) -> list[Path]:
        from engines.slides import render_slides, write_pptx
        from engines.video.cards import render_card

        blank = replace(deck, slides=tuple(replace(s, notes="") for s in deck.slides))

        def make(folder: Path) -> dict:
            self.progress.report("slides", 0.1, "laying out the slides")
            pptx = write_pptx(blank, folder / "deck.pptx", None, None, self.ctx.cancel, folder / "tmp")
            self.progress.report("slides", 0.3, "rendering the slides")
            images = render_slides(pptx, folder / "slides", scratch=folder / "tmp")
            shutil.rmtree(folder / "tmp", ignore_errors=True)
            from PIL import Image

            w, h = Image.open(images[0]).size
            Image.fromarray(render_card(w, h, "Thank you", end_title)).save(folder / "end.png")
            return {"slides": [str(p.relative_to(folder)) for p in images]}

        hit = self._stage("slides", key("slides", STAGE_VERSION["slides"], repr(blank), end_title), make)
        self.progress.report("slides", 1, f"{len(hit.meta['slides'])} slides")
        return [hit.folder / p for p in hit.meta["slides"]] + [hit.folder / "end.png"]

    def music(self, duration_s: float) -> Audio | None:
        from engines.music.bed import BedRequest, fit_bed, make_bed

        if self.req.music_style == NO_MUSIC:
            return None
        length = min(600.0, math.ceil(duration_s / BED_STEP_S) * BED_STEP_S)

        def make(folder: Path) -> dict:
            make_bed(BedRequest(self.req.music_style, length), self._report("music"),
                     self.ctx.cancel).write(folder / "bed.wav", subtype="FLOAT")
            return {"duration_s": length}

        hit = self._stage("music", key("music", STAGE_VERSION["music"], self.req.music_style, length), make)
        self.licences.append("MIT (MuseScore General soundfont)")
        return fit_bed(Audio.read(hit.folder / "bed.wav"), duration_s)

    # ---------------------------------------------------------------- the chain

    def run(self) -> JobResult:
        from concurrent.futures import ThreadPoolExecutor

        # Sounds encoded and the head output made while the picture is drawn (two at a time: the mix and the
        # voice encode together).
        self.background = ThreadPoolExecutor(max_workers=2, thread_name_prefix="clone-sound")
        try:
            return self._sung() if self.req.kind == "music_video" else self._spoken()
        finally:
            self.background.shutdown(wait=True, cancel_futures=True)

    def _in_background(self, fn, *args):
        """`fn(*args)` on the background thread, in this job's context (its marks): a future."""
        import contextvars

        return self.background.submit(contextvars.copy_context().run, fn, *args)

    def _encode_sound(self, audio: Audio, name: str, clips: list[Audio]):
        """The AAC of `audio` for the video of `clips` (a head each, whole frames), encoded in the background:
        a future path."""
        from engines.video.encode import encode_aac, frames_for

        frames = sum(frames_for(c.duration_s, FPS) for c in clips)
        return self._in_background(encode_aac, audio, self.ctx.scratch / name, frames, FPS, self.ctx.scratch)

    def _sung(self) -> JobResult:
        """Lyrics on the idea -> a song sung in the voice -> the portrait singing it over a scene."""
        from engines.music.lyrics import parse_lyrics, write_lyrics
        from engines.music.song import SongRequest, make_song
        from engines.music.types import Singer
        from engines.video.captions import parse_captions
        from engines.video.scene_video import SceneVideoRequest, render_scene_video

        req, ctx = self.req, self.ctx
        title = _song_title(req.idea)

        def lyrics_now() -> str:
            if is_lyrics(req.idea):
                self.reused["script"] = [True]
                return parse_lyrics(req.idea).to_text()
            llm = self.flows._llm()
            model = (self.settings.openai_model or "") if llm is not None else "offline"
            ask = (lambda system, user: llm(self.settings, system, user)) if llm is not None else None

            def make(folder: Path) -> dict:
                lyrics, notes = write_lyrics(req.idea, title, req.music_style, llm=ask)
                return {"lyrics": lyrics.to_text(), "notes": notes}

            hit = self._stage("script", key("lyrics", STAGE_VERSION["lyrics"], req.idea, req.music_style, model), make)
            self.notes += hit.meta["notes"]
            return hit.meta["lyrics"]

        lyrics = self._timed("script", lyrics_now)
        choice, voice_key = self._timed("voice", self.voice)
        singer = (Singer(model=choice.model, label=choice.label) if choice.model is not None
                  else Singer(espeak_voice=choice.preset, label=choice.label))
        length = round(req.length_s * FPS) / FPS  # whole frames: the head and the video as long as the song

        def make_song_now(folder: Path) -> dict:
            from engines.music.sing import voice_licences

            res = make_song(SongRequest(theme=req.idea[:500], title=title, lyrics=lyrics, music_style=req.music_style,
                                        singer=singer, duration_s=length), self._report("song"), ctx.cancel)
            res.mix.write(folder / "song.wav", subtype="FLOAT")
            res.stems["vocals"].mono().write(folder / "vocals.wav", subtype="FLOAT")
            (folder / "song.lrc").write_text(res.lrc, encoding="utf-8")
            return {"notes": res.notes, "bpm": res.bpm, "key": res.key,
                    "licence": join_licences(["MIT (MuseScore General soundfont)",
                                              *voice_licences(res.parameters.get("vocal_style") or "", singer)])}

        def song_now():
            hit = self._stage("song", key("song", STAGE_VERSION["song"], self.owner, voice_key, lyrics, req.music_style,
                                          length, title), make_song_now)
            return hit

        hit = self._timed("song", song_now)
        self.licences.append(hit.meta["licence"])
        self.notes += [n for n in hit.meta["notes"] if n not in self.notes]
        song, vocals = Audio.read(hit.folder / "song.wav"), Audio.read(hit.folder / "vocals.wav")
        lrc = (hit.folder / "song.lrc").read_text(encoding="utf-8")
        self._timed("head", lambda: self.heads([vocals]))
        # The sound is marked once, here, before the files are written (PREMARKED): not decoded and marked again.
        song, vocals = ctx.marked(song), ctx.marked(vocals)
        self.head_output = self._in_background(self._head_output, self._encode_sound(vocals, "vocals.m4a", [vocals]),
                                                ctx_head(ctx))
        scene = SceneVideoRequest(audio=song, template=req.template, captions=lrc if req.captions else "",
                                  size=req.size, fps=FPS, title=title, presenter_video=self.joined_head(),
                                  presenter_position=SCENE_PRESENTER)
        res = self._timed("video", lambda: render_scene_video(scene, ctx.workdir / "clone-video.mp4",
                                                              self._report("video"), ctx.cancel, scratch=ctx.scratch))
        lines = parse_captions(lrc, song.duration_s) if req.captions else []
        w = ctx.workdir
        name = f"{title[:60] or 'song'} - clone {ctx.generation_id}"
        outputs = video_outputs(res, name, captions=lines or None)
        outputs[0].meta.update({"role": "video", PREMARKED: True})  # picture marked as encoded, sound above
        (w / "lyrics.txt").write_text(lyrics, encoding="utf-8")
        outputs.append(JobOutput(w / "lyrics.txt", MediaKind.text, f"{name} lyrics.txt", meta={"role": "script"}))
        (w / "song.lrc").write_text(lrc, encoding="utf-8")
        outputs.append(JobOutput(w / "song.lrc", MediaKind.text, f"{name}.lrc", meta={"role": "captions"}))
        song_wav = song.write(w / "song.wav", subtype="PCM_16")
        outputs.append(JobOutput(song_wav, MediaKind.audio, f"{name} song.wav", duration_s=round(song.duration_s, 4),
                                 sample_rate=song.sample_rate, channels=song.channels,
                                 meta={"role": "music", PREMARKED: True}))
        vocals_wav = vocals.write(w / "vocals.wav", subtype="PCM_16")
        outputs.append(JobOutput(vocals_wav, MediaKind.audio, f"{name} vocals.wav",
                                 duration_s=round(vocals.duration_s, 4), sample_rate=vocals.sample_rate,
                                 channels=vocals.channels, meta={"role": "narration", PREMARKED: True}))
        head_out, head_meta = self.head_output.result()
        outputs.append(JobOutput(head_out, MediaKind.video, f"{name} head.mp4", duration_s=round(song.duration_s, 4),
                                 meta=head_meta))
        reused = {k: sum(v) for k, v in self.reused.items()}
        metrics = {"kind": req.kind, "duration_s": res.duration_s, "frames": res.frames, "parts": 1,
                   "narration_s": round(song.duration_s, 4), "stage_seconds": self.seconds, "stages_reused": reused,
                   "stages_run": {k: len(v) - sum(v) for k, v in self.reused.items()}, "bpm": hit.meta["bpm"],
                   "key": hit.meta["key"], "captions": len(lines), "word_error_rate": None, "similarity": None,
                   "timeline": [{"part": 1, "title": title, "start_s": 0.0, "duration_s": round(song.duration_s, 4)}],
                   "notes": [*self.notes, *res.notes]}
        return JobResult(outputs, backend="embedded", model="clone chain: lyrics, song in the cloned voice, talking "
                         "head, scene video", model_licence=join_licences(self.licences), metrics=metrics)

    def _spoken(self) -> JobResult:
        from engines.music.bed import under_voice
        from engines.video.word_captions import lines_from_words

        req = self.req
        script = self._timed("script", self.script)
        deck = self.flows._deck(script, req.template if req.kind == "explainer" else "dark")
        choice, voice_key = self._timed("voice", self.voice)
        texts = [(s.title or deck.title, s.notes or s.title or "") for s in deck.slides]
        texts = [(t, x) for t, x in texts if x.strip()]
        if not texts:
            raise InputError("the script has nothing to say: write what is said under 'Notes:' of each part")
        parts = self._timed("speech", lambda: self.speech(texts, choice, voice_key))
        spoken_s = sum(p.duration_s for p in parts)
        if spoken_s < 0.8 * req.length_s:
            self.notes.append(f"the script speaks for {spoken_s:.0f} s of the {req.length_s:.0f} s asked; the offline "
                              "writer's scripts reach about 90 s at most: a language model (OPENAI_API_KEY or "
                              "OPENAI_BASE_URL), a pasted text or your own script makes longer videos")
        rate = parts[0].audio.sample_rate
        end = Audio(np.zeros(int(round(END_CARD_S * rate)), np.float32), rate) if req.kind == "explainer" else None
        clips = [p.audio for p in parts] + ([end] if end is not None else [])
        narration = Audio.concat(clips)
        images = self._timed("slides", lambda: self.slides(deck, deck.title)) if req.kind == "explainer" else []
        bed = self._timed("music", lambda: self.music(narration.duration_s))
        over = self._timed("mix", lambda: under_voice(narration, bed))
        # The sound is marked once, here, before the files are written (PREMARKED): not decoded and marked again.
        mix, voice, music = (self.ctx.marked(a) if a is not None else None for a in (over.mix, over.voice, over.music))
        mix_sound = self._encode_sound(mix, "mix.m4a", clips) if req.kind == "explainer" else None
        self.voice_sound = self._encode_sound(voice, "voice.m4a", clips)
        self._timed("head", lambda: self.heads(clips))
        # Captions a part at a time (a line never runs across a change of slide), on the video's timeline.
        part_lines = [lines_from_words([_Word(*w) for w in p.meta["words"]], p.duration_s) if req.captions else []
                      for p in parts]
        lines, t = [], 0.0
        for p, own in zip(parts, part_lines):
            lines += [_shifted(line, t) for line in own]
            t += p.duration_s
        if req.kind == "explainer":
            res = self._timed("video", lambda: self._segments(parts, images, part_lines, mix_sound))
        else:
            self.head_output = self._in_background(self._head_output, self.voice_sound, ctx_head(self.ctx))
            res = self._timed("video", lambda: self._compose(deck, self.joined_head(), mix, lines))
        return self._result(res, script, voice, music, lines, parts, deck.title)

    def _segments(self, parts: list[_Part], images: list[Path], part_lines: list[list], soundtrack):
        """The explainer's video a slide at a time: each part's segment (its slide, its neighbours' in the
        transitions, its presenter and captions) kept by content, so an edit draws and encodes again only the
        parts it changed; the segments joined without encoding again, with the sound and a chapter per slide.
        Neighbouring parts to draw are drawn in one pass and cut into their segments (a first run draws the
        whole video once).

        A kept segment carries the picture mark it was drawn with. So that the whole picture names one
        generation, segments are drawn with the mark most of the kept ones carry (the clone's earlier
        version's, when this is an edit of it), else this generation's."""
        from engines.trust.video_watermark import encode_mark
        from engines.video.encode import join_segments
        from engines.video.types import Chapter, VideoResult, parse_size

        req, ctx = self.req, self.ctx
        titles = [p.title for p in parts] + ["The end"]
        frames = [int(round(p.duration_s * FPS)) for p in parts] + [int(round(END_CARD_S * FPS))]
        lines = [*part_lines, []]
        shas = [_sha_file(img) for img in images]
        keys = []
        for j in range(len(frames)):
            near = [shas[j - 1] if j > 0 else None, shas[j], shas[j + 1] if j + 1 < len(shas) else None]
            keys.append(key("segment", STAGE_VERSION["segment"], self.owner, near, frames[j], self.head_parts[j][1],
                            [(ln.start_s, ln.end_s, ln.text, [(w.start_s, w.end_s, w.text) for w in ln.words])
                             for ln in lines[j]], req.size, FPS, TRANSITION, self.settings.max_image_pixels))
        mark = encode_mark()
        kept = [self.cache.get(k) for k in keys]
        payload, generation = self._mark_to_keep(kept, frames, mark)
        self.picture_payload = payload
        self.picture_generation = generation if payload is not None else None
        self.head_output = self._in_background(self._head_output, self.voice_sound, ctx_head(ctx))
        # A kept segment with another mark (the clone made from two earlier versions) is drawn again for this
        # video and not kept.
        redraw = [hit is not None and (hit.meta.get("payload"), hit.meta.get("generation_id")) != (payload, generation)
                  for hit in kept]
        todo = [hit is None or again for hit, again in zip(kept, redraw)]
        drawn: dict[int, tuple[Path, dict]] = {}
        runs = [[]]
        for j, draw in enumerate(todo):
            if draw:
                runs[-1].append(j)
            elif runs[-1]:
                runs.append([])
        done, total = 0, sum(frames[j] for j in range(len(frames)) if todo[j])
        for run in (r for r in runs if r):
            pieces = self._draw_run(run, images, frames, lines, payload, generation, mark,
                                    lambda d, t, m="", base=done: self.progress.report(
                                        "video", (base + d) / max(1, total), m))
            drawn.update(zip(run, pieces))
            done += sum(frames[j] for j in run)
        paths, metrics = [], {}
        for j, (k, hit) in enumerate(zip(keys, kept)):
            ctx.cancel.raise_if_set()
            if redraw[j]:
                hit = StageHit(drawn[j][0].parent, drawn[j][1], False)
                self.reused.setdefault("segment", []).append(False)
                paths.append(drawn[j][0])
            else:
                def keep(folder: Path, j: int = j) -> dict:
                    piece, meta = drawn[j]
                    shutil.move(piece, folder / "segment.mp4")
                    shutil.move(piece.with_suffix(".jpg"), folder / "segment.jpg")
                    return meta

                hit = self._stage("segment", k, keep)
                paths.append(hit.folder / "segment.mp4")
            metrics = metrics or {m: v for m, v in hit.meta.items() if m not in ("payload", "generation_id", "frames")}
        self.progress.report("video", 1, "joining the parts")
        out = ctx.workdir / "clone-video.mp4"
        starts = np.concatenate([[0.0], np.cumsum(frames)[:-1]]) / FPS
        chapters = [Chapter(round(float(t), 3), title) for t, title in zip(starts, titles)]
        n = join_segments(paths, out, FPS, None, chapters, ctx.scratch, frames=sum(frames), sound=soundtrack.result())
        poster = out.with_suffix(".jpg")
        shutil.copyfile(paths[0].with_suffix(".jpg"), poster)
        size, notes = parse_size(req.size)
        return VideoResult(out, size.width_px, size.height_px, FPS, n / FPS, n, poster, chapters, notes, metrics)

    def _draw_run(self, run: list[int], images: list[Path], frames: list[int], lines: list[list], payload, generation,
                  mark, report) -> list[tuple[Path, dict]]:
        """Neighbouring parts `run` of the explainer drawn in one pass and cut into a segment each (in the job's
        scratch folder): their slides frame-exact, their neighbours' slides SEGMENT_LEAD_S long for the
        transitions, their talking heads and captions one after another. Returns (file, meta) a part."""
        from engines.trust.video_watermark import marking_encodes, not_marking
        from engines.video.encode import join_segments
        from engines.video.slideshow import Slide, SlideshowRequest, render_slideshow_pieces

        req, ctx = self.req, self.ctx
        first_j, last_j = run[0], run[-1]
        folder = ctx.scratch / f"segments-{first_j}-{last_j}"
        folder.mkdir(parents=True, exist_ok=True)
        slides = ([Slide(images[first_j - 1], SEGMENT_LEAD_S)] if first_j > 0 else []) + [
            Slide(images[j], frames[j] / FPS) for j in run] + (
            [Slide(images[last_j + 1], SEGMENT_LEAD_S)] if last_j + 1 < len(images) else [])
        lead = int(round(SEGMENT_LEAD_S * FPS)) if first_j > 0 else 0
        bounds = [lead + int(x) for x in np.cumsum([0] + [frames[j] for j in run])]
        heads = [self.head_parts[j][0] for j in run]
        presenter = heads[0]
        if len(heads) > 1:  # the parts' heads one after another, not encoded again
            presenter = folder / "presenter.mp4"
            join_segments(heads, presenter, FPS, scratch=folder)
        captions = [_shifted(line, (b - lead) / FPS) for j, b in zip(run, bounds) for line in lines[j]]
        outs = [folder / f"segment-{j}.mp4" for j in run]
        with marking_encodes(payload, mark.key) if payload is not None else not_marking():
            results = render_slideshow_pieces(
                SlideshowRequest(slides=slides, audio=None, size=req.size, fps=FPS, transition=TRANSITION[0],
                                 transition_s=TRANSITION[1], presenter_video=presenter, caption_lines=captions or None,
                                 max_image_pixels=self.settings.max_image_pixels, segment=(bounds[0], bounds[-1]),
                                 cuts=tuple(bounds[1:-1])),
                outs, report, ctx.cancel, folder / "tmp")
        shutil.rmtree(folder / "tmp", ignore_errors=True)
        extra = {k: results[0].metrics[k] for k in ("presenter_box", "slide_columns", "caption_band")
                 if k in results[0].metrics}
        return [(res.path, {"payload": payload, "generation_id": generation, "frames": res.frames, **extra})
                for res in results]

    def _mark_to_keep(self, kept: list[StageHit | None], frames: list[int], mark) -> tuple[int | None, int]:
        """(payload, generation) of the picture mark to make new pieces with: the one on most kept frames (of the
        same kind: marked or not), else this job's."""
        votes: dict = {}
        for hit, n in zip(kept, frames):
            if hit is not None and (hit.meta.get("payload") is None) == (mark is None):
                g = (hit.meta.get("payload"), hit.meta.get("generation_id"))
                votes[g] = votes.get(g, 0) + n
        if votes:
            return max(votes, key=votes.get)
        return (mark.payload if mark is not None else None), self.ctx.generation_id

    def _head_output(self, sound, out: Path) -> tuple[Path, dict]:
        """(`out`: the clone's talking head with `sound` (a future of its AAC, _encode_sound), its output meta),
        made in the background while the video is drawn. Each part's
        picture is marked once and kept by content, then the parts are joined without encoding again: an edit
        marks only the parts it changed. The sound is already marked (PREMARKED). The picture names one
        generation: the video's picture's (an explainer), else the one most kept parts carry, else this one."""
        from engines.trust.video_watermark import encode_mark, mark_file
        from engines.video.encode import join_segments

        ctx = self.ctx
        frames = sum(n for _, _, n in self.head_parts)
        sound = sound.result()
        mark = encode_mark()
        if mark is None:
            join_segments([h for h, _, _ in self.head_parts], out, FPS, scratch=ctx.scratch, frames=frames, sound=sound)
            return out, {"role": "head"}
        keys = [key("head_marked", STAGE_VERSION["head_marked"], k) for _, k, _ in self.head_parts]
        kept = [self.cache.get(k) for k in keys]
        if self.picture_payload is not None:
            payload, generation = self.picture_payload, self.picture_generation
        else:
            payload, generation = self._mark_to_keep(kept, [n for _, _, n in self.head_parts], mark)
        parts = []
        for j, ((head, _, n), k, hit) in enumerate(zip(self.head_parts, keys, kept)):
            ctx.cancel.raise_if_set()

            def make(folder: Path, head: Path = head, n: int = n) -> dict:
                mark_file(head, folder / "head.mp4", payload, mark.key)
                return {"payload": payload, "generation_id": generation, "frames": n}

            if hit is not None and (hit.meta.get("payload"), hit.meta.get("generation_id")) != (payload, generation):
                folder = ctx.scratch / f"head-marked-{j}"  # kept with another mark: marked again, not kept
                folder.mkdir(parents=True, exist_ok=True)
                make(folder)
                self.reused.setdefault("head_marked", []).append(False)
                parts.append(folder / "head.mp4")
            else:
                parts.append(self._stage("head_marked", k, make).folder / "head.mp4")
        join_segments(parts, out, FPS, scratch=ctx.scratch, frames=frames, sound=sound)
        meta = {"role": "head", PREMARKED: True}
        if generation != ctx.generation_id:  # its picture reused from an earlier version
            meta["picture_generation_id"] = generation
        return out, meta

    def _compose(self, deck, head: Path, soundtrack: Audio, lines):
        from engines.video.scene_video import SceneVideoRequest, render_scene_video

        req, ctx = self.req, self.ctx
        out = ctx.workdir / "clone-video.mp4"
        scene = SceneVideoRequest(audio=soundtrack, template=req.template, caption_lines=lines or None, size=req.size,
                                  fps=FPS, title=deck.title, presenter_video=head, presenter_position=SCENE_PRESENTER)
        return render_scene_video(scene, out, self._report("video"), ctx.cancel, scratch=ctx.scratch)

    # ---------------------------------------------------------------- the result

    def _result(self, res, script: str, narration: Audio, bed: Audio | None, lines, parts, title: str):
        ctx = self.ctx
        w = ctx.workdir
        name = f"{title.strip()[:60] or 'clone'} - clone {ctx.generation_id}"
        outputs = video_outputs(res, name, captions=lines or None, lrc=bool(lines))
        outputs[0].meta.update({"role": "video", PREMARKED: True})  # picture marked as encoded, sound before
        if self.picture_generation not in (None, ctx.generation_id):  # its picture reused from an earlier version
            outputs[0].meta["picture_generation_id"] = self.picture_generation
        (w / "script.md").write_text(script, encoding="utf-8")
        outputs.append(JobOutput(w / "script.md", MediaKind.text, f"{name} script.md", meta={"role": "script"}))
        wav = narration.write(w / "narration.wav", subtype="PCM_16")
        outputs.append(JobOutput(wav, MediaKind.audio, f"{name} narration.wav",
                                 duration_s=round(narration.duration_s, 4), sample_rate=narration.sample_rate,
                                 channels=narration.channels, meta={"role": "narration", PREMARKED: True}))
        if bed is not None:
            music = bed.write(w / "music.wav", subtype="PCM_16")
            outputs.append(JobOutput(music, MediaKind.audio, f"{name} music.wav", duration_s=round(bed.duration_s, 4),
                                     sample_rate=bed.sample_rate, channels=bed.channels,
                                     meta={"role": "music", PREMARKED: True}))
        head_out, head_meta = self.head_output.result()
        outputs.append(JobOutput(head_out, MediaKind.video, f"{name} head.mp4",
                                 duration_s=round(narration.duration_s, 4), meta=head_meta))
        figures = [p.meta.get("figures", {}) for p in parts]
        words = [len(p.text.split()) for p in parts]
        wer = [(f["word_error_rate"], n) for f, n in zip(figures, words) if f.get("word_error_rate") is not None]
        sim = [f["similarity"] for f in figures if f.get("similarity") is not None]
        reused = {k: sum(v) for k, v in self.reused.items()}
        metrics = {
            "kind": self.req.kind, "duration_s": res.duration_s, "frames": res.frames, "parts": len(parts),
            "narration_s": round(narration.duration_s, 4), "stage_seconds": self.seconds,
            "stages_reused": reused, "stages_run": {k: len(v) - sum(v) for k, v in self.reused.items()},
            "word_error_rate": round(sum(x * n for x, n in wer) / sum(n for _, n in wer), 4) if wer else None,
            "similarity": round(float(np.mean(sim)), 4) if sim else None,
            "timeline": _timeline(parts), "captions": len(lines),
            "picture_mark_generation": self.picture_generation, "music_ducking_db": 18.0 if bed is not None else 0,
            "notes": [*self.notes, *res.notes],
            **{k: res.metrics[k] for k in ("presenter_box", "slide_columns", "caption_band") if k in res.metrics},
        }
        return JobResult(outputs, backend="embedded", model="clone chain: script, cloned speech, talking head, "
                         "music bed, video", model_licence=join_licences(self.licences), metrics=metrics)


def is_lyrics(text: str) -> bool:
    """True when the idea is already lyrics: it has [Verse]/[Chorus]-style section headers."""
    from engines.music.lyrics import _header_kind

    return any(_header_kind(line) for line in str(text).splitlines())


def _song_title(idea: str) -> str:
    from engines.script import _title

    first = next((x for x in str(idea).splitlines() if x.strip() and not x.strip().startswith(("[", "("))), idea)
    return _title(first)[:60]


@dataclass(frozen=True)
class _Word:
    text: str
    start_s: float
    end_s: float


def ctx_head(ctx: JobContext) -> Path:
    """Where a clone's talking-head output is written."""
    return ctx.workdir / "head.mp4"


def _shifted(line, by_s: float):
    """A caption line `by_s` seconds later."""
    from engines.video.captions import CaptionLine, CaptionWord

    return CaptionLine(round(line.start_s + by_s, 3), round(line.end_s + by_s, 3), line.text,
                       [CaptionWord(round(w.start_s + by_s, 3), round(w.end_s + by_s, 3), w.text) for w in line.words])


def _timeline(parts: list[_Part]) -> list[dict]:
    out, t = [], 0.0
    for i, p in enumerate(parts):
        out.append({"part": i + 1, "title": p.title, "start_s": round(t, 4), "duration_s": round(p.duration_s, 4)})
        t += p.duration_s
    return out


def _word_times(audio: Audio, sentences: list[tuple[str, float, float]]) -> list[list]:
    """Each word's (text, start, end) in `audio`: within its sentence's span, trimmed to where the sound is,
    spread by the words' lengths (a syllable takes about as long as its letters)."""
    y = np.abs(audio.mono().samples.astype(np.float32))
    rate = audio.sample_rate
    out: list[list] = []
    for text, a, b in sentences:
        words = text.split()
        if not words:
            continue
        i0, i1 = int(a * rate), max(int(a * rate) + 1, int(b * rate))
        seg = y[i0:i1]
        if len(seg):
            loud = np.flatnonzero(seg > max(1e-4, 0.05 * float(seg.max())))
            if len(loud):
                i0, i1 = i0 + int(loud[0]), i0 + int(loud[-1]) + 1
        start, end = i0 / rate, i1 / rate
        weights = np.array([len(w) + 1 for w in words], np.float64)
        edges = start + (end - start) * np.concatenate([[0.0], np.cumsum(weights) / weights.sum()])
        out += [[w, round(float(edges[k]), 3), round(float(edges[k + 1]), 3)] for k, w in enumerate(words)]
    return out
