"""Speech: text -> sentences -> a backend (or a cloned voice) -> joined with pauses ->
style -> effects and loudness -> evaluated.

Every sentence is kept as its own take, so one sentence can be regenerated (or edited
and regenerated) without redoing the rest. A caller that keeps sentences between requests (a
`SentenceMemory`) gets the unchanged ones back, spoken and checked, and only the others are spoken and
listened to again.
"""

from __future__ import annotations

import io
import json
import logging
import time
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np

from core.audio import Audio
from core.errors import BackendUnavailable, InputError
from core.progress import CancelToken, ProgressFn, no_progress
from engines.backend import Backends
from engines.checked import Checked
from engines.voice import styles
from engines.voice.backends.base import SpeechBackend, SpeechRequest
from engines.voice.evaluate import Heard, checked_count, evaluate, listen, unchecked, words_figures
from engines.voice.text import Chunk, check_text, split_text

log = logging.getLogger(__name__)

SPEED_RANGE = (0.5, 2.0)
PITCH_RANGE = (-12.0, 12.0)
# Every take is brought to this rate before joining.
SAMPLE_RATE = 24_000


@dataclass(frozen=True)
class VoiceChoice:
    """A resolved voice: a backend preset, or a cloned profile (which speaks through the embedded engine)."""

    # What the user sees: "default", "en-gb", "Grandma (profile 3)".
    label: str
    # A backend preset ("en-us+f2", "v2/en_speaker_6", "alloy"), or "" for the backend's default.
    preset: str = ""
    # The backend a preset belongs to; "" lets backend="auto" decide.
    backend: str = ""
    # Language for the text, e.g. "en-us".
    language: str = "en-us"
    # A cloned voice (engines.voice.clone.VoiceModel) and its reference embedding, or None.
    profile_id: int | None = None
    model: object | None = None
    embedding: np.ndarray | None = None
    # Things the user should know about this voice (e.g. it was rebuilt), passed into the result.
    notes: tuple[str, ...] = ()
    # Which state of the voice this is (a profile's last change), for results kept by content: speech kept
    # for a profile is not reused once the profile was refined or rebuilt.
    version: str = ""


@dataclass(frozen=True)
class SpeakRequest:
    text: str
    voice: VoiceChoice
    style: str = "natural"
    backend: str = "auto"
    # Speaking-rate multiplier (0.5 .. 2.0) and pitch change in semitones (-12 .. 12).
    speed: float = 1.0
    pitch_semitones: float = 0.0
    # Overrides of the style's effect chain (see effects.EffectSettings).
    effects: dict | None = None
    # Listen to the result with the speech recogniser and report its word error rate.
    check_words: bool = True


@dataclass
class Take:
    """One sentence as synthesised, before style and effects."""

    text: str
    pause: str
    audio: Audio


class SentenceMemory(Protocol):
    """Sentences spoken before, kept by the caller: a take is reused when the backend, the speaking rate, the
    text and the pause after it are the same (the caller's memory is for one voice)."""

    def recall(self, backend: str, rate: float, text: str, pause: str) -> tuple[Audio, str | None] | None:
        """(the take's audio, the words heard in it, or None if it was not listened to) or None."""

    def keep(self, backend: str, rate: float, take: Take, heard: str | None) -> None:
        """Keep a take made now, with the words heard in it (None: not listened to)."""


@dataclass
class SpeakResult:
    audio: Audio
    takes: list[Take]
    backend: str
    model: str
    licence: str
    # Things the user should know: fallbacks, substitutions.
    notes: list[str] = field(default_factory=list)
    metrics: dict = field(default_factory=dict)


def check_request(req: SpeakRequest, backends: Backends | None = None) -> Checked[SpeakRequest, None]:
    """InputError naming the field that is wrong; with `backends`, the backend's name is checked too."""
    check_text(req.text)
    styles.get_style(req.style)
    if backends is not None and (req.backend or "auto").strip().lower() != "auto":
        backends.get("voice", req.backend)  # an unknown name lists the choices
    lo, hi = SPEED_RANGE
    if not (lo <= float(req.speed) <= hi):
        raise InputError(f"speed must be between {lo} and {hi} (1.0 is normal); got {req.speed}")
    lo, hi = PITCH_RANGE
    if not (lo <= float(req.pitch_semitones) <= hi):
        raise InputError(f"pitch_semitones must be between {lo:.0f} and {hi:.0f}; got {req.pitch_semitones}")
    return Checked(req, None)


