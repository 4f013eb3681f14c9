"""Voice workflows: what the Voice tab, the API and other tabs (songs, talking heads, slides)
call. They tie the voice engine to storage: uploads are checked, work is recorded as a
job, outputs become assets, profiles are stored."""

from __future__ import annotations

import logging
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.audio import Audio
from core.errors import InputError
from core.progress import CancelToken, ProgressFn, Stages, no_progress
from engines.backend import Backends
from engines.voice import espeak
from engines.voice.engine import (
    SpeakRequest,
    SpeakResult,
    VoiceChoice,
    regenerate,
    speak,
    takes_from_bytes,
    takes_to_bytes,
)
from settings import Settings
from storage.intake import probe_upload
from storage.jobs import Finished, JobContext, JobOutput, JobResult, JobRunner
from storage.library import ANONYMOUS, Actor, Library, NotFound, clean_name
from storage.models import MediaKind
from storage.voices import NewClip, VoiceProfiles

log = logging.getLogger(__name__)

MAX_REFERENCE_CLIPS = 20
# One-shot clones kept in memory, by the reference's content hash (a repeated /clone_voice with
# the same clip skips the analysis).
ONE_SHOT_CACHE = 16


@dataclass
class LoadedProfile:
    choice: VoiceChoice
    profile_id: int


