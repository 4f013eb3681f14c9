"""Music workflows: lyrics from a theme, a whole song (composed, sung, mixed, mastered) and re-mixes
of stored stems, each recorded as a job with its inputs and outputs.

A song generation keeps: the mastered song (WAV and MP3), one FLAC per stem (meta "stem"), the MIDI,
the lyrics as LRC and as text, and in its metrics the mix settings used, so `/mix` can re-mix the
stems later without composing again.
"""

from __future__ import annotations

import json
import logging
import zipfile
from pathlib import Path

from core.audio import Audio, encode_mp3
from core.errors import BackendUnavailable, InputError
from core.licences import join as join_licences
from core.progress import CancelToken, ProgressFn, Stages, no_progress
from engines.backend import Backends, Provenance
from settings import Settings
from storage.jobs import PREMARKED, Finished, JobContext, JobOutput, JobResult, JobRunner
from storage.library import ANONYMOUS, Actor, Library
from storage.models import Asset, MediaKind
from workflows.voice import VoiceWorkflows

log = logging.getLogger(__name__)

# The instrumental source that always plays: the embedded composer, rendered with FluidSynth.
EMBEDDED = Provenance("FluidSynth + MuseScore General", "MIT (MuseScore General soundfont)")
# Bit rate of the song's MP3 download, in kbit/s.
SONG_MP3_KBPS = 192
# Threads marking and writing a song's stems next to the job's own (which mixes, then writes the song).
STEM_WRITERS = 1


def _audio_output(audio: Audio, path: Path, name: str, **meta) -> JobOutput:
    audio.write(path, subtype="PCM_16")
    return JobOutput(path, MediaKind.audio, name, duration_s=round(audio.duration_s, 4),
                     sample_rate=audio.sample_rate, channels=audio.channels, meta=meta)


class _SongFiles:
    """Writes a song's sound files as they become ready, each carrying the generation's watermark: the mix
    (WAV, and the MP3 encoded from it) and one FLAC per stem. The mark goes in once, in memory, before a
    file is written (the MP3 is encoded from the marked mix rather than decoded, marked and encoded again).
    The stems are marked and written by a worker thread while the song is mixed (make_song's
    `stems_ready`); the mix, once made, is marked and written by the job's thread and its MP3 encoded by
    ffmpeg while the worker finishes the stems."""

    def __init__(self, ctx: JobContext, name: str) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.ctx, self.name = ctx, name
        self._pool = ThreadPoolExecutor(STEM_WRITERS, thread_name_prefix="song-stems")
        self._stems: dict = {}

    def __enter__(self) -> _SongFiles:
        return self

    def __exit__(self, *exc) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def stems_ready(self, stems: dict[str, Audio]) -> None:
        for part, audio in stems.items():
            if part not in self._stems:
                self._stems[part] = self._pool.submit(self._stem, part, audio)

    def _stem(self, part: str, audio: Audio) -> JobOutput:
        return _audio_output(self.ctx.marked(audio), self.ctx.workdir / f"stem-{part}.flac",
                             f"{self.name} - {part}.flac", role="stem", stem=part, **{PREMARKED: True})

    def finish(self, mix: Audio, stems: dict[str, Audio]) -> list[JobOutput]:
        """The song's WAV and MP3, then the stems' FLACs, in the stems' order."""
        self.stems_ready(stems)  # any the song did not hand over as it went
        w = self.ctx.workdir
        marked = self.ctx.marked(mix)
        wav = _audio_output(marked, w / "song.wav", f"{self.name}.wav", role="song", **{PREMARKED: True})
        mp3 = encode_mp3(w / "song.wav", w / "song.mp3", SONG_MP3_KBPS)
        return [wav, JobOutput(mp3, MediaKind.audio, f"{self.name}.mp3", duration_s=round(marked.duration_s, 4),
                               sample_rate=marked.sample_rate, channels=marked.channels,
                               meta={"role": "song-mp3", PREMARKED: True}),
                *(self._stems[part].result() for part in stems)]