def choose_backend(req: SpeakRequest, settings, backends: Backends) -> tuple[str, list[str]]:
    """The backend to use and notes about the choice. Cloned voices always use the embedded engine."""
    notes: list[str] = []
    wanted = (req.backend or "auto").strip().lower()
    if req.voice.model is not None:
        if wanted not in ("auto", "embedded"):
            notes.append(f"cloned voices speak through the embedded engine; backend {wanted!r} was not used")
        return "embedded", notes
    if wanted == "auto":
        if req.voice.backend:
            wanted = req.voice.backend
        else:
            return _first_available(req, settings, backends), notes
    avail = backends.availability("voice", wanted, settings)  # an unknown name is an InputError
    if not avail.available:
        fallback = local_backend(req, settings, backends)
        notes.append(f"{wanted} is not available ({avail.reason}); used {fallback} instead")
        return fallback, notes
    return wanted, notes


def _first_available(req: SpeakRequest, settings, backends: Backends, names=None) -> str:
    found = backends.first_available("voice", settings, lambda b: b.supports(req.voice.language), names)
    return found.name if found is not None else "embedded"


def local_backend(req: SpeakRequest, settings, backends: Backends) -> str:
    """The backend that needs nothing downloaded for the request's language: Piper for English,
    else espeak-ng ("embedded")."""
    local = [b.name for b in backends.of("voice") if b.tier == "embedded"]
    return _first_available(req, settings, backends, local)


