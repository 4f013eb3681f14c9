"""Music beds: an instrumental to play under speech, and the ducking that keeps it under the voice.

    bed = make_bed(BedRequest(music_style="emotional", duration_s=62))     # mastered stereo, 44.1 kHz
    track = under_voice(voice, bed)                                         # voice + ducked bed, mastered

`make_bed` composes and renders the style's arrangement with no vocal line (the same composer and
FluidSynth stems as songs) and mixes it. `duck` is a sidechain: the voice's loudness envelope (fast
attack, slow release) turns the bed down by `depth_db` wherever the voice speaks and back up in its
pauses; `under_voice` sets the bed's level under the voice, ducks it, adds them and masters the sum to a
speech loudness (-16 LUFS, true peak -1 dBTP).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from core.audio import Audio
from core.errors import InputError
from core.progress import CancelToken, ProgressFn, no_progress

# Sample rate of beds and of what under_voice returns.
SAMPLE_RATE = 44_100
# How far the bed goes down under the voice, dB.
DUCK_DB = 18.0
# The bed's level where nobody speaks, relative to the voice's loudness, dB (a bed, not a song).
BED_LEVEL_DB = -6.0
# The sidechain's envelope: how fast it goes down when the voice starts and back up after it stops, s.
ATTACK_S, RELEASE_S = 0.04, 0.35
# A frame of the voice counts as speech above this level relative to the voice's loud frames, dB.
SPEECH_GATE_DB = -30.0
# The sidechain looks this far ahead, so the bed is already down when the first syllable starts, s.
LOOKAHEAD_S = 0.05
# Loudness of a voice-over with its bed (speech platforms: -16 LUFS), and its true-peak ceiling.
TARGET_LUFS, CEILING_DBTP = -16.0, -1.0
# The bed fades out over its last seconds.
FADE_OUT_S = 2.0
_FRAME_S = 0.01


@dataclass(frozen=True)
class BedRequest:
    music_style: str = "emotional"
    # Length, seconds.
    duration_s: float = 60.0
    # Tempo in beats per minute; 0 = the style's default.
    bpm: float = 0.0
    seed: int = 0


def make_bed(req: BedRequest, progress: ProgressFn = no_progress, cancel: CancelToken | None = None) -> Audio:
    """The style's instrumental, `duration_s` long, mastered, fading out at the end."""
    from engines.music.compose import compose
    from engines.music.lyrics import Lyrics, Section
    from engines.music.mix import default_mix, mix
    from engines.music.render import render_stems
    from engines.music.song import DURATION_RANGE_S
    from engines.music.styles import get_style

    style = get_style(req.music_style)
    lo, hi = DURATION_RANGE_S
    if not (math.isfinite(float(req.duration_s)) and 1.0 <= float(req.duration_s) <= hi):
        raise InputError(f"a music bed is 1 to {hi:g} s long; got {req.duration_s}")
    length = max(float(req.duration_s), lo)
    progress(0, 3, "composing the music bed")
    # Wordless sections give the arrangement its shape (verse, chorus ...); nothing is sung.
    lyrics = Lyrics(tuple(Section(kind, ("la la la la",) * 4) for kind in ("verse", "chorus", "verse", "chorus")))
    composition = compose(lyrics, style, length, float(req.bpm) or style.bpm, req.seed)
    if cancel is not None:
        cancel.raise_if_set()
    progress(1, 3, "playing the music bed")
    stems = {k: v for k, v in render_stems(composition, cancel=cancel).items() if k != "vocals"}
    if cancel is not None:
        cancel.raise_if_set()
    progress(2, 3, "mixing the music bed")
    out = mix(stems, default_mix(style.name, list(stems))).audio
    progress(3, 3, "music bed ready")
    return fit_bed(out, float(req.duration_s))


def fit_bed(bed: Audio, duration_s: float, fade_s: float = FADE_OUT_S) -> Audio:
    """The bed cut (or padded with silence) to `duration_s`, fading out over its last `fade_s`."""
    n = int(round(float(duration_s) * bed.sample_rate))
    y = np.zeros((n,) + bed.samples.shape[1:], np.float32)
    m = min(n, len(bed.samples))
    y[:m] = bed.samples[:m]
    fade = min(m, int(fade_s * bed.sample_rate))
    if fade:
        ramp = np.linspace(1.0, 0.0, fade, dtype=np.float32)
        y[m - fade:m] *= ramp[:, None] if y.ndim == 2 else ramp
    return Audio(y, bed.sample_rate)