class VoiceWorkflows:
    def __init__(self, settings: Settings, library: Library, jobs: JobRunner, backends: Backends) -> None:
        self.settings = settings
        self.library = library
        self.jobs = jobs
        # The backends the app offers (speech here; talking heads and music for the other workflows).
        self.backends = backends
        self.profiles = VoiceProfiles(library)
        self._model_cache: dict[tuple[int, str], object] = {}
        # reference sha256 -> (voice model, embedding), most recent last.
        self._one_shot: dict[str, tuple[object, np.ndarray]] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------ voices

    def resolve(self, voice: str | None, actor: Actor = ANONYMOUS) -> VoiceChoice:
        """"default", "profile:<id>" or a profile's name, an espeak voice ("de", "en-us+f2"),
        or a backend preset ("v2/en_speaker_6" for Bark, "alloy" for OpenAI)."""
        v = (voice or "default").strip()
        if v.lower() in ("", "default"):
            return VoiceChoice("default")
        if v.startswith("profile:") or any(p.name == v for p in self.profiles.list(actor)):
            return self._profile_choice(v, actor)
        lang = v.split("+")[0]
        if lang in espeak.voices():
            espeak.check_voice(v)
            return VoiceChoice(v, preset=v, backend="embedded", language=lang)
        for name in ("bark", "openai"):
            if name in self.backends.names("voice") and v in self.backends.get("voice", name).presets():
                language = v.split("/")[-1].split("_")[0] if name == "bark" else "en-us"
                return VoiceChoice(v, preset=v, backend=name, language=language)
        raise InputError(
            f"unknown voice {v!r}: use 'default', a language such as 'en-us' or 'de', a variant such as "
            "'en-us+f2', a voice profile ('profile:<id>', see /list_voices), or a Bark/OpenAI preset"
        )

    def _profile_choice(self, ref: str, actor: Actor) -> VoiceChoice:
        from engines.voice import clone

        p = self.profiles.get(ref, actor, need="speak")
        notes: tuple[str, ...] = ()
        with self._lock:
            key = (p.id, p.updated_at.isoformat())
            model = self._model_cache.get(key)
            if model is None:
                try:
                    model = clone.VoiceModel.from_bytes(self.profiles.model_bytes(p))
                except clone.OutdatedModel:
                    # Rebuilt on its owner's behalf (the speaker may be someone it is shared with).
                    p, model = self._rebuild(p, Actor(user_id=p.owner_id, username=p.consent_by))
                    key = (p.id, p.updated_at.isoformat())
                    notes = (f"the voice '{p.name}' was made by an earlier version of the cloner and was rebuilt "
                             "from its reference recordings",)
                self._model_cache = {k: v for k, v in self._model_cache.items() if k[0] != p.id}
                self._model_cache[key] = model
        emb = np.asarray(p.embedding, dtype=np.float64) if p.embedding else None
        return VoiceChoice(f"{p.name} (profile {p.id})", language=model.language, profile_id=p.id, model=model,
                           embedding=emb, notes=notes, version=p.updated_at.isoformat())

    def _rebuild(self, p, actor: Actor):
        """Analyse a stored profile's references again (its model is from an older format)."""
        clips = [(Audio.read(path), name) for path, name in self.profiles.reference_paths(p)]
        log.info("rebuilding voice profile %s from %d references", p.id, len(clips))
        model, emb, stats = self._analyse(clips, no_progress)
        p = self.profiles.save(name=p.name, clips=[], model=model.to_bytes(), base_voice=model.base_voice,
                               stats={**stats, "rebuilt_from": p.base_voice},
                               embedding=emb.tolist(), actor=actor, profile_id=p.id)
        return p, model

    def list_voices(self, actor: Actor = ANONYMOUS) -> dict:
        presets = {}
        for b in self.backends.of("voice"):
            avail = self.backends.availability("voice", b.name, self.settings)
            presets[b.name] = {"available": avail.available, "reason": avail.reason, "presets": b.presets()}
        from storage.voices import profile_json

        shared = self.profiles.shared_with(actor)
        return {
            "profiles": [profile_json(p, [] if p.id in shared else self.profiles.files(p.id), shared.get(p.id))
                         for p in self.profiles.list(actor)],
            "backends": presets,
        }

    # ------------------------------------------------------------ profiles

    def _load_clips(self, files: list[tuple[Path, str]], work: Path,
                    first_index: int = 0) -> list[tuple[Audio, NewClip]]:
        if not files:
            raise InputError("no reference audio was given; upload or record 3 s to 2 min of the person speaking")
        if len(files) > MAX_REFERENCE_CLIPS:
            raise InputError(f"{len(files)} clips were given; at most {MAX_REFERENCE_CLIPS} per profile")
        out = []
        for i, (path, name) in enumerate(files, start=first_index):
            sub = work / f"clip{i}"
            sub.mkdir()
            probed = probe_upload(Path(path), name, self.library.limits, sub)
            if probed.kind is not MediaKind.audio:
                raise InputError(f"'{name}' is {probed.kind.value}, not audio; a voice needs a recording of speech")
            out.append((Audio.read(probed.path), NewClip(probed.path, Path(name).name, probed.duration_s or 0.0,
                                                         {"sample_rate": probed.sample_rate})))
        return out

    def _transcriber(self):
        """The speech recogniser for reference clips (timed words), or None where it cannot run."""
        from engines import asr

        if not asr.available(self.settings).available:
            return None
        return lambda audio, language: asr.transcribe(audio, self.settings, language=language,
                                                      word_timestamps=True, beam_size=1)

    def _analyse(self, clips: list[tuple[Audio, str]], progress: ProgressFn):
        from engines.voice import clone, reference

        stages = Stages(progress, {"check": 1, "analyse": 4})
        stages.report("check", 0, "checking and cleaning the references")
        cleaned, reports = reference.prepare_all(clips)
        stages.report("analyse", 0, "analysing the voice")
        model = clone.analyse(cleaned, progress=lambda d, t, m="": stages.report("analyse", d / t if t else 0, m),
                              transcribe=self._transcriber())
        stages.report("analyse", 1, "done")
        stats = {**model.stats, "clips": [r.__dict__ for r in reports]}
        return model, np.asarray(model.reference_embedding, dtype=np.float64), stats

    def consent_prompt(self, speaker: str, actor: Actor = ANONYMOUS) -> dict:
        """A sentence for the speaker to read aloud (their name, consent, four random words), valid
        once, for the next 30 minutes, for this user only."""
        from engines.voice import consent

        text = consent.prompt_text(speaker, consent.random_words())
        row = self.profiles.new_prompt(speaker.strip(), text, actor)
        return {"prompt_id": row.id, "text": text, "speaker": row.speaker,
                "max_wer": consent.MAX_WER, "min_similarity": consent.MIN_SIMILARITY}

    def create_profile(self, name: str, files: list[tuple[Path, str]], consent: bool,
                       actor: Actor = ANONYMOUS, progress: ProgressFn = no_progress, *,
                       consent_recording: tuple[Path, str] | None = None, prompt_id: int | None = None,
                       attestation: str = ""):
        """A new profile from reference clips. With VOICE_CONSENT=spoken (the default) the speaker's
        reading of a consent prompt (`consent_recording`, `prompt_id` from consent_prompt) must say the
        prompt's words in the references' voice; where speech recognition cannot run, `attestation`
        (the prompt's sentence, typed) stands in and the profile is marked attested, not verified.
        With VOICE_CONSENT=attested, `consent=True` is the attestation."""
        from storage.voices import Consent

        if consent is not True:
            raise InputError("confirm that you have the speaker's consent to clone their voice")
        name = clean_name(name, "voice name")
        spoken = self.settings.voice_consent == "spoken"
        # A prompt given is checked in either mode: someone else's answers like one that does not exist.
        prompt = self.profiles.open_prompt(prompt_id, actor) if prompt_id not in (None, "") else None
        if spoken:
            if prompt_id in (None, ""):
                raise InputError("the speaker must read a consent sentence aloud: ask for one with /consent_prompt "
                                 "(the Voice tab shows it), record the speaker reading it and give that "
                                 "recording with its prompt_id")
            if consent_recording is None and not (attestation or "").strip():
                raise InputError("give the recording of the speaker reading the consent sentence "
                                 "(consent_recording)")
        work = self.library.store.new_scratch_dir("clips-")
        try:
            loaded = self._load_clips(files, work)
            record = None
            if spoken and consent_recording is not None:
                (rec_audio, rec_clip), = self._load_clips([consent_recording], work, first_index=len(files))
            model, emb, stats = self._analyse([(a, c.name) for a, c in loaded], progress)
            if not spoken:
                record = Consent("attested", {"how": "VOICE_CONSENT=attested: the user confirmed consent"})
            else:
                transcribe = self._transcriber()
                if consent_recording is not None and transcribe is not None:
                    from engines.voice import consent as consent_check

                    result = consent_check.check(rec_audio, prompt.text, emb,
                                                 lambda a, lang: transcribe(a, lang).text,
                                                 language="en")
                    self.library.log_event("voice_consent_check", actor, prompt_id=prompt.id, ok=result.ok,
                                           **{k: v for k, v in result.record().items() if k != "prompt"})
                    if not result.ok:
                        raise InputError(f"consent not confirmed: {result.reason()}")
                    record = Consent("spoken", result.record(), prompt.id, rec_clip)
                else:
                    typed = " ".join((attestation or "").split()).lower()
                    if transcribe is not None:
                        raise InputError("give the recording of the speaker reading the consent sentence "
                                         "(consent_recording); speech recognition is available to check it")
                    if typed != " ".join(prompt.text.split()).lower():
                        raise InputError("speech recognition cannot run on this server, so the consent cannot be "
                                         "heard: type the consent sentence exactly as shown (attestation)")
                    record = Consent("attested", {"prompt": prompt.text, "how": "typed: speech recognition "
                                                  "unavailable; attested, not verified"}, prompt.id)
            p = self.profiles.save(name=name, clips=[c for _, c in loaded], model=model.to_bytes(),
                                   base_voice=model.base_voice, stats=stats, embedding=emb.tolist(), actor=actor,
                                   consent=record)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        self.library.log_event("voice_consent", actor, profile_id=p.id, profile_name=p.name,
                               clips=[n for _, n in files], method=p.consent_method,
                               **{k: v for k, v in (p.consent or {}).items() if k in ("wer", "similarity")})
        return p

    def add_clips(self, ref: str, files: list[tuple[Path, str]], actor: Actor = ANONYMOUS,
                  progress: ProgressFn = no_progress):
        """Refine a profile with more clips: it is analysed again from all its references."""
        p = self.profiles.get(ref, actor)
        work = self.library.store.new_scratch_dir("clips-")
        try:
            loaded = self._load_clips(files, work)
            old = [(Audio.read(path), name) for path, name in self.profiles.reference_paths(p)]
            if len(old) + len(loaded) > MAX_REFERENCE_CLIPS:
                raise InputError(f"a profile holds at most {MAX_REFERENCE_CLIPS} clips; it has {len(old)}")
            model, emb, stats = self._analyse(old + [(a, c.name) for a, c in loaded], progress)
            return self.profiles.save(name=p.name, clips=[c for _, c in loaded], model=model.to_bytes(),
                                      base_voice=model.base_voice, stats=stats, embedding=emb.tolist(),
                                      actor=actor, profile_id=p.id)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    # ------------------------------------------------------------ speech

    def _record(self, kind: str, params: dict, result_fn, *, project_id, inputs=(), uploads=None, actor: Actor,
                progress: ProgressFn, cancel: CancelToken | None) -> tuple[Finished, SpeakResult]:
        def work(ctx: JobContext) -> JobResult:
            res: SpeakResult = result_fn(ctx)
            wav = res.audio.write(ctx.workdir / "speech.wav", subtype="PCM_16")
            takes = ctx.workdir / "takes.npz"
            takes.write_bytes(takes_to_bytes(res.takes))
            return JobResult(
                outputs=[
                    JobOutput(wav, MediaKind.audio, f"{kind}.wav", duration_s=round(res.audio.duration_s, 4),
                              sample_rate=res.audio.sample_rate, channels=res.audio.channels,
                              meta={"notes": res.notes}),
                    JobOutput(takes, MediaKind.other, f"{kind}-sentences.npz",
                              meta={"sentences": [t.text for t in res.takes]}),
                ],
                backend=res.backend, model=res.model, model_licence=res.licence,
                metrics={**res.metrics, "notes": res.notes}, returned=res,
            )

        done = self.jobs.run(kind=kind, params=params, work=work, project_id=project_id, inputs=list(inputs),
                             uploads=uploads, progress=progress, cancel=cancel, actor=actor)
        return done, done.returned

    def speak(self, text: str, voice: str = "default", style: str = "natural", backend: str = "auto",
              speed: float = 1.0, pitch_semitones: float = 0.0, project_id=None, *,
              effects: dict | None = None, actor: Actor = ANONYMOUS, progress: ProgressFn = no_progress,
              cancel: CancelToken | None = None) -> tuple[Finished, SpeakResult]:
        choice = self.resolve(voice, actor)
        req = SpeakRequest(text, choice, style, backend, float(speed), float(pitch_semitones), effects)
        from engines.voice.engine import check_request

        check_request(req, self.backends)
        params = {"text": text, "voice": voice, "style": style, "backend": backend, "speed": speed,
                  "pitch_semitones": pitch_semitones, "effects": effects or {}}
        return self._record("speak", params,
                            lambda ctx: speak(req, self.settings, ctx.progress, ctx.cancel, backends=self.backends),
                            project_id=project_id, actor=actor, progress=progress, cancel=cancel)

    def temporary_voice(self, ref_asset, actor: Actor, progress: ProgressFn = no_progress) -> VoiceChoice:
        """A voice cloned from one stored recording for this request only (no profile is kept); logged as a
        security event. The analysis of a recording is remembered for the next requests."""
        self.library.log_event("voice_clone_temporary", actor, asset_id=ref_asset.id, name=ref_asset.name)
        with self._lock:
            cached = self._one_shot.pop(ref_asset.sha256, None)
        notes: tuple[str, ...] = ()
        if cached is None:
            audio = Audio.read(self.library.asset_path(ref_asset))
            model, emb, _ = self._analyse([(audio, ref_asset.name)], progress)
        else:
            model, emb = cached
            notes = ("the voice of this recording was analysed before and reused",)
        with self._lock:
            self._one_shot[ref_asset.sha256] = (model, emb)
            while len(self._one_shot) > ONE_SHOT_CACHE:
                self._one_shot.pop(next(iter(self._one_shot)))
        return VoiceChoice("temporary clone", language=model.language, model=model, embedding=emb, notes=notes)

    def clone_voice(self, reference: tuple[Path, str], text: str, style: str = "natural", project_id=None, *,
                    actor: Actor = ANONYMOUS, progress: ProgressFn = no_progress,
                    cancel: CancelToken | None = None) -> tuple[Finished, SpeakResult]:
        """One call: analyse the clip as a temporary profile and speak the text in that voice."""
        from engines.voice.engine import check_request
        from engines.voice.styles import get_style
        from engines.voice.text import check_text

        check_text(text)
        get_style(style)
        self.library.check_project(project_id, actor)
        with self.library.stage(actor) as staged:
            ref = staged.add(reference, MediaKind.audio, "a voice needs a recording of speech")

            def run(ctx: JobContext) -> SpeakResult:
                choice = self.temporary_voice(ref.asset, actor,
                                              lambda d, t, m="": ctx.progress(0.4 * d / (t or 1), 1, m))
                req = check_request(SpeakRequest(text, choice, style)).request
                return speak(req, self.settings, lambda d, t, m="": ctx.progress(0.4 + 0.6 * d / (t or 1), 1, m),
                             ctx.cancel, backends=self.backends)

            # The reference asset's id is known once it is stored, with the generation.
            return self._record("clone_voice", {"text": text, "style": style}, run, project_id=project_id,
                                uploads=staged, actor=actor, progress=progress, cancel=cancel)

    def regenerate_sentence(self, generation_id: int, index: int, new_text: str | None = None, *,
                            actor: Actor = ANONYMOUS, progress: ProgressFn = no_progress
                            ) -> tuple[Finished, SpeakResult]:
        """Redo one sentence (1-based `index`) of an earlier speech; the rest is reused."""
        try:
            g, _, outs = self.library.get_generation(generation_id, "speak", actor)
        except NotFound:
            raise NotFound(f"there is no speech generation {generation_id}") from None
        takes_asset = next((a for a in outs if a.ext == ".npz"), None)
        if takes_asset is None:
            raise InputError(f"generation {generation_id} kept no sentences to regenerate")
        takes = takes_from_bytes(self.library.asset_path(takes_asset).read_bytes())
        p = g.params
        choice = self.resolve(p.get("voice"), actor)
        req = SpeakRequest(" ".join(t.text for t in takes), choice, p.get("style", "natural"),
                           p.get("backend", "auto"), float(p.get("speed", 1)), float(p.get("pitch_semitones", 0)),
                           p.get("effects") or None)
        idx = int(index) - 1
        from engines.voice.engine import check_regenerate

        check_regenerate(takes, idx, new_text)
        new_params = {**p, "regenerated_from": g.id, "sentence": int(index),
                      "text": " ".join((new_text if i == idx and new_text is not None else t.text)
                                       for i, t in enumerate(takes))}
        return self._record("speak", new_params,
                            lambda ctx: regenerate(takes, idx, req, self.settings, new_text, ctx.progress,
                                                   backends=self.backends),
                            project_id=g.project_id, inputs=[takes_asset.id], actor=actor, progress=progress,
                            cancel=None)