def _trim_edges(audio: Audio, floor_db: float = -45.0) -> Audio:
    y = audio.samples
    if len(y) == 0:
        return audio
    hop = max(1, audio.sample_rate // 100)
    env = np.array([np.abs(y[i:i + hop]).max() for i in range(0, len(y), hop)])
    on = np.flatnonzero(20 * np.log10(env + 1e-9) > 20 * np.log10(env.max() + 1e-9) + floor_db)
    if len(on) == 0:
        return audio
    start, end = max(0, on[0] * hop - hop), min(len(y), (on[-1] + 2) * hop)
    return Audio(y[start:end], audio.sample_rate)


def _synthesize_take(chunk: Chunk, req: SpeakRequest, backend: SpeechBackend, settings, rate: float) -> Audio:
    if req.voice.model is not None:
        from engines.voice import clone

        audio = clone.speak_as(chunk.text, req.voice.model, speed=rate, language=req.voice.language)
    else:
        preset = req.voice.preset if (req.voice.backend in ("", backend.name)) else ""
        audio = backend.synthesize(
            SpeechRequest(chunk.text, language=req.voice.language, preset=preset, speed=rate), settings)
    audio = _trim_edges(audio.mono()).resampled(SAMPLE_RATE)
    if audio.duration_s <= 0.01:
        raise BackendUnavailable(f"{backend.name} returned no audio for: {chunk.text[:60]!r}")
    return audio


# A short breath of silence at both ends of spoken text, so players do not clip the first syllable, s.
EDGE_S = 0.12


def join_takes(takes: list[Take]) -> Audio:
    parts = []
    for i, t in enumerate(takes):
        parts.append(t.audio)
        if i < len(takes) - 1:
            parts.append(Audio.silence(Chunk(t.text, t.pause).pause_s, SAMPLE_RATE))
    edge = Audio.silence(EDGE_S, SAMPLE_RATE)
    return Audio.concat([edge, *parts, edge])


def take_spans(takes: list[Take]) -> list[tuple[float, float]]:
    """Where each take (sentence) lies in `join_takes(takes)`: (start, end) in seconds."""
    spans, t = [], EDGE_S
    for i, take in enumerate(takes):
        spans.append((t, t + take.audio.duration_s))
        t += take.audio.duration_s
        if i < len(takes) - 1:
            t += len(Audio.silence(Chunk(take.text, take.pause).pause_s, SAMPLE_RATE).samples) / SAMPLE_RATE
    return spans


def finish(takes: list[Take], req: SpeakRequest, settings=None) -> tuple[Audio, dict]:
    style = styles.get_style(req.style)
    audio = styles.apply_style(join_takes(takes), style, extra_semitones=float(req.pitch_semitones),
                               effect_overrides=req.effects)
    metrics = evaluate(audio, req.voice.embedding)
    if req.check_words and settings is not None:
        metrics.update(words_figures(takes, _language_code(req), settings))
    return audio, metrics


def _language_code(req: SpeakRequest) -> str:
    model = req.voice.model
    if model is not None and getattr(model, "language", None):
        return model.language
    return (req.voice.language or "en").split("-")[0].split("+")[0]


def _model_label(req: SpeakRequest, backend: SpeechBackend, settings) -> tuple[str, str]:
    """(model, licence) as stored with the generation: what the backend reports."""
    model = req.voice.model
    if model is None:
        made_by = backend.provenance(settings)
        return made_by.model, made_by.licence
    from engines.voice import clone

    source = clone.source_for(model, req.voice.language)
    if source == clone.PIPER_SOURCE:
        from engines.voice import piper

        voice = piper.find_voice()
        name = voice.name if voice else piper.DEFAULT_VOICE
        return (f"Piper {name} + WORLD voice conversion",
                piper.LICENCES.get(name, "see the voice's MODEL_CARD"))
    return f"espeak-ng ({source}) + WORLD voice conversion", backend.provenance(settings).licence


def speak(req: SpeakRequest, settings, progress: ProgressFn = no_progress,
          cancel: CancelToken | None = None, *, backends: Backends,
          memory: SentenceMemory | None = None) -> SpeakResult:
    """Speak the whole text with a backend of `backends`. Falls back to the embedded engine when
    a backend cannot run. With `memory`, sentences spoken before (same backend, rate, text and pause) are
    taken from it with the words heard in them, and the new ones are kept in it."""
    check_request(req)
    cancel = cancel or CancelToken()
    chunks = split_text(req.text)
    backend_name, notes = choose_backend(req, settings, backends)
    style = styles.get_style(req.style)
    rate = float(req.speed) * style.rate
    t0 = time.perf_counter()
    total = len(chunks) + 1
    known: dict[int, str | None] = {}
    try:
        takes = _all_takes(chunks, req, backends.get("voice", backend_name), settings, rate, progress, cancel, total,
                           memory, backend_name, known)
    except BackendUnavailable as e:
        fallback = local_backend(req, settings, backends)
        if fallback == backend_name:
            fallback = "embedded"
        if backend_name == "embedded":
            raise
        notes.append(f"{backend_name} failed ({e}); used {fallback} instead")
        backend_name = fallback
        known = {}
        takes = _all_takes(chunks, req, backends.get("voice", backend_name), settings, rate, progress, cancel, total,
                           memory, backend_name, known)
    words, listening_s, heard = {}, 0.0, {}
    if req.check_words:
        progress(len(chunks), total, "listening to the words")
        cancel.raise_if_set()
        takes, words, listening_s, heard = _listen_and_retake(takes, req, backends.get("voice", backend_name),
                                                              settings, rate, cancel, known)
    if memory is not None:
        for i, take in enumerate(takes):
            if known.get(i) is None:  # made now, or recalled without its words (heard now, or retaken)
                memory.keep(backend_name, rate, take, heard.get(i))
    progress(len(chunks) + 0.5, total, "style, effects and loudness")
    cancel.raise_if_set()
    audio, metrics = finish(takes, replace(req, check_words=False))
    metrics["seconds_to_render"] = round(time.perf_counter() - t0 - listening_s, 3)
    metrics["real_time_factor"] = round(metrics["seconds_to_render"] / max(audio.duration_s, 1e-6), 4)
    metrics["sentences"] = len(takes)
    metrics.update(words)
    progress(total, total, "done")
    model, licence = _model_label(req, backends.get("voice", backend_name), settings)
    return SpeakResult(audio, takes, backend_name, model, licence, [*req.voice.notes, *notes], metrics)


# A sentence the recogniser hears with more word errors than this is spoken again (at most
# RETAKES more times, when the voice varies from take to take: Piper, cloned voices on Piper); the
# best take is kept.
RETAKE_WER = 0.2
RETAKES = 2


def _takes_vary(req: SpeakRequest, backend: SpeechBackend) -> bool:
    if req.voice.model is not None:
        from engines.voice import clone

        return clone.source_for(req.voice.model, req.voice.language) == clone.PIPER_SOURCE
    return backend.varies


def _hear(takes: list[Take], known: dict[int, str | None], language: str, settings) -> Heard:
    """What the recogniser hears in the checked takes; takes recalled with their words are not listened to
    again, the others are, in one pass."""
    window = checked_count(takes)
    fresh = [i for i in range(window) if known.get(i) is None]
    got = dict(zip(fresh, listen([takes[i] for i in fresh], language, settings, limit_s=float("inf")).heard)) \
        if fresh else {}
    return Heard([t.text for t in takes[:window]], [got[i] if i in got else known[i] for i in range(window)],
                 sum(t.audio.duration_s for t in takes[:window]))


def _listen_and_retake(takes: list[Take], req: SpeakRequest, backend: SpeechBackend, settings, rate: float,
                       cancel: CancelToken, known: dict[int, str | None] | None = None,
                       ) -> tuple[list[Take], dict, float, dict[int, str]]:
    """Check the words of the first sentences; speak again those heard wrongly (when another take
    can differ; not those recalled from a memory, which had their chance when made). Returns the takes, the
    word figures, the seconds spent listening, and the words heard per take index. A take recalled without its
    words (made while the recogniser could not run, or beyond the checked start) is heard now, and retaken like
    a new one."""
    known = {i: h for i, h in (known or {}).items() if h is not None}
    language = _language_code(req)
    t0 = time.perf_counter()
    try:
        heard = _hear(takes, known, language, settings)
    except (BackendUnavailable, ValueError) as e:
        return takes, unchecked(e), time.perf_counter() - t0, {}
    listening = time.perf_counter() - t0
    rates = heard.take_error_rates()
    words = dict(enumerate(heard.heard))
    if not any(r > RETAKE_WER for i, r in enumerate(rates) if i not in known) or not _takes_vary(req, backend):
        return takes, heard.figures(), listening, words
    takes, retakes = list(takes), 0
    for _ in range(RETAKES):
        bad = [i for i, r in enumerate(rates) if r > RETAKE_WER and i not in known]
        if not bad:
            break
        cancel.raise_if_set()
        again = [Take(takes[i].text, takes[i].pause,
                      _synthesize_take(Chunk(takes[i].text, takes[i].pause), req, backend, settings, rate))
                 for i in bad]
        retakes += len(again)
        cancel.raise_if_set()
        t1 = time.perf_counter()
        second = listen(again, language, settings, limit_s=float("inf"))
        listening += time.perf_counter() - t1
        for i, take, r, h in zip(bad, again, second.take_error_rates(), second.heard):
            if r < rates[i]:
                takes[i], heard.heard[i], rates[i] = take, h, r
    return takes, {**heard.figures(), "retakes": retakes}, listening, dict(enumerate(heard.heard))


def _all_takes(chunks, req, backend, settings, rate, progress, cancel, total, memory: SentenceMemory | None = None,
               backend_name: str = "", known: dict[int, str | None] | None = None) -> list[Take]:
    """A take per sentence: recalled from `memory` (its index and the words heard in it go into `known`) or
    synthesised now."""
    takes = []
    for i, chunk in enumerate(chunks):
        cancel.raise_if_set()
        kept = memory.recall(backend_name, rate, chunk.text, chunk.pause) if memory is not None else None
        if kept is not None:
            takes.append(Take(chunk.text, chunk.pause, kept[0]))
            if known is not None:
                known[i] = kept[1]
            continue
        progress(i, total, f"sentence {i + 1} of {len(chunks)}")
        takes.append(Take(chunk.text, chunk.pause, _synthesize_take(chunk, req, backend, settings, rate)))
    return takes


def regenerate(takes: list[Take], index: int, req: SpeakRequest, settings, new_text: str | None = None,
               progress: ProgressFn = no_progress, *, backends: Backends) -> SpeakResult:
    """Synthesise sentence `index` again (with `new_text` if given); the other takes are reused."""
    text = check_regenerate(takes, index, new_text)
    req = check_request(replace(req, text=" ".join(t.text for t in takes))).request
    backend_name, notes = choose_backend(req, settings, backends)
    backend = backends.get("voice", backend_name)
    rate = float(req.speed) * styles.get_style(req.style).rate
    progress(0, 2, f"sentence {index + 1}")
    new = list(takes)
    new[index] = Take(text, takes[index].pause,
                      _synthesize_take(Chunk(text, takes[index].pause), req, backend, settings, rate))
    progress(1, 2, "style, effects and loudness")
    audio, metrics = finish(new, replace(req, text=" ".join(t.text for t in new)), settings)
    metrics["sentences"] = len(new)
    progress(2, 2, "done")
    model, licence = _model_label(req, backend, settings)
    return SpeakResult(audio, new, backend_name, model, licence, [*req.voice.notes, *notes], metrics)


def check_regenerate(takes: list[Take], index: int, new_text: str | None = None) -> str:
    """The text sentence `index` (0-based) is spoken again with; InputError for a sentence that does not
    exist or an unusable text."""
    if not 0 <= index < len(takes):
        raise InputError(f"there is no sentence {index + 1}; this speech has {len(takes)} sentences")
    text = (new_text if new_text is not None else takes[index].text).strip()
    check_text(text)
    return text


def takes_to_bytes(takes: list[Take]) -> bytes:
    """Takes as an .npz (no pickle): audio arrays plus a JSON index of texts and pauses."""
    buf = io.BytesIO()
    arrays = {f"take{i}": t.audio.samples.astype(np.float32) for i, t in enumerate(takes)}
    index = [{"text": t.text, "pause": t.pause, "rate": t.audio.sample_rate} for t in takes]
    np.savez_compressed(buf, index=np.frombuffer(json.dumps(index).encode(), dtype=np.uint8), **arrays)
    return buf.getvalue()


def takes_from_bytes(data: bytes) -> list[Take]:
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        index = json.loads(bytes(z["index"]).decode())
        return [Take(d["text"], d["pause"], Audio(z[f"take{i}"], int(d["rate"]))) for i, d in enumerate(index)]