def _stereo(a: Audio, rate: int) -> np.ndarray:
    a = a.resampled(rate) if a.sample_rate != rate else a
    y = np.asarray(a.samples, dtype=np.float32)
    return np.repeat(y[:, None], 2, axis=1) if y.ndim == 1 else y[:, :2]


def _frames_db(y: np.ndarray, rate: int) -> np.ndarray:
    """Level of each 10 ms frame, dB of RMS (mono)."""
    mono = y.mean(axis=1) if y.ndim == 2 else y
    hop = int(rate * _FRAME_S)
    n = len(mono) // hop
    if n == 0:
        return np.full(1, -120.0)
    rms = np.sqrt(np.mean(mono[:n * hop].reshape(n, hop) ** 2, axis=1) + 1e-12)
    return 20 * np.log10(rms)


def speech_mask(voice: Audio) -> tuple[np.ndarray, float]:
    """Per 10 ms frame, True where the voice speaks; and the frame length in seconds."""
    db = _frames_db(np.asarray(voice.samples, dtype=np.float32), voice.sample_rate)
    loud = np.percentile(db, 95) if len(db) else -120.0
    return db > loud + SPEECH_GATE_DB, _FRAME_S


def duck(bed: Audio, voice: Audio, depth_db: float = DUCK_DB) -> Audio:
    """The bed turned down by `depth_db` where the voice speaks (same rate and length as the bed)."""
    rate = bed.sample_rate
    y = _stereo(bed, rate)
    active, frame_s = speech_mask(voice)
    ahead = int(round(LOOKAHEAD_S / frame_s))
    if ahead:
        active = np.concatenate([active[ahead:], np.zeros(ahead, bool)]) | active
    # Target gain per frame, smoothed by a one-pole attack/release follower.
    target = np.where(active, -float(depth_db), 0.0)
    a_att, a_rel = math.exp(-frame_s / ATTACK_S), math.exp(-frame_s / RELEASE_S)
    g = np.empty_like(target)
    cur = 0.0
    for i, t in enumerate(target):
        coef = a_att if t < cur else a_rel
        cur = coef * cur + (1 - coef) * t
        g[i] = cur
    # Frame gains to samples (linear interpolation), the bed beyond the voice's end at full level.
    times = (np.arange(len(g)) + 0.5) * frame_s
    t_s = np.arange(len(y)) / rate
    gain_db = np.interp(t_s, times, g, left=g[0] if len(g) else 0.0, right=0.0)
    return Audio((y * (10 ** (gain_db / 20))[:, None]).astype(np.float32), rate)


@dataclass(frozen=True)
class VoiceOver:
    """A voice with its bed: the mastered mix, and the voice and the (ducked) bed at the levels they have in it
    (before the limiter's few-dB peak control)."""

    mix: Audio
    voice: Audio
    music: Audio | None


def under_voice(voice: Audio, bed: Audio | None, depth_db: float = DUCK_DB,
                bed_level_db: float = BED_LEVEL_DB) -> VoiceOver:
    """The voice with the bed under it (ducked by `depth_db` while it speaks), mastered to TARGET_LUFS;
    as long as the voice. Without a bed, the voice alone, mastered the same way."""
    from engines.music.mix import loudness_lufs, master

    rate = SAMPLE_RATE
    v = _stereo(voice, rate)
    n = len(v)
    b = None
    if bed is not None:
        b = _stereo(bed, rate)[:n]
        if len(b) < n:
            b = np.pad(b, ((0, n - len(b)), (0, 0)))
        v_lufs, b_lufs = loudness_lufs(v), loudness_lufs(b)
        if math.isfinite(v_lufs) and math.isfinite(b_lufs):
            b = b * np.float32(10 ** ((v_lufs + bed_level_db - b_lufs) / 20))
        b = duck(Audio(b, rate), Audio(v, rate), depth_db).samples
    total = v + b if b is not None else v
    out, _, _ = master(total, TARGET_LUFS, CEILING_DBTP)
    out = np.asarray(out, dtype=np.float32)
    # The gain the master gave the sum (its limiter only shaves peaks), applied to each part.
    ref = float(np.sqrt(np.mean(total.astype(np.float64) ** 2)))
    gain = np.float32(float(np.sqrt(np.mean(out.astype(np.float64) ** 2))) / ref) if ref > 0 else np.float32(1)
    return VoiceOver(Audio(out, rate), Audio((v * gain).astype(np.float32), rate),
                     Audio((b * gain).astype(np.float32), rate) if b is not None else None)
