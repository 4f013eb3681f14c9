"""Reference clips for voice cloning: checked (length, silence, speech rather than music)
and cleaned (silence trimmed, long pauses shortened, noise reduced, loudness normalised)."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np

from core.audio import Audio
from core.errors import InputError

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
# One clip: at least this long before cleaning, and at most this long (seconds).
MIN_CLIP_S = 1.0
MAX_CLIP_S = 120.0
# All clips of a profile together: at least this much speech after cleaning (seconds).
MIN_SPEECH_S = 3.0
# Loudness the cleaned reference is normalised to (LUFS).
REFERENCE_LUFS = -23.0
# Below this peak level (dBFS) a clip counts as silent.
SILENT_DBFS = -50.0
# Recordings below this sample rate (Hz), or with nothing above 4 kHz, are telephone quality: the
# clone would sound muffled.
MIN_SAMPLE_RATE = 16_000
# Speech holds energy at 4.5-7.5 kHz within about 20-40 dB of its 0.3-3.4 kHz band; a
# narrowband recording (re-sampled telephone audio) has less than this (dB).
MIN_HIGH_BAND_DB = -55.0

_HOP = 160  # 10 ms at 16 kHz


@dataclass(frozen=True)
class ClipReport:
    """What the checks measured on one clip (kept with the profile)."""

    name: str
    seconds: float
    speech_seconds: float
    voiced_fraction: float
    snr_db: float
    denoised: bool
    # What the speech-or-music check measured (engines.voice.speechcheck), for the record.
    speech_check: dict | None = None


def _frame_db(y: np.ndarray) -> np.ndarray:
    if len(y) < 400:
        return np.array([-120.0])
    frames = np.lib.stride_tricks.sliding_window_view(y, 400)[::_HOP]
    return 10 * np.log10((frames.astype(np.float64) ** 2).mean(axis=1) + 1e-12)


def _voiced_fraction(y: np.ndarray) -> float:
    """Voiced share of the active time (a figure kept with the profile)."""
    import pyworld

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f0, _ = pyworld.dio(y.astype(np.float64), SAMPLE_RATE, frame_period=10.0)
    db = _frame_db(y)
    active = max(int(np.sum(db > db.max() - 40)), 1)
    return min(float((f0[: len(db)] > 0).sum() / active), 1.0) if len(db) else 0.0


def _high_band_db(y: np.ndarray) -> float:
    """Energy at 4.5-7.5 kHz relative to 0.3-3.4 kHz over the louder frames (dB)."""
    if len(y) < 1024:
        return 0.0
    frames = np.lib.stride_tricks.sliding_window_view(y, 512)[::256] * np.hanning(512)
    spec = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    f = np.fft.rfftfreq(512, 1 / SAMPLE_RATE)
    power = spec.sum(axis=1)
    loud = power > np.percentile(power, 50)
    low = spec[loud][:, (f >= 300) & (f <= 3400)].sum()
    high = spec[loud][:, (f >= 4500) & (f <= 7500)].sum()
    return float(10 * np.log10((high + 1e-20) / (low + 1e-20)))


def prepare(clip: Audio, name: str = "reference") -> tuple[Audio, ClipReport]:
    """Check one clip and return it cleaned, mono at 16 kHz. Raises InputError saying what is wrong."""
    if clip.sample_rate < MIN_SAMPLE_RATE:
        raise InputError(
            f"'{name}' is recorded at {clip.sample_rate / 1000:g} kHz (telephone quality): a voice cloned from it "
            f"would sound muffled. Record at {MIN_SAMPLE_RATE // 1000} kHz or more (any phone or computer "
            "recording app does) and upload that file."
        )
    audio = clip.mono().resampled(SAMPLE_RATE)
    y = np.nan_to_num(audio.samples.astype(np.float32))
    seconds = len(y) / SAMPLE_RATE
    if seconds < MIN_CLIP_S:
        raise InputError(
            f"'{name}' is {seconds:.1f} s long; a reference needs at least {MIN_SPEECH_S:.0f} s of speech "
            f"(3 s to 2 min per clip works best)"
        )
    if seconds > MAX_CLIP_S:
        raise InputError(
            f"'{name}' is {seconds / 60:.1f} min long; reference clips may be at most {MAX_CLIP_S / 60:.0f} min. "
            "Cut a 10-60 s stretch of clear speech (several clips are welcome)."
        )
    peak_db = 20 * np.log10(float(np.max(np.abs(y))) + 1e-12)
    if peak_db < SILENT_DBFS:
        raise InputError(f"'{name}' is silent (peak {peak_db:.0f} dBFS); record the person speaking")

    y = _trim(y)
    high_db = _high_band_db(y)
    if high_db < MIN_HIGH_BAND_DB:
        raise InputError(
            f"'{name}' holds no sound above 4 kHz (telephone quality, {high_db:.0f} dB): a voice cloned from it "
            f"would sound muffled. Upload the original recording, made at {MIN_SAMPLE_RATE // 1000} kHz or more."
        )
    voiced_fraction = _voiced_fraction(y)
    if voiced_fraction < 0.05:
        raise InputError(f"'{name}' has no voiced speech (it sounds like noise); record the person speaking")
    from engines.voice.speechcheck import classify

    check = classify(y, SAMPLE_RATE)
    if not check["speech"]:
        raise InputError(
            f"'{name}' {check['reason']}. Upload the person speaking, without music; if this is speech, "
            "record it closer to the microphone, away from background music and noise."
        )

    snr = _snr_db(y)
    denoised = snr < 20.0  # only clearly noisy clips: denoising clean speech costs timbre
    if denoised:
        y = _denoise(y)
    y = _shorten_pauses(y)
    y = _normalise(y)
    speech_s = len(y) / SAMPLE_RATE
    report = ClipReport(name, round(seconds, 2), round(speech_s, 2), round(voiced_fraction, 3), round(snr, 1), denoised,
                        {k: v for k, v in check.items() if k != "reason"})
    return Audio(y.astype(np.float32), SAMPLE_RATE), report


def prepare_all(clips: list[tuple[Audio, str]]) -> tuple[list[Audio], list[ClipReport]]:
    if not clips:
        raise InputError("no reference audio was given; upload or record 3 s to 2 min of the person speaking")
    cleaned, reports = [], []
    for audio, name in clips:
        a, r = prepare(audio, name)
        cleaned.append(a)
        reports.append(r)
    total = sum(r.speech_seconds for r in reports)
    if total < MIN_SPEECH_S:
        raise InputError(
            f"the reference holds {total:.1f} s of speech after trimming silence; at least {MIN_SPEECH_S:.0f} s "
            "is needed (10-60 s gives a closer voice)"
        )
    return cleaned, reports


def _trim(y: np.ndarray) -> np.ndarray:
    db = _frame_db(y)
    on = np.flatnonzero(db > db.max() - 40)
    if len(on) == 0:
        return y
    start = max(0, on[0] * _HOP - int(0.05 * SAMPLE_RATE))
    end = min(len(y), on[-1] * _HOP + 400 + int(0.1 * SAMPLE_RATE))
    return y[start:end]


def _snr_db(y: np.ndarray) -> float:
    db = _frame_db(y)
    return float(np.percentile(db, 95) - np.percentile(db, 10))


def _denoise(y: np.ndarray) -> np.ndarray:
    import noisereduce

    return noisereduce.reduce_noise(y=y, sr=SAMPLE_RATE, stationary=True, prop_decrease=0.8).astype(np.float32)


def _shorten_pauses(y: np.ndarray, longest_s: float = 0.4, keep_s: float = 0.25) -> np.ndarray:
    """Pauses longer than `longest_s` become `keep_s`, so the profile is made of speech."""
    db = _frame_db(y)
    quiet = db < np.percentile(db, 95) - 35
    keep = np.ones(len(y), bool)
    edges = np.diff(np.concatenate([[0], quiet.astype(np.int8), [0]]))
    for s, e in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
        if (e - s) * 0.01 > longest_s:
            cut_from = s * _HOP + int(keep_s / 2 * SAMPLE_RATE)
            cut_to = e * _HOP - int(keep_s / 2 * SAMPLE_RATE)
            keep[cut_from:cut_to] = False
    return y[keep]


def _normalise(y: np.ndarray) -> np.ndarray:
    import pyloudnorm

    meter = pyloudnorm.Meter(SAMPLE_RATE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loudness = meter.integrated_loudness(y.astype(np.float64))
    if np.isfinite(loudness):
        y = y * (10 ** ((REFERENCE_LUFS - loudness) / 20))
    peak = float(np.max(np.abs(y)))
    return y / peak * 0.98 if peak > 0.98 else y