class MusicWorkflows:
    def __init__(self, settings: Settings, library: Library, jobs: JobRunner, voices: VoiceWorkflows,
                 backends: Backends) -> None:
        self.settings, self.library, self.jobs, self.voices = settings, library, jobs, voices
        # The music backends a song's instrumental can come from, besides the embedded composer.
        self.backends = backends

    # ------------------------------------------------------------ helpers

    def _llm(self):
        """The configured language model as a `(system, user) -> text` callable, or None."""
        from engines import llm

        if not llm.available(self.settings).available:
            return None
        return lambda system, user: llm.complete(self.settings, system, user)

    def singer(self, voice: str, actor: Actor = ANONYMOUS):
        """Who sings: "default", an espeak-ng voice, or a cloned voice profile."""
        from engines.music.types import Singer

        choice = self.voices.resolve(voice, actor)
        if choice.model is not None:
            return Singer(model=choice.model, label=choice.label)
        if choice.backend not in ("", "embedded"):
            raise InputError(f"voice {voice!r} belongs to the {choice.backend} backend, which cannot sing: "
                             "use 'default', an espeak-ng voice such as 'en-us', or a voice profile")
        return Singer(espeak_voice=choice.preset, label=choice.label)

    # ------------------------------------------------------------ lyrics

    def write_lyrics(self, theme: str, title: str = "", music_style: str = "epic", mood: str = "", *,
                     seed: int = 0, project_id=None, actor: Actor = ANONYMOUS,
                     progress: ProgressFn = no_progress) -> tuple[Finished, str]:
        from engines.music.lyrics import check_theme, check_words, write_lyrics
        from engines.music.styles import get_style

        check_theme(theme)
        check_words(title, mood)
        get_style(music_style)
        self.library.check_project(project_id, actor)
        llm = self._llm()
        def work(ctx: JobContext) -> JobResult:
            lyrics, notes = write_lyrics(theme, title, music_style, mood, seed=int(seed), llm=llm)
            text = lyrics.to_text()
            path = ctx.workdir / "lyrics.txt"
            path.write_text(text, encoding="utf-8")
            return JobResult([JobOutput(path, MediaKind.text, f"{(title or theme)[:60]} lyrics.txt",
                                        meta={"notes": notes})],
                             backend="llm" if llm and not notes else "embedded",
                             model=self.settings.openai_model if llm and not notes else "rhyme writer (CMU dict)",
                             model_licence="" if llm and not notes else "BSD (CMU Pronouncing Dictionary)",
                             metrics={"notes": notes}, returned=text)

        done = self.jobs.run(kind="lyrics", params={"theme": theme, "title": title, "music_style": music_style,
                                                   "mood": mood, "seed": int(seed)},
                             work=work, project_id=project_id, progress=progress, actor=actor)
        return done, done.returned

    # ------------------------------------------------------------ songs

    def compose(self, theme: str, title: str = "", lyrics: str = "", music_style: str = "epic",
                voice_style: str = "heroic_male", voice: str = "default", duration_s: float = 60, bpm: float = 0,
                seed: int = 0, project_id=None, *, backend: str = "embedded",
                actor: Actor = ANONYMOUS, progress: ProgressFn = no_progress,
                cancel: CancelToken | None = None) -> tuple[Finished, dict]:
        from engines.music.song import SongRequest, check_song_request, make_song

        choices = ("embedded", *self.backends.names("music"))
        if backend not in choices:
            raise InputError(f"unknown music backend {backend!r}: use one of {', '.join(choices)}")
        singer = self.singer(voice, actor)
        req = SongRequest(theme=theme, title=title, lyrics=lyrics, music_style=music_style, vocal_style=voice_style,
                          singer=singer, duration_s=duration_s, bpm=bpm, seed=int(seed))
        req, clamp_notes = check_song_request(req)
        self.library.check_project(project_id, actor)
        llm = self._llm() if not (lyrics or "").strip() else None
        params = {"theme": theme, "title": title, "lyrics": lyrics, "music_style": music_style,
                  "voice_style": voice_style, "voice": voice, "duration_s": req.duration_s, "bpm": req.bpm,
                  "seed": int(seed), "backend": backend}

        def work(ctx: JobContext) -> JobResult:
            notes = list(clamp_notes)
            song_req = req
            made_by, used = EMBEDDED, "embedded"
            if backend != "embedded":
                stages = Stages(ctx.progress, {"instrumental": 3, "song": 2})
                instrumental, note = self._instrumental(backend, req, stages, ctx.cancel)
                if instrumental is not None:
                    song_req = SongRequest(**{**req.__dict__, "instrumental": instrumental})
                    made_by, used = self.backends.get("music", backend).provenance(self.settings), backend
                else:
                    notes.append(note)
                song_progress = lambda d, t, m="": stages.report("song", d / (t or 1), m)  # noqa: E731
            else:
                song_progress = ctx.progress
            # The generation id in every file name: the client API's /mix and /music_video take it.
            name = f"{(title or theme or 'song').strip()[:60]} - song {ctx.generation_id}"
            with _SongFiles(ctx, name) as files:
                res = make_song(song_req, progress=song_progress, cancel=ctx.cancel, llm=llm,
                                stems_ready=files.stems_ready)
                outputs = files.finish(res.mix, res.stems)
            notes += res.notes
            w = ctx.workdir
            (w / "song.mid").write_bytes(res.midi_bytes)
            outputs.append(JobOutput(w / "song.mid", MediaKind.other, f"{name}.mid", meta={"role": "midi"}))
            (w / "lyrics.lrc").write_text(res.lrc, encoding="utf-8")
            outputs.append(JobOutput(w / "lyrics.lrc", MediaKind.text, f"{name}.lrc", meta={"role": "lrc"}))
            (w / "lyrics.txt").write_text(res.lyrics_text, encoding="utf-8")
            outputs.append(JobOutput(w / "lyrics.txt", MediaKind.text, f"{name} lyrics.txt", meta={"role": "lyrics"}))
            metrics = {**res.metrics, "bpm": res.bpm, "key": res.key, "sections": res.sections,
                       "notes": notes, "mix_settings": json.loads(res.mix_settings.to_json()),
                       "parameters": res.parameters}
            from engines.music.sing import voice_licences

            licence = join_licences([made_by.licence, *voice_licences(req.vocal_style, req.singer)])
            return JobResult(outputs, backend=used, model=made_by.model, model_licence=licence, metrics=metrics,
                             returned=res)

        done = self.jobs.run(kind="song", params=params, work=work, project_id=project_id, progress=progress,
                             cancel=cancel, actor=actor)
        return done, done.returned

    def _instrumental(self, name: str, req, stages: Stages,
                      cancel: CancelToken | None) -> tuple[Audio | None, str]:
        """The instrumental from the music backend `name`, or None and the reason it could not run
        (the embedded composer then plays instead)."""
        from engines.music.styles import get_style

        backend = self.backends.get("music", name)
        label = backend.title or backend.name
        avail = self.backends.availability("music", name, self.settings)
        if not avail.available:
            return None, f"{label} is not available here ({avail.reason}); the embedded composer played instead"
        style = get_style(req.music_style)
        # The composed melody is sung over it: ask for the same tempo.
        prompt = f"{style.label} music at {req.bpm:.0f} bpm, {req.theme}".strip(" ,")
        try:
            audio = backend.generate(prompt, req.duration_s, seed=req.seed, settings=self.settings,
                                     progress=lambda d, t, m="": stages.report("instrumental", d / (t or 1), m),
                                     cancel=cancel)
        except BackendUnavailable as e:
            return None, f"{label} failed ({e}); the embedded composer played instead"
        return audio, ""

    def song(self, song_id, actor: Actor = ANONYMOUS) -> tuple:
        """A stored song generation with its assets by role."""
        g, _, outputs = self.library.get_generation(song_id, "song", actor)
        return g, outputs

    def stems(self, song_id, actor: Actor = ANONYMOUS) -> dict[str, Asset]:
        _, outputs = self.song(song_id, actor)
        return {a.meta["stem"]: a for a in outputs if a.meta.get("role") == "stem"}

    def stems_zip(self, song_id, dest: Path, actor: Actor = ANONYMOUS) -> Path:
        """All stems of a song in one zip (written to dest)."""
        g, outputs = self.song(song_id, actor)
        stems = [a for a in outputs if a.meta.get("role") == "stem"]
        dest.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(dest, "w", zipfile.ZIP_STORED) as zf:
            for a in stems:
                zf.write(self.library.asset_path(a), f"{a.meta['stem']}.flac")
        return dest

    def mix(self, song_id, settings_json: str = "", *, actor: Actor = ANONYMOUS,
            progress: ProgressFn = no_progress) -> Finished:
        """Re-mix and master a song's stored stems with new settings (JSON); nothing is recomposed."""
        from engines.music.mix import MixSettings, mix

        g, outputs = self.song(song_id, actor)
        stems = {a.meta["stem"]: a for a in outputs if a.meta.get("role") == "stem"}
        if not stems:
            raise InputError(f"song {g.id} kept no stems to mix")
        base = MixSettings.from_json(json.dumps(g.metrics.get("mix_settings") or {}), list(stems))
        settings = MixSettings.from_json(settings_json, list(stems), base=base) if (settings_json or "").strip() \
            else base
        params = {"song_id": g.id, "settings": json.loads(settings.to_json())}

        def work(ctx: JobContext) -> JobResult:
            ctx.progress(0, 3, "loading stems")
            audio = {name: Audio.read(self.library.asset_path(a)) for name, a in stems.items()}
            ctx.progress(1, 3, "mixing and mastering")
            res = mix(audio, settings)
            ctx.progress(2, 3, "saving")
            name = (g.params.get("title") or g.params.get("theme") or "song").strip()[:60]
            out = _audio_output(res.audio, ctx.workdir / "mix.wav", f"{name} - mix {ctx.generation_id}.wav",
                                role="song")
            return JobResult([out], backend="embedded", model="pedalboard mixer",
                             metrics={"lufs": res.lufs, "true_peak_dbtp": res.true_peak_dbtp,
                                      "mix_settings": json.loads(settings.to_json())})

        return self.jobs.run(kind="mix", params=params, work=work, project_id=g.project_id,
                             inputs=[a.id for a in stems.values()], progress=progress, actor=actor)

